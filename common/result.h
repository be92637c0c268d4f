// A value or an error message, for factories and parsers that can fail.
// Library code returns these and leaves logging to the caller.
#ifndef ZSP_COMMON_RESULT_H_
#define ZSP_COMMON_RESULT_H_

#include <string>
#include <utility>
#include <variant>

namespace zsp {

struct Error {
  std::string message;
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, Error> v_;
};

}  // namespace zsp

#endif  // ZSP_COMMON_RESULT_H_

// Typed reading of the fields of a JSON request body. The first problem is
// kept as "FIELD: what is wrong", for a 400 invalid_request message.
#ifndef ZSP_BROKER_FIELDS_H_
#define ZSP_BROKER_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace zsp::broker {

class FieldReader {
 public:
  // body must be a JSON object and outlive the reader.
  explicit FieldReader(const nlohmann::json& body) : body_(body) {}

  // Records an error for any field not named in known.
  void RejectUnknown(std::initializer_list<const char*> known);

  // Absent or null fields give nullopt; a field of another type is an
  // error. Strings must be valid UTF-8, which the JSON parser ensures.
  std::optional<std::string> String(const char* name);
  std::optional<int64_t> Integer(const char* name);
  std::optional<std::vector<std::string>> StringArray(const char* name,
                                                      size_t max_entries);

  // Records "name: problem" unless an error is already recorded.
  void Fail(const char* name, const std::string& problem);

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  const nlohmann::json* Find(const char* name) const;

  const nlohmann::json& body_;
  std::string error_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_FIELDS_H_

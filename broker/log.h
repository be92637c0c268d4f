// The broker's operator log: one line per state change, decision and
// rejected call, on stderr. Each line is an outcome word followed by
// key=value fields; every value is escaped and capped, so that names, hosts
// and argv from callers cannot forge lines. Tokens are never passed here.
#ifndef ZSP_BROKER_LOG_H_
#define ZSP_BROKER_LOG_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zsp::broker {

// Longest logged value before escaping adds to it, in bytes of output.
inline constexpr size_t kMaxLogValueBytes = 256;

using LogFields = std::vector<std::pair<std::string, std::string>>;

// Formats one line without the newline. A value that is empty or contains
// a space or '"' is shown in double quotes, with '"' as \x22.
std::string FormatLogLine(std::string_view outcome, const LogFields& fields);

// Writes FormatLogLine to stderr as one write, safe from several threads.
// While a ScopedRequestId is alive on the calling thread, the line ends
// with its request_id field.
void LogEvent(std::string_view outcome, const LogFields& fields);

// Tags every LogEvent line of the calling thread with request_id=ID until
// it goes out of scope. The HTTPS server sets one per API call.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string id);
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;
  ~ScopedRequestId();

 private:
  std::string previous_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_LOG_H_

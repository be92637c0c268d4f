#include "agent/log.h"

#include <unistd.h>

#include "common/escape.h"

namespace zsp::agent {

void Log(int priority, std::string_view outcome, const LogFields& fields) {
  std::string line = "<" + std::to_string(priority) + ">" +
                     std::string(outcome);
  for (const auto& [key, value] : fields) {
    std::string escaped;
    for (char c : EscapeForLog(value, 512)) {
      if (c == '"') {
        escaped += "\\x22";
      } else {
        escaped += c;
      }
    }
    bool quote = escaped.empty() || escaped.find(' ') != std::string::npos;
    line += " " + key + "=" + (quote ? "\"" + escaped + "\"" : escaped);
  }
  line += "\n";
  // One write per line keeps lines from two threads apart; a failed write
  // to stderr has nowhere else to go.
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace zsp::agent

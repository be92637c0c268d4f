#include "broker/log.h"

#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "common/escape.h"

namespace zsp::broker {
namespace {

// The request id of the API call this thread serves, or "".
thread_local std::string current_request_id;

std::string FormatValue(std::string_view value) {
  std::string escaped = EscapeForLog(value, kMaxLogValueBytes);
  bool quote =
      escaped.empty() || escaped.find_first_of(" \"") != std::string::npos;
  if (!quote) return escaped;
  std::string quoted = "\"";
  for (char c : escaped) {
    if (c == '"') {
      quoted += "\\x22";
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::string FormatLogLine(std::string_view outcome, const LogFields& fields) {
  std::string line(outcome);
  for (const auto& [key, value] : fields) {
    line += ' ';
    line += key;
    line += '=';
    line += FormatValue(value);
  }
  return line;
}

void LogEvent(std::string_view outcome, const LogFields& fields) {
  static std::mutex mutex;
  std::string line = FormatLogLine(outcome, fields);
  if (!current_request_id.empty()) {
    line += " request_id=" + FormatValue(current_request_id);
  }
  line += "\n";
  std::lock_guard<std::mutex> lock(mutex);
  WriteAll(STDERR_FILENO, line);
}

ScopedRequestId::ScopedRequestId(std::string id)
    : previous_(std::exchange(current_request_id, std::move(id))) {}

ScopedRequestId::~ScopedRequestId() {
  current_request_id = std::move(previous_);
}

}  // namespace zsp::broker

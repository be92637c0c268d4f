#include "agent/logind.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "agent/bus_error.h"
#include "common/handles.h"

namespace zsp::agent {
namespace {

constexpr char kDestination[] = "org.freedesktop.login1";
constexpr char kPath[] = "/org/freedesktop/login1";
constexpr char kManager[] = "org.freedesktop.login1.Manager";
constexpr char kSession[] = "org.freedesktop.login1.Session";
constexpr char kSessionPathPrefix[] = "/org/freedesktop/login1/session";
// Timeout of each logind call, in microseconds. A lookup makes three
// calls while a login waits for its placement, within the module's
// timeout_ms (zsp.conf).
// NOTE: chosen, not measured against a loaded real logind.
constexpr uint64_t kCallTimeoutUsec = 300'000;
constexpr size_t kMaxSessionIdBytes = 64;

// True when the failure means that no process owns logind's name on the
// bus, or that the bus connection itself is gone.
bool IsUnavailable(int r, const BusError& bus_error) {
  if (sd_bus_error_is_set(&bus_error.error)) {
    return sd_bus_error_has_name(&bus_error.error,
                                 SD_BUS_ERROR_SERVICE_UNKNOWN) ||
           sd_bus_error_has_name(&bus_error.error,
                                 SD_BUS_ERROR_NAME_HAS_NO_OWNER);
  }
  return r == -ENOTCONN || r == -ECONNRESET || r == -ENOENT ||
         r == -ECONNREFUSED;
}

std::string Unavailable(const std::string& detail) {
  return "logind (org.freedesktop.login1) is not available on the system "
         "bus: " + detail;
}

// True once the process behind pidfd has exited.
bool HasExited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

// Sorts a failed session call into SessionCall and its message.
SessionCall Classify(const char* method, int r, const BusError& bus_error,
                     std::string* error) {
  *error = BusCallFailed("logind", method, r, bus_error);
  if (sd_bus_error_has_name(&bus_error.error,
                            "org.freedesktop.login1.NoSuchSession")) {
    return SessionCall::kGone;
  }
  if (IsUnavailable(r, bus_error)) {
    *error = Unavailable(*error);
    return SessionCall::kUnavailable;
  }
  return SessionCall::kFailed;
}

// The "0::" line of /proc/PID/cgroup, without the prefix; "" if unknown.
std::string CgroupOf(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/cgroup";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "";
  char buffer[4096];
  ssize_t n = read(fd.get(), buffer, sizeof buffer);
  if (n <= 0) return "";
  std::string_view text(buffer, static_cast<size_t>(n));
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
    start = end + 1;
  }
  return "";
}

}  // namespace

std::string SessionScopeOf(std::string_view cgroup, std::string_view id) {
  std::string suffix = "/session-" + std::string(id) + ".scope";
  if (!IsSessionId(id) || cgroup.size() <= suffix.size() ||
      cgroup.substr(cgroup.size() - suffix.size()) != suffix) {
    return "";
  }
  return std::string(cgroup);
}

Result<uint64_t> ParseStartTime(std::string_view stat) {
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos) {
    return Error{"no \")\" in /proc/PID/stat"};
  }
  // After ") " come field 3 (state) onwards; the start time is field 22.
  std::string_view rest = stat.substr(close + 1);
  int field = 2;
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t end = rest.find(' ', i);
    if (end == std::string_view::npos) end = rest.size();
    if (i == end) break;
    if (++field == 22) {
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(rest.data() + i, rest.data() + end,
                                       value);
      if (ec != std::errc() || ptr != rest.data() + end) break;
      return value;
    }
    i = end;
  }
  return Error{"no start time in /proc/PID/stat"};
}

Result<ProcessRef> ReferToProcess(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Error{"cannot open " + path + ": " + strerror(errno)};
  }
  char buffer[1024];
  ssize_t n = read(fd.get(), buffer, sizeof buffer);
  if (n <= 0) return Error{"cannot read " + path};
  auto start = ParseStartTime(std::string_view(buffer, n));
  if (!start.ok()) return Error{start.error()};
  return ProcessRef{pid, start.value()};
}

bool IsSessionId(std::string_view id) {
  if (id.empty() || id.size() > kMaxSessionIdBytes) return false;
  for (char c : id) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

Result<std::string> SessionIdOfPath(std::string_view path) {
  std::string text(path);
  char* decoded = nullptr;
  int r = sd_bus_path_decode(text.c_str(), kSessionPathPrefix, &decoded);
  std::string id = decoded != nullptr ? decoded : "";
  free(decoded);
  if (r <= 0 || !IsSessionId(id)) {
    return Error{"\"" + text.substr(0, 128) +
                 "\" is not a logind session object path"};
  }
  return id;
}

LogindManager::~LogindManager() { sd_bus_flush_close_unref(bus_); }

bool LogindManager::EnsureConnected(std::string* error) {
  int r = ReopenSystemBus(&bus_, kCallTimeoutUsec);
  if (r < 0) {
    *error = Unavailable(std::string("cannot connect to the system bus: ") +
                         strerror(-r));
    return false;
  }
  return true;
}

SessionLookup LogindManager::FindSessionLedBy(const ProcessRef& process) {
  SessionLookup out;
  // The pidfd pins the process: while it has not exited, its pid cannot
  // name another process, so the reply below is about this one.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, process.pid, 0)));
  if (pidfd.get() < 0) return out;
  auto now = ReferToProcess(process.pid);
  if (!now.ok() || now.value().start_time != process.start_time) return out;
  if (!EnsureConnected(&out.error)) {
    out.status = LookupStatus::kUnavailable;
    return out;
  }

  BusError bus_error;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_call_method(bus_, kDestination, kPath, kManager,
                             "GetSessionByPID", &bus_error.error, &reply, "u",
                             static_cast<uint32_t>(process.pid));
  const char* path = nullptr;
  if (r >= 0) r = sd_bus_message_read(reply, "o", &path);
  std::string object_path = r >= 0 && path != nullptr ? path : "";
  sd_bus_message_unref(reply);
  if (r < 0) {
    if (sd_bus_error_has_name(&bus_error.error,
                              "org.freedesktop.login1.NoSessionForPID")) {
      return out;
    }
    out.error = BusCallFailed("logind", "GetSessionByPID", r, bus_error);
    out.status = IsUnavailable(r, bus_error) ? LookupStatus::kUnavailable
                                             : LookupStatus::kFailed;
    if (out.status == LookupStatus::kUnavailable) {
      out.error = Unavailable(out.error);
    }
    return out;
  }

  auto id = SessionIdOfPath(object_path);
  if (!id.ok()) {
    out.status = LookupStatus::kFailed;
    out.error = "logind GetSessionByPID returned " + id.error();
    return out;
  }
  BusError property_error;
  char* reported_id = nullptr;
  uint32_t leader = 0;
  r = sd_bus_get_property_string(bus_, kDestination, object_path.c_str(),
                                 kSession, "Id", &property_error.error,
                                 &reported_id);
  std::string reported = reported_id != nullptr ? reported_id : "";
  free(reported_id);
  if (r >= 0) {
    r = sd_bus_get_property_trivial(bus_, kDestination, object_path.c_str(),
                                    kSession, "Leader", &property_error.error,
                                    'u', &leader);
  }
  if (r < 0) {
    out.status = LookupStatus::kFailed;
    out.error = BusCallFailed("logind", "session property read", r,
                              property_error);
    return out;
  }
  if (reported != id.value()) {
    out.status = LookupStatus::kFailed;
    out.error = "logind session " + object_path + " reports a different id";
    return out;
  }
  if (leader != static_cast<uint32_t>(process.pid)) return out;
  std::string scope = SessionScopeOf(CgroupOf(process.pid), id.value());
  if (HasExited(pidfd.get())) return out;
  out.status = LookupStatus::kFound;
  out.id = id.value();
  out.scope_cgroup = scope;
  return out;
}

SessionCall LogindManager::TerminateSession(const std::string& id,
                                            std::string* error) {
  if (!EnsureConnected(error)) return SessionCall::kUnavailable;
  BusError bus_error;
  int r = sd_bus_call_method(bus_, kDestination, kPath, kManager,
                             "TerminateSession", &bus_error.error, nullptr,
                             "s", id.c_str());
  if (r < 0) return Classify("TerminateSession", r, bus_error, error);
  return SessionCall::kDone;
}

SessionCall LogindManager::KillSession(const std::string& id, int signal,
                                       std::string* error) {
  if (!EnsureConnected(error)) return SessionCall::kUnavailable;
  BusError bus_error;
  int r = sd_bus_call_method(bus_, kDestination, kPath, kManager,
                             "KillSession", &bus_error.error, nullptr, "ssi",
                             id.c_str(), "all", signal);
  if (r < 0) return Classify("KillSession", r, bus_error, error);
  return SessionCall::kDone;
}

SessionCall LogindManager::CheckSession(const std::string& id,
                                        std::string* error) {
  if (!EnsureConnected(error)) return SessionCall::kUnavailable;
  BusError bus_error;
  int r = sd_bus_call_method(bus_, kDestination, kPath, kManager,
                             "GetSession", &bus_error.error, nullptr, "s",
                             id.c_str());
  if (r < 0) return Classify("GetSession", r, bus_error, error);
  return SessionCall::kDone;
}

}  // namespace zsp::agent

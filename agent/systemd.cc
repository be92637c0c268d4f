#include "agent/systemd.h"

#include <fcntl.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "agent/bus_error.h"
#include "common/handles.h"
#include "common/text.h"

namespace zsp::agent {
namespace {

constexpr char kDestination[] = "org.freedesktop.systemd1";
constexpr char kPath[] = "/org/freedesktop/systemd1";
constexpr char kInterface[] = "org.freedesktop.systemd1.Manager";
// Timeout of each manager call, in microseconds.
constexpr uint64_t kCallTimeoutUsec = 2'000'000;

using BusMessagePtr =
    std::unique_ptr<sd_bus_message, Deleter<sd_bus_message_unref>>;

bool IsUnitNameByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '.';
}

// The "0::" line of /proc/PID/cgroup, without the prefix; "" if unknown.
std::string CgroupOf(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/cgroup";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "";
  char buffer[4096];
  ssize_t n = read(fd.get(), buffer, sizeof buffer - 1);
  if (n <= 0) return "";
  for (const auto& line : SplitString(std::string_view(buffer, n), '\n')) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return "";
}

}  // namespace

std::string EscapeUnitNamePart(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (IsUnitNameByte(text[i]) && !(i == 0 && c == '.')) {
      out.push_back(text[i]);
      continue;
    }
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

Result<std::string> UnescapeUnitNamePart(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (text.size() - i < 4 || text[i + 1] != 'x') {
      return Error{"invalid escape in unit name \"" + std::string(text) +
                   "\""};
    }
    unsigned int value = 0;
    for (size_t j = 2; j < 4; ++j) {
      char c = text[i + j];
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : -1;
      if (digit < 0) {
        return Error{"invalid escape in unit name \"" + std::string(text) +
                     "\""};
      }
      value = value * 16 + static_cast<unsigned int>(digit);
    }
    out.push_back(static_cast<char>(value));
    i += 3;
  }
  return out;
}

std::string GrantSliceName(const std::string& grant) {
  return "zsp-" + EscapeUnitNamePart(grant) + ".slice";
}

Result<std::string> GrantOfSliceName(std::string_view slice) {
  constexpr std::string_view kPrefix = "zsp-";
  constexpr std::string_view kSuffix = ".slice";
  if (slice.size() <= kPrefix.size() + kSuffix.size() ||
      slice.substr(0, kPrefix.size()) != kPrefix ||
      slice.substr(slice.size() - kSuffix.size()) != kSuffix) {
    return Error{"\"" + std::string(slice) + "\" is not a grant slice"};
  }
  std::string_view middle = slice.substr(
      kPrefix.size(), slice.size() - kPrefix.size() - kSuffix.size());
  if (middle.find('-') != std::string_view::npos) {
    return Error{"\"" + std::string(slice) + "\" is not a grant slice"};
  }
  return UnescapeUnitNamePart(middle);
}

Result<std::unique_ptr<SystemdManager>> SystemdManager::Connect() {
  sd_bus* bus = nullptr;
  int r = sd_bus_open_system(&bus);
  if (r < 0) {
    return Error{std::string("cannot connect to the system bus: ") +
                 strerror(-r)};
  }
  sd_bus_set_method_call_timeout(bus, kCallTimeoutUsec);
  return std::unique_ptr<SystemdManager>(new SystemdManager(bus));
}

SystemdManager::~SystemdManager() { sd_bus_flush_close_unref(bus_); }

Result<bool> SystemdManager::EnsureConnected() {
  int r = ReopenSystemBus(&bus_, kCallTimeoutUsec);
  if (r < 0) {
    return Error{std::string("cannot connect to the system bus: ") +
                 strerror(-r)};
  }
  return true;
}

Result<std::string> SystemdManager::StartScope(const std::string& scope,
                                               const std::string& slice,
                                               pid_t pid,
                                               const std::string& description,
                                               long timeout_ms) {
  auto connected = EnsureConnected();
  if (!connected.ok()) return Error{connected.error()};

  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_call(bus_, &raw, kDestination, kPath,
                                         kInterface, "StartTransientUnit");
  BusMessagePtr request(raw);
  if (r >= 0) r = sd_bus_message_append(raw, "ss", scope.c_str(), "fail");
  if (r >= 0) r = sd_bus_message_open_container(raw, 'a', "(sv)");
  if (r >= 0) {
    r = sd_bus_message_append(raw, "(sv)(sv)(sv)", "Slice", "s",
                              slice.c_str(), "Description", "s",
                              description.c_str(), "PIDs", "au", 1,
                              static_cast<uint32_t>(pid));
  }
  if (r >= 0) r = sd_bus_message_close_container(raw);
  // No auxiliary units.
  if (r >= 0) r = sd_bus_message_append(raw, "a(sa(sv))", 0);
  if (r < 0) {
    return Error{std::string("cannot build StartTransientUnit: ") +
                 strerror(-r)};
  }

  BusError bus_error;
  sd_bus_message* reply = nullptr;
  r = sd_bus_call(bus_, raw, 0, &bus_error.error, &reply);
  sd_bus_message_unref(reply);
  if (r < 0) {
    return Error{
        BusCallFailed("systemd", "StartTransientUnit", r, bus_error)};
  }

  // systemd moves the pid while it runs the start job, after the reply.
  std::string suffix = "/" + scope;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(timeout_ms);
  while (true) {
    std::string cgroup = CgroupOf(pid);
    if (cgroup.size() > suffix.size() &&
        cgroup.compare(cgroup.size() - suffix.size(), suffix.size(),
                       suffix) == 0) {
      return cgroup;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error{"process " + std::to_string(pid) + " is not in " + scope +
                   " " + std::to_string(timeout_ms) +
                   " ms after StartTransientUnit (cgroup \"" + cgroup +
                   "\")"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<bool> SystemdManager::StopUnit(const std::string& unit) {
  auto connected = EnsureConnected();
  if (!connected.ok()) return connected;
  BusError bus_error;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_call_method(bus_, kDestination, kPath, kInterface,
                             "StopUnit", &bus_error.error, &reply, "ss",
                             unit.c_str(), "replace");
  sd_bus_message_unref(reply);
  if (r < 0) {
    return Error{BusCallFailed("systemd", "StopUnit", r, bus_error)};
  }
  return true;
}

}  // namespace zsp::agent

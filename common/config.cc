#include "common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/handles.h"
#include "common/text.h"

namespace zsp {
namespace {

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool ParseLong(std::string_view text, long min, long max, long* out) {
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

bool IsAbsolutePath(std::string_view v) { return !v.empty() && v[0] == '/'; }

bool IsValidHostName(std::string_view v) {
  if (v.empty() || v.size() > 253) return false;
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// A single cgroup directory name: no '/', no leading '.', nothing that
// the kernel's own cgroup.* files could collide with.
bool IsCgroupName(std::string_view v) {
  if (v.empty() || v.size() > 64 || v[0] == '.') return false;
  if (v.substr(0, 7) == "cgroup.") return false;
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Accepts https://HOST, https://HOST:PORT and https://[IPV6]:PORT, with an
// optional trailing '/', and nothing else: no user info, path or query.
bool IsBrokerUrl(std::string_view v) {
  constexpr std::string_view kScheme = "https://";
  if (v.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view authority = v.substr(kScheme.size());
  while (!authority.empty() && authority.back() == '/') {
    authority.remove_suffix(1);
  }
  if (authority.empty() || authority.front() == ':') return false;
  for (char c : authority) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':' ||
              c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

// Applies one "key = value" setting; returns "" or the problem.
std::string ApplySetting(HostConfig* c, std::string_view key,
                         std::string_view value) {
  auto path_setting = [&](std::string* field) -> std::string {
    if (!IsAbsolutePath(value)) return "value must be an absolute path";
    *field = value;
    return "";
  };
  if (key == "broker_url") {
    if (!IsBrokerUrl(value)) {
      return "value must be an https://HOST[:PORT] URL with no path";
    }
    if (c->broker_urls.size() >= kMaxBrokerUrls) {
      return "more than " + std::to_string(kMaxBrokerUrls) +
             " broker_url settings";
    }
    while (value.back() == '/') value.remove_suffix(1);
    c->broker_urls.emplace_back(value);
    if (c->broker_url.empty()) c->broker_url = value;
    return "";
  }
  if (key == "ca_file") return path_setting(&c->ca_file);
  if (key == "client_cert") return path_setting(&c->client_cert);
  if (key == "client_key") return path_setting(&c->client_key);
  if (key == "decision_key") {
    if (!IsAbsolutePath(value)) return "value must be an absolute path";
    c->decision_keys.emplace_back(value);
    return "";
  }
  if (key == "host") {
    if (!IsValidHostName(value)) return "value is not a valid host name";
    c->host = value;
    return "";
  }
  if (key == "connect_timeout_ms") {
    return ParseLong(value, 100, 60000, &c->connect_timeout_ms)
               ? ""
               : "value must be a whole number from 100 to 60000";
  }
  if (key == "timeout_ms") {
    return ParseLong(value, 100, 60000, &c->timeout_ms)
               ? ""
               : "value must be a whole number from 100 to 60000";
  }
  if (key == "clock_skew") {
    return ParseLong(value, 0, 600, &c->clock_skew_sec)
               ? ""
               : "value must be a whole number of seconds from 0 to 600";
  }
  if (key == "secure_path") {
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(':', start);
      if (end == std::string_view::npos) end = value.size();
      if (!IsAbsolutePath(value.substr(start, end - start))) {
        return "every directory in secure_path must be absolute";
      }
      start = end + 1;
    }
    c->secure_path = value;
    return "";
  }
  if (key == "spool_dir") return path_setting(&c->spool_dir);
  if (key == "decision_cache") {
    int64_t seconds = 0;
    if (!ParseDurationSeconds(value, &seconds) || seconds < 0 ||
        seconds > kMaxDecisionCacheSec) {
      return "value must be a duration from 0s (off) to " +
             std::to_string(kMaxDecisionCacheSec) + "s (for example 5s)";
    }
    c->decision_cache_sec = static_cast<long>(seconds);
    return "";
  }
  if (key == "decision_cache_dir") return path_setting(&c->decision_cache_dir);
  if (key == "request_duration") {
    int64_t seconds = 0;
    if (!ParseDurationSeconds(value, &seconds) || seconds < 60 ||
        seconds > 7 * 86400) {
      return "value must be a duration from 1m to 7d (for example 1h)";
    }
    c->request_duration_sec = static_cast<long>(seconds);
    return "";
  }
  if (key == "request_wait") {
    int64_t seconds = 0;
    if (!ParseDurationSeconds(value, &seconds) || seconds < 5 ||
        seconds > 3600) {
      return "value must be a duration from 5s to 1h (for example 5m)";
    }
    c->request_wait_sec = static_cast<long>(seconds);
    return "";
  }
  if (key == "expiry_warning") {
    int64_t seconds = 0;
    if (!ParseDurationSeconds(value, &seconds) || seconds < 0 ||
        seconds > 3600) {
      return "value must be a duration from 0s (off) to 1h (for example 60s)";
    }
    c->expiry_warning_sec = static_cast<long>(seconds);
    return "";
  }
  if (key == "breakglass_key") {
    if (!IsAbsolutePath(value)) return "value must be an absolute path";
    c->breakglass_keys.emplace_back(value);
    return "";
  }
  if (key == "breakglass_signatures") {
    return ParseLong(value, 1, 8, &c->breakglass_signatures)
               ? ""
               : "value must be a whole number from 1 to 8";
  }
  if (key == "breakglass_max_lifetime") {
    int64_t seconds = 0;
    if (!ParseDurationSeconds(value, &seconds) || seconds < 60 ||
        seconds > 24 * 3600) {
      return "value must be a duration from 1m to 24h (for example 4h)";
    }
    c->breakglass_max_lifetime_sec = static_cast<long>(seconds);
    return "";
  }
  if (key == "breakglass_with_broker") {
    if (value != "true" && value != "false") return "value must be true or false";
    c->breakglass_with_broker = value == "true";
    return "";
  }
  if (key == "agent") {
    if (value == "required") {
      c->agent = AgentMode::kRequired;
    } else if (value == "optional") {
      c->agent = AgentMode::kOptional;
    } else if (value == "off") {
      c->agent = AgentMode::kOff;
    } else {
      return "value must be required, optional or off";
    }
    return "";
  }
  if (key == "agent_socket") return path_setting(&c->agent_socket);
  if (key == "decision_relay") {
    if (value == "agent") {
      c->decision_relay = DecisionRelay::kAgent;
    } else if (value == "direct") {
      c->decision_relay = DecisionRelay::kDirect;
    } else {
      return "value must be agent or direct";
    }
    return "";
  }
  if (key == "agent_cgroup") {
    if (!IsCgroupName(value)) {
      return "value must be one directory name of letters, digits, '-', "
             "'_' and '.', not starting with '.'";
    }
    c->agent_cgroup = value;
    return "";
  }
  if (key == "feed_stale_after") {
    int64_t seconds = 0;
    if (!ParseDurationSeconds(value, &seconds) || seconds < 2 ||
        seconds > 3600) {
      return "value must be a duration from 2s to 1h (for example 60s)";
    }
    c->feed_stale_after_sec = static_cast<long>(seconds);
    return "";
  }
  if (key == "feed_stale_action") {
    if (value == "end") {
      c->feed_stale_action = StaleAction::kEnd;
    } else if (value == "keep") {
      c->feed_stale_action = StaleAction::kKeep;
    } else {
      return "value must be end or keep";
    }
    return "";
  }
  if (key == "kill_method") {
    if (value == "auto") {
      c->kill_method = KillMethod::kAuto;
    } else if (value == "cgroup.kill") {
      c->kill_method = KillMethod::kCgroupKill;
    } else if (value == "freeze") {
      c->kill_method = KillMethod::kFreeze;
    } else {
      return "value must be auto, cgroup.kill or freeze";
    }
    return "";
  }
  if (key == "debug") {
    if (value != "true" && value != "false") return "value must be true or false";
    c->debug = value == "true";
    return "";
  }
  return "unknown setting";
}

}  // namespace

Result<ModuleOptions> ParseModuleOptions(
    const std::vector<std::string>& args) {
  ModuleOptions options;
  for (const auto& arg : args) {
    if (arg.rfind("conf=", 0) == 0) {
      if (!IsAbsolutePath(arg.substr(5))) {
        return Error{"conf= needs an absolute path"};
      }
      options.config_path = arg.substr(5);
    } else if (arg == "debug") {
      options.debug = true;
    } else {
      return Error{"unknown argument \"" + arg + "\""};
    }
  }
  return options;
}

Result<HostConfig> ParseHostConfig(std::string_view text,
                                   const std::string& origin) {
  HostConfig config;
  config.path = origin;
  bool relay_set = false;
  size_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = Trim(text.substr(pos, eol - pos));
    pos = eol + 1;
    ++line_number;
    if (line.empty() || line[0] == '#') continue;

    std::string where = origin + ":" + std::to_string(line_number) + ": ";
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Error{where + "expected \"key = value\""};
    }
    std::string_view key = Trim(line.substr(0, eq));
    std::string_view value = Trim(line.substr(eq + 1));
    if (value.empty()) return Error{where + std::string(key) + ": empty value"};
    if (key == "decision_relay") relay_set = true;
    std::string problem = ApplySetting(&config, key, value);
    if (!problem.empty()) {
      return Error{where + std::string(key) + ": " + problem};
    }
  }

  const std::pair<const char*, const std::string*> required[] = {
      {"broker_url", &config.broker_url},
      {"ca_file", &config.ca_file},
      {"client_cert", &config.client_cert},
      {"client_key", &config.client_key},
  };
  for (const auto& [name, value] : required) {
    if (value->empty()) return Error{origin + ": missing setting " + name};
  }
  if (config.decision_keys.empty()) {
    return Error{origin + ": missing setting decision_key"};
  }
  if (!config.breakglass_keys.empty() &&
      config.breakglass_signatures >
          static_cast<long>(config.breakglass_keys.size())) {
    return Error{origin + ": breakglass_signatures is " +
                 std::to_string(config.breakglass_signatures) +
                 " but only " + std::to_string(config.breakglass_keys.size()) +
                 " breakglass_key settings are listed"};
  }
  if (!relay_set && config.agent == AgentMode::kOff) {
    config.decision_relay = DecisionRelay::kDirect;
  }
  if (config.connect_timeout_ms > config.timeout_ms) {
    return Error{origin + ": connect_timeout_ms is larger than timeout_ms"};
  }
  return config;
}

std::string RootOnlyProblem(const struct stat& st, const std::string& what) {
  if (st.st_uid != 0) return what + " is not owned by root";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return what + " is writable by group or others";
  }
  return "";
}

Result<HostConfig> LoadHostConfig(const std::string& path) {
  // O_NONBLOCK keeps a FIFO at the path from blocking the open; the file
  // type is checked next.
  UniqueFd fd(
      open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    return Error{"cannot open " + path + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    return Error{"cannot stat " + path + ": " + std::strerror(errno)};
  }
  if (!S_ISREG(st.st_mode)) return Error{path + " is not a regular file"};
  std::string problem = RootOnlyProblem(st, path);
  if (!problem.empty()) return Error{problem};
  if (st.st_size > static_cast<off_t>(kMaxConfigBytes)) {
    return Error{path + " is larger than 64 KiB"};
  }

  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"cannot read " + path + ": " + std::strerror(errno)};
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return ParseHostConfig(text, path);
}

}  // namespace zsp

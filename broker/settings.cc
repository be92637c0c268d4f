#include "broker/settings.h"

#include <fstream>
#include <sstream>

#include "broker/store.h"
#include "broker/validate.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

constexpr int64_t kMaxSettingSeconds = 366LL * 24 * 3600;
constexpr int64_t kMaxDecisionTtl = 3600;

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

bool ParseSeconds(const std::string& text, int64_t max, int64_t* out) {
  unsigned int value = 0;
  if (!ParseUnsigned(text, &value) || value == 0 || value > max) return false;
  *out = value;
  return true;
}

// Applies one key; returns "" or what is wrong with the value.
std::string ApplySetting(const std::string& key, const std::string& value,
                         Settings* settings) {
  if (key == "listen") {
    auto address = ParseListenAddress(value);
    if (!address.ok()) return address.error();
    settings->listen = value;
  } else if (key == "max_duration") {
    if (!ParseSeconds(value, kMaxSettingSeconds, &settings->max_duration)) {
      return "invalid value \"" + value + "\", expected 1 to " +
             std::to_string(kMaxSettingSeconds) + " seconds";
    }
  } else if (key == "decision_ttl") {
    if (!ParseSeconds(value, kMaxDecisionTtl, &settings->decision_ttl)) {
      return "invalid value \"" + value + "\", expected 1 to " +
             std::to_string(kMaxDecisionTtl) + " seconds";
    }
  } else if (key == "store") {
    if (!IsPostgresLocation(value)) {
      return "invalid value: expected a PostgreSQL URI starting with "
             "postgresql://, or no store line for the SQLite files in the "
             "broker directory";
    }
    settings->store = value;
  } else {
    return "unknown setting";
  }
  return "";
}

}  // namespace

Result<Settings> ParseSettings(const std::string& text,
                               const std::string& path) {
  Settings settings;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    std::string where = path + ":" + std::to_string(number) + ": ";
    size_t equals = trimmed.find('=');
    if (equals == std::string::npos) {
      return Error{where + "expected \"key = value\""};
    }
    std::string key = Trim(trimmed.substr(0, equals));
    std::string value = Trim(trimmed.substr(equals + 1));
    std::string problem = ApplySetting(key, value, &settings);
    if (!problem.empty()) return Error{where + key + ": " + problem};
  }
  return settings;
}

Result<Settings> LoadSettings(const std::string& path) {
  std::ifstream file(path);
  if (!file) return Error{path + ": cannot be read"};
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return Error{path + ": read failed"};
  return ParseSettings(text.str(), path);
}

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  ListenAddress address;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find("]:");
    if (close == std::string::npos) {
      return Error{"invalid listen address \"" + text + "\""};
    }
    address.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      return Error{"invalid listen address \"" + text +
                   "\", expected ADDR:PORT"};
    }
    address.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned int port = 0;
  if (!ParseUnsigned(port_text, &port) || port > 65535) {
    return Error{"invalid port in listen address \"" + text + "\""};
  }
  if (!IsIpAddress(address.host) && !IsValidHostName(address.host)) {
    return Error{"invalid host in listen address \"" + text + "\""};
  }
  address.port = static_cast<int>(port);
  return address;
}

std::string BrokerStoreLocation(const std::string& dir,
                                const Settings& settings) {
  return settings.store.empty() ? dir + "/broker.db" : settings.store;
}

std::string AuditStoreLocation(const std::string& dir,
                               const Settings& settings) {
  return settings.store.empty() ? dir + "/audit.db" : settings.store;
}

}  // namespace zsp::broker

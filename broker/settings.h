// broker.conf: "key = value" lines, '#' starts a comment line.
#ifndef ZSP_BROKER_SETTINGS_H_
#define ZSP_BROKER_SETTINGS_H_

#include <cstdint>
#include <string>

#include "common/result.h"

namespace zsp::broker {

inline constexpr char kDefaultListen[] = "127.0.0.1:8443";

struct Settings {
  std::string listen = kDefaultListen;  // ADDR:PORT or [IPv6]:PORT
  int64_t max_duration = 28800;  // longest grant a request may ask, seconds
  int64_t decision_ttl = 60;     // lifetime of a signed decision, seconds
  // Where the broker keeps its state: empty for the SQLite files in the
  // broker directory (broker.db, audit.db), or a PostgreSQL connection URI
  // (postgresql://...) shared by several broker instances.
  std::string store;
};

// The store location for broker directory dir under settings.
std::string BrokerStoreLocation(const std::string& dir,
                                const Settings& settings);
std::string AuditStoreLocation(const std::string& dir,
                               const Settings& settings);

// Parses the text of broker.conf. Errors name path, line number and key.
Result<Settings> ParseSettings(const std::string& text,
                               const std::string& path);

Result<Settings> LoadSettings(const std::string& path);

// An address and port to listen on.
struct ListenAddress {
  std::string host;  // without brackets
  int port = 0;      // 0 picks a free port
};

// Parses "127.0.0.1:8443", "[::1]:0" or "localhost:8443".
Result<ListenAddress> ParseListenAddress(const std::string& text);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_SETTINGS_H_

// Helpers shared by the unit tests of signed decisions: the public half of
// a test key pinned as the modules pin the broker's key, and the query and
// claims of a sudo allow that each test then changes one claim at a time.
#ifndef ZSP_TESTS_UNIT_DECISION_FIXTURE_H_
#define ZSP_TESTS_UNIT_DECISION_FIXTURE_H_

#include <openssl/evp.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/decision.h"
#include "common/jws.h"

namespace zsp_test {

// Returns the public half of key, pinned under its key id.
inline zsp::PinnedKey Pin(EVP_PKEY* key) {
  return zsp::PinnedKeyOf(key).value();
}

// Returns the query of alice's `sudo systemctl restart nginx` on host.
inline zsp::DecisionQuery SudoQuery(const std::string& host) {
  zsp::DecisionQuery query;
  query.user = "alice";
  query.host = host;
  query.kind = "sudo";
  query.runas = "root";
  query.argv = {"/usr/bin/systemctl", "restart", "nginx"};
  return query;
}

// Returns the claims of an allow that matches SudoQuery(host), issued at
// now with nonce, valid for 60 seconds, under a grant that ends an hour
// later.
inline nlohmann::json SudoAllowClaims(const std::string& host,
                                      const std::string& nonce, int64_t now,
                                      const std::string& grant,
                                      const std::string& request) {
  return {
      {"iss", "zsp-broker"},
      {"ver", 1},
      {"sub", "alice"},
      {"host", host},
      {"kind", "sudo"},
      {"runas", "root"},
      {"argv", {"/usr/bin/systemctl", "restart", "nginx"}},
      {"runas_group", ""},
      {"env", nlohmann::json::array()},
      {"nonce", nonce},
      {"iat", now},
      {"exp", now + 60},
      {"decision", "allow"},
      {"grant", grant},
      {"request", request},
      {"grant_exp", now + 3600},
  };
}

}  // namespace zsp_test

#endif  // ZSP_TESTS_UNIT_DECISION_FIXTURE_H_

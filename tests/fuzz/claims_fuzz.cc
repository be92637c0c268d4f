// libFuzzer target: the decision claims checks behind a valid signature.
// The input is the claims payload, which this target signs with the
// pinned key, so every input reaches the claims parser. An allow must
// carry exactly the claims of the host's query (user, host, kind, run-as
// user, argv, nonce), a time window around "now" and a grant that has not
// ended. Any other allow is a bug in the checks.
#include <openssl/evp.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/decision.h"
#include "common/jws.h"

namespace {

constexpr int64_t kNow = 1800000000;
constexpr int64_t kSkew = 30;

EVP_PKEY* SigningKey() {
  static EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  return key;
}

std::vector<zsp::PinnedKey> PinnedKeys() {
  return {zsp::PinnedKeyOf(SigningKey()).value()};
}

bool ClaimIs(const nlohmann::json& claims, const char* name,
             const nlohmann::json& expected) {
  auto it = claims.find(name);
  return it != claims.end() && *it == expected;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<zsp::PinnedKey> keys = PinnedKeys();
  std::string payload(reinterpret_cast<const char*>(data), size);
  auto token = zsp::SignJws(SigningKey(), payload, zsp::kDecisionJwsType);
  if (!token.ok()) return 0;

  zsp::DecisionQuery query;
  query.user = "alice";
  query.host = "web-1";
  query.kind = "sudo";
  query.runas = "root";
  query.argv = {"/usr/bin/id", "-u"};
  zsp::Decision d = zsp::CheckSignedDecision(token.value(), keys, query,
                                             "nonce-1", kNow, kSkew);
  if (d.verdict != zsp::Verdict::kAllow) return 0;

  nlohmann::json claims = nlohmann::json::parse(payload, nullptr, false);
  if (!claims.is_object()) __builtin_trap();
  if (!ClaimIs(claims, "decision", "allow") ||
      !ClaimIs(claims, "sub", query.user) ||
      !ClaimIs(claims, "host", query.host) ||
      !ClaimIs(claims, "kind", query.kind) ||
      !ClaimIs(claims, "runas", query.runas) ||
      !ClaimIs(claims, "argv", query.argv) ||
      !ClaimIs(claims, "nonce", "nonce-1")) {
    __builtin_trap();
  }
  auto iat = claims.find("iat");
  auto exp = claims.find("exp");
  if (iat == claims.end() || !iat->is_number_integer() ||
      exp == claims.end() || !exp->is_number_integer()) {
    __builtin_trap();
  }
  if (iat->get<int64_t>() > kNow + kSkew || exp->get<int64_t>() < kNow - kSkew) {
    __builtin_trap();
  }
  if (d.grant_expires <= kNow) __builtin_trap();
  return 0;
}

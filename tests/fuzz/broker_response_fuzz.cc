// libFuzzer target: the broker response parser (CheckBrokerResponse), which
// takes the HTTP status and body of a decision response. The first input
// byte picks the status, the rest is the body. No input may produce an
// allow, because the fuzzer cannot forge an Ed25519 signature with the key
// pinned here, and a status other than 200 is always kUnavailable.
#include <openssl/evp.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/decision.h"
#include "common/jws.h"

namespace {

std::vector<zsp::PinnedKey> PinnedKeys() {
  zsp::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  return {zsp::PinnedKeyOf(key.get()).value()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<zsp::PinnedKey> keys = PinnedKeys();
  if (size == 0) return 0;
  static constexpr long kStatuses[] = {200, 200, 200, 200, 302, 401, 429, 503};
  long status = kStatuses[data[0] % 8];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  zsp::DecisionQuery query;
  query.user = "alice";
  query.host = "web-1";
  query.kind = "sudo";
  query.runas = "root";
  query.argv = {"/usr/bin/id"};
  zsp::Decision d = zsp::CheckBrokerResponse(status, body, keys, query,
                                             "nonce", 1800000000, 30);
  if (d.verdict == zsp::Verdict::kAllow) __builtin_trap();
  if (status != 200 && d.verdict != zsp::Verdict::kUnavailable) {
    __builtin_trap();
  }
  return 0;
}

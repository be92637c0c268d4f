// libFuzzer target: the decision verifier. Input is a broker response; no
// input may produce an allow, because the fuzzer cannot forge an Ed25519
// signature with the key pinned here.
#include <openssl/evp.h>

#include <cstdint>
#include <string>
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
  zsp::DecisionQuery query;
  query.user = "alice";
  query.host = "web-1";
  query.kind = "sudo";
  query.runas = "root";
  query.argv = {"/usr/bin/id"};
  std::string token(reinterpret_cast<const char*>(data), size);
  zsp::Decision d = zsp::CheckSignedDecision(token, keys, query, "nonce",
                                             1800000000, 30);
  if (d.verdict == zsp::Verdict::kAllow) __builtin_trap();
  return 0;
}

// libFuzzer target: break-glass token decoding and verification. Decoded
// fields always pass CheckBreakGlassFields, and no input verifies, because
// the only listed key is generated here and never signs anything.
#include <cstdint>
#include <string_view>

#include "common/breakglass.h"

namespace {

const zsp::BreakGlassPolicy& Policy() {
  static const zsp::BreakGlassPolicy* policy = [] {
    auto* p = new zsp::BreakGlassPolicy;
    zsp::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    p->keys.push_back(zsp::PinnedKeyOf(key.get()).value());
    p->required_signatures = 1;
    return p;
  }();
  return *policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = zsp::DecodeBreakGlassToken(text);
  if (decoded.ok() && !zsp::CheckBreakGlassFields(decoded.value()).empty()) {
    __builtin_trap();
  }
  zsp::BreakGlassUse use;
  use.user = "alice";
  use.host = "db-1.example.org";
  use.kind = "sudo";
  use.runas = "root";
  use.now = 1800000000;
  auto check = zsp::VerifyBreakGlassToken(text, Policy(), use);
  if (check.status == zsp::BreakGlassStatus::kValid) __builtin_trap();
  return 0;
}

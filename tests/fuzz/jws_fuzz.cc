// libFuzzer target: the compact JWS verifier. With a key that the fuzzer
// cannot sign for, no input may verify; every other result is fine as
// long as nothing crashes. The same input is also tried with its last
// part replaced by a valid signature over the first two parts. That
// drives the header checks (alg, typ, kid, crit) past the signature, and
// then only an EdDSA header of the right type may pass.
#include <openssl/evp.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/base64url.h"
#include "common/jws.h"

namespace {

EVP_PKEY* SigningKey() {
  static EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  return key;
}

std::vector<zsp::PinnedKey> PinnedKeys() {
  return {zsp::PinnedKeyOf(SigningKey()).value()};
}

std::vector<zsp::PinnedKey> StrangerKeys() {
  zsp::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  zsp::PinnedKey stranger = zsp::PinnedKeyOf(key.get()).value();
  stranger.kid = zsp::Ed25519KeyId(SigningKey());
  return {stranger};
}

// Signs "HEADER.PAYLOAD" from the input's first two parts; "" if the
// input has fewer than two dots.
std::string ResignedToken(std::string_view input) {
  size_t first = input.find('.');
  if (first == std::string_view::npos) return "";
  size_t second = input.find('.', first + 1);
  if (second == std::string_view::npos) return "";
  std::string signing_input(input.substr(0, second));

  auto ctx = zsp::EvpMdCtxPtr(EVP_MD_CTX_new());
  unsigned char signature[64];
  size_t length = sizeof signature;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, SigningKey()) != 1 ||
      EVP_DigestSign(ctx.get(), signature, &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return "";
  }
  return signing_input + "." +
         zsp::Base64UrlEncode(std::string_view(
             reinterpret_cast<const char*>(signature), length));
}

bool ClaimIs(const nlohmann::json& object, const char* name,
             const char* expected) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() && *it == expected;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<zsp::PinnedKey> keys = PinnedKeys();
  static const std::vector<zsp::PinnedKey> strangers = StrangerKeys();
  std::string_view input(reinterpret_cast<const char*>(data), size);

  zsp::VerifiedJws forged =
      zsp::VerifyJws(input, strangers, zsp::kDecisionJwsType);
  if (forged.status == zsp::JwsStatus::kValid) __builtin_trap();

  std::string token = ResignedToken(input);
  if (token.empty()) return 0;
  zsp::VerifiedJws signed_jws =
      zsp::VerifyJws(token, keys, zsp::kDecisionJwsType);
  if (signed_jws.status != zsp::JwsStatus::kValid) return 0;

  auto header_text = zsp::Base64UrlDecode(token.substr(0, token.find('.')));
  if (!header_text) __builtin_trap();
  nlohmann::json header = nlohmann::json::parse(*header_text, nullptr, false);
  if (!header.is_object() || header.contains("crit") ||
      !ClaimIs(header, "alg", "EdDSA") ||
      !ClaimIs(header, "typ", zsp::kDecisionJwsType)) {
    __builtin_trap();
  }
  return 0;
}

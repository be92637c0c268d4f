// The signing half of common/jws.h, with OpenSSL: the broker and zspctl
// sign, and the modules, which only verify, link none of this file.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/jws.h"

namespace zsp {

Result<EvpPkeyPtr> LoadEd25519PrivateKey(const std::string& path) {
  FilePtr file(fopen(path.c_str(), "re"));
  if (!file) return Error{"cannot open key file " + path};
  EvpPkeyPtr key(PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr));
  if (!key) return Error{"invalid PEM key in " + path};
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return Error{"key in " + path + " is not an Ed25519 key"};
  }
  return key;
}

Result<Ed25519PublicKey> Ed25519PublicKeyOf(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    return Error{"key is not an Ed25519 key"};
  }
  Ed25519PublicKey raw{};
  size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &size) != 1 ||
      size != raw.size()) {
    return Error{"EVP_PKEY_get_raw_public_key failed"};
  }
  return raw;
}

std::string Ed25519KeyId(EVP_PKEY* key) {
  auto raw = Ed25519PublicKeyOf(key);
  return raw.ok() ? Ed25519KeyId(raw.value()) : "";
}

Result<PinnedKey> PinnedKeyOf(EVP_PKEY* key) {
  auto raw = Ed25519PublicKeyOf(key);
  if (!raw.ok()) return Error{raw.error()};
  return PinnedKey{Ed25519KeyId(raw.value()), raw.value()};
}

Result<std::string> SignEd25519(EVP_PKEY* private_key,
                                std::string_view message) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return Error{"EVP_MD_CTX_new failed"};
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, private_key) !=
      1) {
    return Error{"EVP_DigestSignInit failed"};
  }
  std::array<unsigned char, kEd25519SignatureBytes> sig{};
  size_t sig_size = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &sig_size,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      sig_size != sig.size()) {
    return Error{"EVP_DigestSign failed"};
  }
  return std::string(reinterpret_cast<const char*>(sig.data()), sig_size);
}

Result<std::string> SignJws(EVP_PKEY* private_key, std::string_view payload,
                            std::string_view type) {
  std::string kid = Ed25519KeyId(private_key);
  if (kid.empty()) return Error{"signing key is not an Ed25519 key"};
  nlohmann::json header = {
      {"alg", "EdDSA"}, {"kid", kid}, {"typ", std::string(type)}};
  std::string input =
      Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload);
  auto signature = SignEd25519(private_key, input);
  if (!signature.ok()) return Error{signature.error()};
  return input + "." + Base64UrlEncode(signature.value());
}

}  // namespace zsp

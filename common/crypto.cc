#include "common/crypto.h"

#include <sodium.h>

#include <cstring>

namespace zsp {
namespace {

// The DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410) is this
// 12-byte prefix followed by the 32-byte key.
constexpr unsigned char kEd25519SpkiPrefix[] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr size_t kEd25519SpkiBytes =
    sizeof kEd25519SpkiPrefix + kEd25519PublicKeyBytes;

// sodium_init picks the CPU-specific code and may be called any number of
// times from any thread; it returns -1 only when it cannot start.
bool SodiumReady() { return sodium_init() >= 0; }

std::string HexEncode(const unsigned char *data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

static_assert(crypto_sign_ed25519_PUBLICKEYBYTES == kEd25519PublicKeyBytes);
static_assert(crypto_sign_ed25519_BYTES == kEd25519SignatureBytes);

} // namespace

std::string Sha256Hex(std::string_view data) {
  if (!SodiumReady())
    return "";
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest,
                     reinterpret_cast<const unsigned char *>(data.data()),
                     data.size());
  return HexEncode(digest, sizeof digest);
}

std::string Ed25519KeyId(const Ed25519PublicKey &key) {
  std::string_view raw(reinterpret_cast<const char *>(key.data()), key.size());
  return Sha256Hex(raw).substr(0, 16);
}

Result<Ed25519PublicKey> ParseEd25519PublicKeyPem(std::string_view pem,
                                                  const std::string &source) {
  constexpr std::string_view kBegin = "-----BEGIN PUBLIC KEY-----";
  constexpr std::string_view kEnd = "-----END PUBLIC KEY-----";
  size_t begin = pem.find(kBegin);
  size_t end = begin == std::string_view::npos
                   ? begin
                   : pem.find(kEnd, begin + kBegin.size());
  if (end == std::string_view::npos) {
    return Error{"invalid PEM key in " + source +
                 ": no BEGIN PUBLIC KEY and END PUBLIC KEY lines"};
  }
  if (!SodiumReady())
    return Error{"libsodium failed to start"};
  std::string_view body =
      pem.substr(begin + kBegin.size(), end - begin - kBegin.size());
  // Base64 never decodes to more bytes than it has characters.
  std::string der(body.size(), '\0');
  size_t size = 0;
  const char *body_end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char *>(der.data()),
                        der.size(), body.data(), body.size(), " \t\r\n", &size,
                        &body_end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      body_end != body.data() + body.size()) {
    return Error{"invalid PEM key in " + source + ": bad base64"};
  }
  if (size != kEd25519SpkiBytes ||
      std::memcmp(der.data(), kEd25519SpkiPrefix, sizeof kEd25519SpkiPrefix) !=
          0) {
    return Error{"key in " + source + " is not an Ed25519 key"};
  }
  Ed25519PublicKey key;
  std::memcpy(key.data(), der.data() + sizeof kEd25519SpkiPrefix, key.size());
  return key;
}

SignatureCheck VerifyEd25519(const Ed25519PublicKey &key,
                             std::string_view message,
                             std::string_view signature) {
  if (!SodiumReady())
    return SignatureCheck::kLibraryError;
  if (signature.size() != crypto_sign_ed25519_BYTES)
    return SignatureCheck::kInvalid;
  int rc = crypto_sign_ed25519_verify_detached(
      reinterpret_cast<const unsigned char *>(signature.data()),
      reinterpret_cast<const unsigned char *>(message.data()), message.size(),
      key.data());
  return rc == 0 ? SignatureCheck::kValid : SignatureCheck::kInvalid;
}

} // namespace zsp

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
// NOTE: libsodium 1.0.18's sodium_init also reads getrandom(2), which
// blocks until the kernel's random generator is seeded, so a sudo or login
// in the first moments of boot can wait for it. The modules need no random
// bytes from libsodium.
bool SodiumReady() { return sodium_init() >= 0; }

std::string HexEncode(const unsigned char* data, size_t size) {
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

// Returns the number of times needle occurs in text.
size_t CountOf(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// Returns whether text has line at offset at, alone on its line apart
// from trailing blanks, and stores the offset of the next line in *next.
bool IsWholeLine(std::string_view text, size_t at, std::string_view line,
                 size_t* next) {
  if (at != 0 && text[at - 1] != '\n') return false;
  size_t end = text.find('\n', at);
  if (end == std::string_view::npos) end = text.size();
  std::string_view rest = text.substr(at + line.size(), end - at - line.size());
  if (rest.find_first_not_of(" \t\r") != std::string_view::npos) return false;
  *next = end;
  return true;
}

// Returns the base64 text between the BEGIN and END PUBLIC KEY lines.
// Text before and after the block is allowed, as OpenSSL allows it, but no
// second block and no BEGIN or END marker inside other text: OpenSSL would
// then read another key than this reader, or none.
Result<std::string_view> FindPublicKeyBody(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN PUBLIC KEY-----";
  constexpr std::string_view kEnd = "-----END PUBLIC KEY-----";
  size_t begin = pem.find(kBegin);
  size_t end = begin == std::string_view::npos
                   ? begin
                   : pem.find(kEnd, begin + kBegin.size());
  if (end == std::string_view::npos)
    return Error{"no BEGIN PUBLIC KEY and END PUBLIC KEY lines"};
  if (CountOf(pem, "-----BEGIN") != 1 || CountOf(pem, "-----END") != 1)
    return Error{"more than one BEGIN or END line"};
  size_t body_start = 0;
  size_t after_end = 0;
  if (!IsWholeLine(pem, begin, kBegin, &body_start) ||
      !IsWholeLine(pem, end, kEnd, &after_end)) {
    return Error{"BEGIN or END PUBLIC KEY is not alone on its line"};
  }
  return pem.substr(body_start, end - body_start);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  // libsodium 1.0.18's SHA-256 is portable code that sodium_init does not
  // set up, so the hash is computed even if sodium_init failed. An empty
  // result would otherwise pass silently into the spool's hash chain.
  (void)SodiumReady();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(
      digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return HexEncode(digest, sizeof digest);
}

std::string Ed25519KeyId(const Ed25519PublicKey& key) {
  std::string_view raw(reinterpret_cast<const char*>(key.data()), key.size());
  return Sha256Hex(raw).substr(0, 16);
}

Result<Ed25519PublicKey> ParseEd25519PublicKeyPem(std::string_view pem,
                                                  const std::string& source) {
  // sodium_base642bin skips a NUL byte as an ignored character, and OpenSSL
  // rejects the file, so the two would disagree on it.
  if (pem.find('\0') != std::string_view::npos) {
    return Error{"invalid PEM key in " + source + ": contains a NUL byte"};
  }
  auto body = FindPublicKeyBody(pem);
  if (!body.ok())
    return Error{"invalid PEM key in " + source + ": " + body.error()};
  if (!SodiumReady()) return Error{"libsodium failed to start"};
  // Base64 never decodes to more bytes than it has characters.
  std::string der(body.value().size(), '\0');
  size_t size = 0;
  const char* body_end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(der.data()),
                        der.size(), body.value().data(), body.value().size(),
                        " \t\r\n", &size, &body_end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      body_end != body.value().data() + body.value().size()) {
    return Error{"invalid PEM key in " + source + ": bad base64"};
  }
  if (size != kEd25519SpkiBytes ||
      std::memcmp(der.data(), kEd25519SpkiPrefix, sizeof kEd25519SpkiPrefix) !=
          0) {
    return Error{"key in " + source + " is not an Ed25519 key"};
  }
  Ed25519PublicKey key;
  std::memcpy(key.data(), der.data() + sizeof kEd25519SpkiPrefix, key.size());
  // libsodium rejects every signature under such a key, so every decision
  // would fail as "signature invalid" without naming the file.
  if (crypto_core_ed25519_is_valid_point(key.data()) != 1) {
    return Error{"key in " + source +
                 " is not a valid Ed25519 public key: small order, not "
                 "canonical or not on the curve"};
  }
  return key;
}

SignatureCheck VerifyEd25519(const Ed25519PublicKey& key,
                             std::string_view message,
                             std::string_view signature) {
  if (!SodiumReady()) return SignatureCheck::kLibraryError;
  if (signature.size() != crypto_sign_ed25519_BYTES)
    return SignatureCheck::kInvalid;
  int rc = crypto_sign_ed25519_verify_detached(
      reinterpret_cast<const unsigned char*>(signature.data()),
      reinterpret_cast<const unsigned char*>(message.data()), message.size(),
      key.data());
  return rc == 0 ? SignatureCheck::kValid : SignatureCheck::kInvalid;
}

}  // namespace zsp

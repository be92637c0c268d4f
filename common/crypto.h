// SHA-256 and Ed25519 signature checks through libsodium. The modules use
// these instead of OpenSSL because every sudo and login pays for loading
// libcrypto.so.3 and for OpenSSL 3's provider set-up on its first call:
// 2.1 ms against 0.19 ms for libsodium in tests/bench/load.sh on a 2-core
// machine (docs/benchmarks.md). Signing stays with OpenSSL in the broker
// and zspctl (common/jws_sign.cc). Both implement RFC 8032's Ed25519.
#ifndef ZSP_COMMON_CRYPTO_H_
#define ZSP_COMMON_CRYPTO_H_

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace zsp {

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

// The 32 raw bytes of an Ed25519 public key (RFC 8032, section 5.1.5).
using Ed25519PublicKey = std::array<unsigned char, kEd25519PublicKeyBytes>;

// The lowercase hex SHA-256 of data, or "" if libsodium failed to start.
std::string Sha256Hex(std::string_view data);

// Key id of an Ed25519 key: the first 16 hex digits of the SHA-256 of its
// 32 raw public key bytes.
std::string Ed25519KeyId(const Ed25519PublicKey& key);

// Reads a PEM "PUBLIC KEY" block (a DER SubjectPublicKeyInfo, RFC 8410)
// that holds an Ed25519 key. Rejects text with more than one BEGIN or END
// line, markers that are not alone on their line, and keys that are not
// a point of the prime-order subgroup. source names the text in errors.
Result<Ed25519PublicKey> ParseEd25519PublicKeyPem(std::string_view pem,
                                                  const std::string& source);

enum class SignatureCheck {
  kValid,
  kInvalid,       // wrong length, or does not verify: tampering or wrong key
  kLibraryError,  // libsodium failed to start, so nothing was checked
};

// Checks an Ed25519 signature over message. libsodium also rejects
// non-canonical signatures and small-order keys, which no correct signer
// produces.
SignatureCheck VerifyEd25519(const Ed25519PublicKey& key,
                             std::string_view message,
                             std::string_view signature);

}  // namespace zsp

#endif  // ZSP_COMMON_CRYPTO_H_

// Ed25519 JWS compact serialization (RFC 7515, "alg":"EdDSA" from RFC 8037),
// the envelope in which the broker signs every decision.
#ifndef ZSP_COMMON_JWS_H_
#define ZSP_COMMON_JWS_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.h"
#include "common/handles.h"
#include "common/result.h"

namespace zsp {

// The header "typ" of a zsp decision.
inline constexpr char kDecisionJwsType[] = "zsp-decision+jwt";

// Longest compact JWS that VerifyJws accepts.
inline constexpr size_t kMaxJwsBytes = 64 * 1024;

// A public key pinned on the host, with its key id.
struct PinnedKey {
  std::string kid;
  Ed25519PublicKey key;
};

// Loads an Ed25519 public key from a PEM file.
Result<Ed25519PublicKey> LoadEd25519PublicKey(const std::string& path);

// Loads a key that a host trusts (decision_key, breakglass_key) like
// LoadEd25519PublicKey, and fails unless the file is owned by root and
// not writable by group or others, as zsp.conf must be. A user who can
// write the file can pin a key of their own and sign decisions or
// break-glass tokens for the host.
Result<Ed25519PublicKey> LoadHostPublicKey(const std::string& path);

// The functions from here to JwsStatus use OpenSSL and are defined in
// common/jws_sign.cc, which the modules do not link.

// Loads an Ed25519 private key from a PEM file.
Result<EvpPkeyPtr> LoadEd25519PrivateKey(const std::string& path);

// The raw public half of an Ed25519 key (public or private).
Result<Ed25519PublicKey> Ed25519PublicKeyOf(EVP_PKEY* key);

// Ed25519KeyId of the public half of key; "" if key is not Ed25519.
std::string Ed25519KeyId(EVP_PKEY* key);

// The public half of key, pinned under its key id.
Result<PinnedKey> PinnedKeyOf(EVP_PKEY* key);

// The 64-byte Ed25519 signature of message.
Result<std::string> SignEd25519(EVP_PKEY* private_key,
                                std::string_view message);

// Signs payload with header {"alg":"EdDSA","kid":KID,"typ":TYPE}.
Result<std::string> SignJws(EVP_PKEY* private_key, std::string_view payload,
                            std::string_view type);

enum class JwsStatus {
  kValid,
  kMalformed,     // not three base64url parts, bad header JSON, too long
  kUnknownKey,    // header kid matches no pinned key
  kBadSignature,  // signature does not verify: tampering or a wrong key
  kLibraryError,  // libsodium failed, so the token was not checked
};

struct VerifiedJws {
  JwsStatus status = JwsStatus::kMalformed;
  std::string payload;  // set only when status is kValid
  std::string detail;   // why, when status is not kValid
};

// Verifies a compact JWS against the pinned keys. Accepts only
// "alg":"EdDSA", requires "typ" == expected_type, and rejects any "crit".
VerifiedJws VerifyJws(std::string_view compact,
                      const std::vector<PinnedKey>& keys,
                      std::string_view expected_type);

}  // namespace zsp

#endif  // ZSP_COMMON_JWS_H_

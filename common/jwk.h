// JSON Web Keys (RFC 7517) and JWS signature checks for the algorithms
// that OpenID Connect providers use: RS256, PS256, ES256 and EdDSA. The
// keys come from a provider's JWKS document and the checks run through
// OpenSSL EVP. No HMAC algorithm and never "none" is supported, so a
// public key can never act as a shared secret.
#ifndef ZSP_COMMON_JWK_H_
#define ZSP_COMMON_JWK_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/handles.h"
#include "common/result.h"

namespace zsp {

// A public signing key from a JWKS document.
struct Jwk {
  std::string kid;  // may be empty
  std::string kty;  // "RSA", "EC" or "OKP"
  std::string alg;  // the JWK's "alg", or "" when it names none
  EvpPkeyPtr key;
};

// True for the algorithm names that VerifyJwsSignature supports.
bool IsSupportedJwsAlgorithm(std::string_view alg);

// Reads one JWK object. Rejects private keys (a "d" member), keys whose
// "use" is not "sig", RSA moduli under 2048 bits, EC curves other than
// P-256 and OKP curves other than Ed25519.
Result<Jwk> ParseJwk(const nlohmann::json& object);

// Reads the signing keys of a JWKS document ({"keys": [...]}). Keys of an
// unsupported type are skipped; a document with no usable key is an error.
Result<std::vector<Jwk>> ParseJwks(std::string_view text);

enum class SignatureStatus {
  kValid,
  kBadSignature,  // the signature does not verify with this key
  kWrongKey,      // the key type does not fit the algorithm
  kLibraryError,  // OpenSSL failed; says nothing about the token
};

// Checks a JWS signature over signing_input ("HEADER.PAYLOAD") with alg.
// ES256 signatures are the 64-byte R || S form of RFC 7518 section 3.4.
SignatureStatus VerifyJwsSignature(std::string_view alg, const Jwk& key,
                                   std::string_view signing_input,
                                   std::string_view signature);

}  // namespace zsp

#endif  // ZSP_COMMON_JWK_H_

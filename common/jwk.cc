#include "common/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <memory>

#include "common/base64url.h"

namespace zsp {
namespace {

using nlohmann::json;

using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ParamBldPtr =
    std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;
constexpr size_t kP256CoordinateBytes = 32;
constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kMaxJwksKeys = 32;

// The base64url member name of object, decoded; nullopt when missing or
// not base64url.
std::optional<std::string> DecodedMember(const json& object,
                                         const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return Base64UrlDecode(it->get<std::string>());
}

std::string StringMember(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

BignumPtr ToBignum(const std::string& bytes) {
  return BignumPtr(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                static_cast<int>(bytes.size()), nullptr));
}

// Builds an EVP_PKEY of type name ("RSA", "EC") from params.
Result<EvpPkeyPtr> KeyFromParams(const char* name, OSSL_PARAM_BLD* builder) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(builder));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, name, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return Error{"OpenSSL failed to set up a key"};
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) !=
      1) {
    return Error{"invalid " + std::string(name) + " key parameters"};
  }
  EvpPkeyPtr key(raw);
  // EVP_PKEY_fromdata does not check that an EC point lies on the curve.
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return Error{"invalid " + std::string(name) + " public key"};
  }
  return key;
}

Result<EvpPkeyPtr> ParseRsaKey(const json& object) {
  auto n = DecodedMember(object, "n");
  auto e = DecodedMember(object, "e");
  if (!n.has_value() || !e.has_value() || n->empty() || e->empty()) {
    return Error{"RSA key: n and e must be base64url"};
  }
  BignumPtr modulus = ToBignum(*n);
  BignumPtr exponent = ToBignum(*e);
  if (!modulus || !exponent) return Error{"OpenSSL failed to read n or e"};
  int bits = BN_num_bits(modulus.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return Error{"RSA key: modulus of " + std::to_string(bits) +
                 " bits, expected 2048 to 8192"};
  }
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N,
                             modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E,
                             exponent.get()) != 1) {
    return Error{"OpenSSL failed to set up an RSA key"};
  }
  return KeyFromParams("RSA", builder.get());
}

Result<EvpPkeyPtr> ParseEcKey(const json& object) {
  if (StringMember(object, "crv") != "P-256") {
    return Error{"EC key: only curve P-256 is supported"};
  }
  auto x = DecodedMember(object, "x");
  auto y = DecodedMember(object, "y");
  if (!x.has_value() || !y.has_value() || x->size() != kP256CoordinateBytes ||
      y->size() != kP256CoordinateBytes) {
    return Error{"EC key: x and y must be 32 bytes of base64url"};
  }
  // Uncompressed point: 0x04 || X || Y (SEC 1, section 2.3.3).
  std::string point = "\x04" + *x + *y;
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(),
                                      OSSL_PKEY_PARAM_GROUP_NAME,
                                      "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) != 1) {
    return Error{"OpenSSL failed to set up an EC key"};
  }
  return KeyFromParams("EC", builder.get());
}

Result<EvpPkeyPtr> ParseOkpKey(const json& object) {
  if (StringMember(object, "crv") != "Ed25519") {
    return Error{"OKP key: only curve Ed25519 is supported"};
  }
  auto x = DecodedMember(object, "x");
  if (!x.has_value() || x->size() != kEd25519KeyBytes) {
    return Error{"OKP key: x must be 32 bytes of base64url"};
  }
  EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(x->data()), x->size()));
  if (!key) return Error{"invalid Ed25519 public key"};
  return key;
}

// The key type that alg needs.
std::string KeyTypeOf(std::string_view alg) {
  if (alg == "RS256" || alg == "PS256") return "RSA";
  if (alg == "ES256") return "EC";
  if (alg == "EdDSA") return "OKP";
  return "";
}

// Converts a 64-byte R || S ES256 signature to the DER form OpenSSL
// verifies; returns "" when the size is wrong.
std::string EcdsaRawToDer(std::string_view raw) {
  if (raw.size() != 2 * kP256CoordinateBytes) return "";
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, kP256CoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + kP256CoordinateBytes, kP256CoordinateBytes,
                        nullptr);
  if (!sig || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return "";
  }
  unsigned char* der = nullptr;
  int size = i2d_ECDSA_SIG(sig.get(), &der);
  if (size <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(size));
  OPENSSL_free(der);
  return out;
}

}  // namespace

bool IsSupportedJwsAlgorithm(std::string_view alg) {
  return !KeyTypeOf(alg).empty();
}

Result<Jwk> ParseJwk(const json& object) {
  if (!object.is_object()) return Error{"a JWK must be a JSON object"};
  if (object.contains("d")) return Error{"JWK contains a private key"};
  std::string use = StringMember(object, "use");
  if (!use.empty() && use != "sig") return Error{"JWK use is not \"sig\""};
  Jwk jwk;
  jwk.kid = StringMember(object, "kid");
  jwk.kty = StringMember(object, "kty");
  jwk.alg = StringMember(object, "alg");
  if (!jwk.alg.empty() && !IsSupportedJwsAlgorithm(jwk.alg)) {
    return Error{"JWK alg \"" + jwk.alg + "\" is not supported"};
  }
  if (!jwk.alg.empty() && KeyTypeOf(jwk.alg) != jwk.kty) {
    return Error{"JWK alg \"" + jwk.alg + "\" does not fit kty"};
  }
  Result<EvpPkeyPtr> key = Error{"JWK kty \"" + jwk.kty + "\" is not supported"};
  if (jwk.kty == "RSA") key = ParseRsaKey(object);
  if (jwk.kty == "EC") key = ParseEcKey(object);
  if (jwk.kty == "OKP") key = ParseOkpKey(object);
  if (!key.ok()) return Error{key.error()};
  jwk.key = std::move(key.value());
  return jwk;
}

Result<std::vector<Jwk>> ParseJwks(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return Error{"JWKS is not a JSON object with a \"keys\" array"};
  }
  std::vector<Jwk> keys;
  std::string last_problem;
  for (const json& entry : doc["keys"]) {
    if (keys.size() >= kMaxJwksKeys) break;
    auto jwk = ParseJwk(entry);
    if (jwk.ok()) {
      keys.push_back(std::move(jwk.value()));
    } else {
      last_problem = jwk.error();
    }
  }
  if (keys.empty()) {
    return Error{"JWKS has no usable signing key" +
                 (last_problem.empty() ? "" : " (" + last_problem + ")")};
  }
  return keys;
}

SignatureStatus VerifyJwsSignature(std::string_view alg, const Jwk& key,
                                   std::string_view signing_input,
                                   std::string_view signature) {
  std::string kty = KeyTypeOf(alg);
  if (kty.empty() || kty != key.kty || !key.key) {
    return SignatureStatus::kWrongKey;
  }
  if (!key.alg.empty() && key.alg != alg) return SignatureStatus::kWrongKey;

  std::string der;
  std::string_view checked = signature;
  if (alg == "ES256") {
    der = EcdsaRawToDer(signature);
    if (der.empty()) return SignatureStatus::kBadSignature;
    checked = der;
  } else if (kty == "RSA" &&
             signature.size() !=
                 static_cast<size_t>(EVP_PKEY_get_size(key.key.get()))) {
    return SignatureStatus::kBadSignature;
  }

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return SignatureStatus::kLibraryError;
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = alg == "EdDSA" ? nullptr : EVP_sha256();
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.key.get()) !=
      1) {
    return SignatureStatus::kLibraryError;
  }
  if (alg == "PS256" &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1)) {
    return SignatureStatus::kLibraryError;
  }
  int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(checked.data()),
      checked.size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
      signing_input.size());
  if (rc == 1) return SignatureStatus::kValid;
  if (rc == 0) return SignatureStatus::kBadSignature;
  return SignatureStatus::kLibraryError;
}

}  // namespace zsp

#include "common/jws.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/base64url.h"

namespace zsp {
namespace {

constexpr size_t kEd25519RawBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;

std::string HexEncode(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

// The DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410) is this
// 12-byte prefix followed by the 32-byte key.
constexpr unsigned char kEd25519SpkiPrefix[] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

// Reads an Ed25519 public key in PEM without OpenSSL's decoder framework,
// which tries every format and provider and costs about 9 million
// instructions per process, most of what a cached sudo decision spends
// (callgrind). Returns nullptr for anything but one exact Ed25519 key
// block, and the caller then falls back to PEM_read_PUBKEY, which reports
// what is wrong.
EvpPkeyPtr ReadEd25519PemFast(FILE* file) {
  constexpr char kBegin[] = "-----BEGIN PUBLIC KEY-----";
  constexpr char kEnd[] = "-----END PUBLIC KEY-----";
  char buffer[1024];
  size_t size = fread(buffer, 1, sizeof buffer - 1, file);
  rewind(file);
  buffer[size] = '\0';
  const char* begin = std::strstr(buffer, kBegin);
  const char* end = begin != nullptr ? std::strstr(begin, kEnd) : nullptr;
  if (end == nullptr) return nullptr;
  std::string encoded;
  for (const char* c = begin + sizeof kBegin - 1; c < end; ++c) {
    if (*c != '\n' && *c != '\r') encoded += *c;
  }
  constexpr size_t kDerBytes = sizeof kEd25519SpkiPrefix + kEd25519RawBytes;
  // 44 bytes are 60 base64 characters, the last one "=" padding.
  if (encoded.size() != 60 || encoded[59] != '=' || encoded[58] == '=') {
    return nullptr;
  }
  unsigned char der[kDerBytes + 1];
  if (EVP_DecodeBlock(der, reinterpret_cast<const unsigned char*>(
                               encoded.data()),
                      static_cast<int>(encoded.size())) !=
      static_cast<int>(kDerBytes + 1)) {
    return nullptr;
  }
  if (std::memcmp(der, kEd25519SpkiPrefix, sizeof kEd25519SpkiPrefix) != 0) {
    return nullptr;
  }
  return EvpPkeyPtr(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, der + sizeof kEd25519SpkiPrefix,
      kEd25519RawBytes));
}

Result<EvpPkeyPtr> LoadPemKey(const std::string& path, bool want_private) {
  FilePtr file(fopen(path.c_str(), "re"));
  if (!file) return Error{"cannot open key file " + path};
  if (!want_private) {
    EvpPkeyPtr fast = ReadEd25519PemFast(file.get());
    if (fast) return fast;
  }
  EvpPkeyPtr key(want_private
                     ? PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr)
                     : PEM_read_PUBKEY(file.get(), nullptr, nullptr, nullptr));
  if (!key) return Error{"invalid PEM key in " + path};
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return Error{"key in " + path + " is not an Ed25519 key"};
  }
  return key;
}

VerifiedJws Fail(JwsStatus status, std::string detail) {
  VerifiedJws out;
  out.status = status;
  out.detail = std::move(detail);
  return out;
}

}  // namespace

std::string Ed25519KeyId(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_ED25519) return "";
  std::array<unsigned char, kEd25519RawBytes> raw{};
  size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &size) != 1 ||
      size != raw.size()) {
    return "";
  }
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(raw.data(), raw.size(), digest.data());
  return HexEncode(digest.data(), 8);
}

Result<EvpPkeyPtr> LoadEd25519PublicKey(const std::string& path) {
  return LoadPemKey(path, false);
}

Result<EvpPkeyPtr> LoadEd25519PrivateKey(const std::string& path) {
  return LoadPemKey(path, true);
}

Result<std::string> SignJws(EVP_PKEY* private_key, std::string_view payload,
                            std::string_view type) {
  std::string kid = Ed25519KeyId(private_key);
  if (kid.empty()) return Error{"signing key is not an Ed25519 key"};
  nlohmann::json header = {
      {"alg", "EdDSA"}, {"kid", kid}, {"typ", std::string(type)}};
  std::string input =
      Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload);

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return Error{"EVP_MD_CTX_new failed"};
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, private_key) !=
      1) {
    return Error{"EVP_DigestSignInit failed"};
  }
  std::array<unsigned char, kEd25519SignatureBytes> sig{};
  size_t sig_size = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &sig_size,
                     reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1 ||
      sig_size != sig.size()) {
    return Error{"EVP_DigestSign failed"};
  }
  std::string_view sig_bytes(reinterpret_cast<const char*>(sig.data()),
                             sig_size);
  return input + "." + Base64UrlEncode(sig_bytes);
}

VerifiedJws VerifyJws(std::string_view compact,
                      const std::vector<PinnedKey>& keys,
                      std::string_view expected_type) {
  if (compact.size() > kMaxJwsBytes) {
    return Fail(JwsStatus::kMalformed, "token too long");
  }
  size_t dot1 = compact.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1
                                                : compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos ||
      compact.find('.', dot2 + 1) != std::string_view::npos) {
    return Fail(JwsStatus::kMalformed, "not a compact JWS");
  }
  auto header_json = Base64UrlDecode(compact.substr(0, dot1));
  auto payload = Base64UrlDecode(compact.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = Base64UrlDecode(compact.substr(dot2 + 1));
  if (!header_json || !payload || !signature) {
    return Fail(JwsStatus::kMalformed, "invalid base64url");
  }

  auto header = nlohmann::json::parse(*header_json, nullptr, false);
  if (!header.is_object()) return Fail(JwsStatus::kMalformed, "bad header");
  auto alg = header.find("alg");
  auto kid = header.find("kid");
  auto typ = header.find("typ");
  if (alg == header.end() || !alg->is_string() || *alg != "EdDSA") {
    return Fail(JwsStatus::kMalformed, "algorithm is not EdDSA");
  }
  if (typ == header.end() || !typ->is_string() || *typ != expected_type) {
    return Fail(JwsStatus::kMalformed, "unexpected token type");
  }
  if (header.contains("crit")) {
    return Fail(JwsStatus::kMalformed, "unsupported crit header");
  }
  if (kid == header.end() || !kid->is_string()) {
    return Fail(JwsStatus::kUnknownKey, "no key id");
  }
  const PinnedKey* pinned = nullptr;
  for (const auto& k : keys) {
    if (k.kid == kid->get<std::string>()) pinned = &k;
  }
  if (pinned == nullptr) return Fail(JwsStatus::kUnknownKey, "unknown key id");
  if (signature->size() != kEd25519SignatureBytes) {
    return Fail(JwsStatus::kBadSignature, "wrong signature length");
  }

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr,
                                   pinned->key.get()) != 1) {
    return Fail(JwsStatus::kLibraryError, "EVP_DigestVerifyInit failed");
  }
  std::string_view input = compact.substr(0, dot2);
  int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()),
      signature->size(), reinterpret_cast<const unsigned char*>(input.data()),
      input.size());
  if (rc == 0) return Fail(JwsStatus::kBadSignature, "signature invalid");
  if (rc != 1) {
    return Fail(JwsStatus::kLibraryError, "EVP_DigestVerify failed");
  }
  VerifiedJws out;
  out.status = JwsStatus::kValid;
  out.payload = std::move(*payload);
  return out;
}

}  // namespace zsp

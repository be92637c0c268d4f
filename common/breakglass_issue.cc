// The signing half of common/breakglass.h, with OpenSSL, for zspctl. The
// modules only verify tokens and link none of this file.
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/breakglass.h"
#include "common/breakglass_parts.h"
#include "common/jws.h"

namespace zsp {
namespace {

using nlohmann::json;

constexpr size_t kIdHexDigits = 16;

// The base64url Ed25519 signature of input by key.
Result<std::string> Sign(EVP_PKEY* key, const std::string& input) {
  auto signature = SignEd25519(key, input);
  if (!signature.ok()) return Error{signature.error()};
  return Base64UrlEncode(signature.value());
}

}  // namespace

std::string NewBreakGlassId() {
  unsigned char bytes[kIdHexDigits / 2];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "";
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id = "bg-";
  for (unsigned char b : bytes) {
    id += kDigits[b >> 4];
    id += kDigits[b & 15];
  }
  return id;
}

Result<std::string> IssueBreakGlassToken(const BreakGlassToken& t,
                                         EVP_PKEY* private_key) {
  std::string problem = CheckBreakGlassFields(t);
  if (!problem.empty()) return Error{problem};
  std::string kid = Ed25519KeyId(private_key);
  if (kid.empty()) return Error{"signing key is not an Ed25519 key"};
  json payload = {
      {"id", t.id},       {"user", t.user},     {"host", t.host_pattern},
      {"scope", t.scope}, {"reason", t.reason}, {"nbf", t.not_before},
      {"exp", t.expires}};
  if (t.scope != "login") payload["runas"] = t.runas;
  std::string payload_b64 = Base64UrlEncode(payload.dump());
  auto signature = Sign(private_key, BreakGlassSigningInput(payload_b64));
  if (!signature.ok()) return Error{signature.error()};
  std::string text =
      BreakGlassSigningInput(payload_b64) + "." + kid + "." + signature.value();
  if (text.size() > kMaxBreakGlassTokenBytes) {
    return Error{"token would be longer than " +
                 std::to_string(kMaxBreakGlassTokenBytes) +
                 " bytes; shorten the reason or the host pattern"};
  }
  return text;
}

Result<std::string> AddBreakGlassSignature(std::string_view text,
                                           EVP_PKEY* private_key) {
  auto parts = SplitBreakGlassToken(text);
  if (!parts.ok()) return Error{parts.error()};
  auto decoded = DecodeBreakGlassPayload(parts.value().payload_b64);
  if (!decoded.ok()) return Error{decoded.error()};
  std::string kid = Ed25519KeyId(private_key);
  if (kid.empty()) return Error{"signing key is not an Ed25519 key"};
  for (const auto& [signer, signature] : parts.value().signatures) {
    if (signer == kid) return Error{"key " + kid + " has already signed"};
  }
  if (parts.value().signatures.size() >= kMaxBreakGlassSignatures) {
    return Error{"token already has the maximum number of signatures"};
  }
  auto signature =
      Sign(private_key, BreakGlassSigningInput(parts.value().payload_b64));
  if (!signature.ok()) return Error{signature.error()};
  std::string out = BreakGlassSigningInput(parts.value().payload_b64);
  for (const auto& [signer, existing] : parts.value().signatures) {
    out += "." + signer + "." + existing;
  }
  out += "." + kid + "." + signature.value();
  if (out.size() > kMaxBreakGlassTokenBytes) {
    return Error{"token would be longer than " +
                 std::to_string(kMaxBreakGlassTokenBytes) + " bytes"};
  }
  return out;
}

}  // namespace zsp

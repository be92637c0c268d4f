#include "common/decision.h"

#include <openssl/rand.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/https_client.h"

namespace zsp {
namespace {

using nlohmann::json;

constexpr size_t kMaxBrokerResponseBytes = 128 * 1024;

Decision Invalid(std::string detail) {
  Decision d;
  d.verdict = Verdict::kInvalid;
  d.detail = std::move(detail);
  return d;
}

bool StringClaimIs(const json& claims, const char* name,
                   const std::string& expected) {
  auto it = claims.find(name);
  return it != claims.end() && it->is_string() &&
         it->get_ref<const std::string&>() == expected;
}

bool IntClaim(const json& claims, const char* name, int64_t* out) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number_integer()) return false;
  *out = it->get<int64_t>();
  return true;
}

std::string StringClaim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// Checks that the claims answer this question; returns "" or the mismatch.
std::string MatchQuestion(const json& claims, const DecisionQuery& query,
                          const std::string& nonce) {
  if (!StringClaimIs(claims, "iss", "zsp-broker")) return "wrong issuer";
  auto ver = claims.find("ver");
  if (ver == claims.end() || *ver != 1) return "unsupported version";
  if (!StringClaimIs(claims, "sub", query.user)) return "wrong user";
  if (!StringClaimIs(claims, "host", query.host)) return "wrong host";
  if (!StringClaimIs(claims, "kind", query.kind)) return "wrong kind";
  if (!StringClaimIs(claims, "runas", query.runas)) return "wrong run-as user";
  if (!StringClaimIs(claims, "nonce", nonce)) return "wrong nonce (replay)";
  auto argv = claims.find("argv");
  if (argv == claims.end() || !argv->is_array() ||
      argv->size() != query.argv.size()) {
    return "wrong command";
  }
  for (size_t i = 0; i < query.argv.size(); ++i) {
    if (!(*argv)[i].is_string() || (*argv)[i] != query.argv[i]) {
      return "wrong command";
    }
  }
  return "";
}

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kDeny:
      return "deny";
    case Verdict::kUnavailable:
      return "unavailable";
    case Verdict::kInvalid:
      return "invalid";
    case Verdict::kError:
      return "error";
  }
  return "error";
}

Result<std::vector<PinnedKey>> LoadPinnedKeys(const HostConfig& config) {
  std::vector<PinnedKey> keys;
  for (const auto& path : config.decision_keys) {
    auto key = LoadEd25519PublicKey(path);
    if (!key.ok()) return Error{key.error()};
    std::string kid = Ed25519KeyId(key.value().get());
    keys.push_back({kid, std::move(key).value()});
  }
  return keys;
}

std::string NewNonce() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "";
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

Decision CheckSignedDecision(std::string_view jws,
                             const std::vector<PinnedKey>& keys,
                             const DecisionQuery& query,
                             const std::string& nonce, int64_t now,
                             int64_t clock_skew) {
  VerifiedJws verified = VerifyJws(jws, keys, kDecisionJwsType);
  if (verified.status == JwsStatus::kLibraryError) {
    Decision d;
    d.verdict = Verdict::kError;
    d.detail = "signature check failed: " + verified.detail;
    return d;
  }
  if (verified.status != JwsStatus::kValid) {
    return Invalid("decision rejected: " + verified.detail);
  }
  json claims = json::parse(verified.payload, nullptr, false);
  if (!claims.is_object()) return Invalid("signed payload is not an object");
  std::string mismatch = MatchQuestion(claims, query, nonce);
  if (!mismatch.empty()) return Invalid("decision rejected: " + mismatch);

  int64_t iat = 0;
  int64_t exp = 0;
  if (!IntClaim(claims, "iat", &iat) || !IntClaim(claims, "exp", &exp)) {
    return Invalid("decision rejected: missing iat or exp");
  }
  if (iat > now + clock_skew) return Invalid("decision issued in the future");
  if (exp < now - clock_skew) return Invalid("decision expired");

  std::string verdict = StringClaim(claims, "decision");
  Decision d;
  if (verdict == "deny") {
    d.verdict = Verdict::kDeny;
    d.code = StringClaim(claims, "code");
    d.message = StringClaim(claims, "message");
    return d;
  }
  if (verdict != "allow") return Invalid("decision rejected: no verdict");
  if (!IntClaim(claims, "grant_exp", &d.grant_expires) ||
      d.grant_expires <= now) {
    return Invalid("decision rejected: grant already ended");
  }
  d.grant = StringClaim(claims, "grant");
  d.request = StringClaim(claims, "request");
  if (d.grant.empty()) return Invalid("decision rejected: no grant id");
  d.verdict = Verdict::kAllow;
  return d;
}

Decision AskBroker(const HostConfig& config,
                   const std::vector<PinnedKey>& keys,
                   const DecisionQuery& query) {
  Decision d;
  std::string nonce = NewNonce();
  if (nonce.empty()) {
    d.detail = "no random bytes for the nonce";
    return d;
  }
  json body = {{"user", query.user},   {"host", query.host},
               {"kind", query.kind},   {"runas", query.runas},
               {"argv", query.argv},   {"nonce", nonce}};

  HttpsOptions options;
  options.ca_file = config.ca_file;
  options.client_cert = config.client_cert;
  options.client_key = config.client_key;
  options.connect_timeout_ms = config.connect_timeout_ms;
  options.total_timeout_ms = config.timeout_ms;
  options.max_response_bytes = kMaxBrokerResponseBytes;
  std::string url = config.broker_url + "/v1/decisions";
  auto response = HttpsRequest(options, "POST", url,
                               body.dump(-1, ' ', false,
                                         json::error_handler_t::replace));
  if (!response.ok()) {
    d.verdict = Verdict::kUnavailable;
    d.detail = response.error();
    return d;
  }
  if (response.value().status != 200) {
    d.verdict = Verdict::kUnavailable;
    d.detail = "broker answered HTTP " + std::to_string(response.value().status);
    return d;
  }
  json answer = json::parse(response.value().body, nullptr, false);
  auto token = answer.is_object() ? answer.find("jws") : answer.end();
  if (!answer.is_object() || token == answer.end() || !token->is_string()) {
    return Invalid("broker answer has no jws field");
  }
  return CheckSignedDecision(token->get<std::string>(), keys, query, nonce,
                             static_cast<int64_t>(std::time(nullptr)),
                             config.clock_skew_sec);
}

}  // namespace zsp

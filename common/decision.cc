#include "common/decision.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "common/base64url.h"
#include "common/decision_relay.h"
#include "common/escape.h"
#include "common/https_client.h"
#include "common/strict_json.h"

namespace zsp {
namespace {

using nlohmann::json;

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

bool StringArrayClaimIs(const json& claims, const char* name,
                        const std::vector<std::string>& expected) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_array() || it->size() != expected.size()) {
    return false;
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!(*it)[i].is_string() || (*it)[i] != expected[i]) return false;
  }
  return true;
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
  if (!StringClaimIs(claims, "runas_group", query.runas_group)) {
    return "wrong run-as group";
  }
  if (!StringClaimIs(claims, "nonce", nonce)) return "wrong nonce (replay)";
  if (!StringArrayClaimIs(claims, "argv", query.argv)) return "wrong command";
  if (!StringArrayClaimIs(claims, "env", query.env)) {
    return "wrong environment variables";
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
    auto key = LoadHostPublicKey(path);
    if (!key.ok()) return Error{key.error()};
    std::string kid = Ed25519KeyId(key.value());
    keys.push_back({kid, std::move(key).value()});
  }
  return keys;
}

// The nonce comes from the kernel's generator through getrandom(2), not
// RAND_bytes: the module then never sets up OpenSSL's random generator,
// which costs about a millisecond in every new sudo or login process.
std::string NewNonce() {
  unsigned char bytes[16];
  ssize_t got;
  do {
    got = getrandom(bytes, sizeof bytes, 0);
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof bytes)) return "";
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
  json claims = ParseStrictJson(verified.payload);
  if (!claims.is_object()) return Invalid("signed payload is not an object");
  std::string mismatch = MatchQuestion(claims, query, nonce);
  if (!mismatch.empty()) return Invalid("decision rejected: " + mismatch);

  int64_t iat = 0;
  int64_t exp = 0;
  if (!IntClaim(claims, "iat", &iat) || !IntClaim(claims, "exp", &exp)) {
    return Invalid("decision rejected: missing iat or exp");
  }
  if (iat > now + clock_skew || exp < now - clock_skew) {
    Decision d = Invalid(iat > now + clock_skew
                             ? "decision issued in the future"
                             : "decision expired");
    d.detail += " (issued at " + std::to_string(iat) + ", expires at " +
                std::to_string(exp) + ", this host's clock reads " +
                std::to_string(now) + ")";
    d.clock_mismatch = true;
    return d;
  }

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
      d.grant_expires <= iat) {
    return Invalid("decision rejected: grant ended before it was signed");
  }
  if (d.grant_expires <= now) {
    // The broker's clock still saw time left. This host's clock is ahead
    // (within clock_skew), so the grant counts as ended here.
    d.verdict = Verdict::kDeny;
    d.code = "expired";
    d.message = "the grant has ended by this host's clock, which is ahead "
                "of the broker's; an administrator should check the clocks";
    return d;
  }
  // The shorter of the two clocks' views, so that a broker clock ahead of
  // this host's cannot stretch sudo's time limit.
  d.seconds_left = d.grant_expires - std::max(now, iat);
  d.grant = StringClaim(claims, "grant");
  d.request = StringClaim(claims, "request");
  if (d.grant.empty()) return Invalid("decision rejected: no grant id");
  d.verdict = Verdict::kAllow;
  return d;
}

Decision CheckBrokerResponse(long status, std::string_view body,
                             const std::vector<PinnedKey>& keys,
                             const DecisionQuery& query,
                             const std::string& nonce, int64_t now,
                             int64_t clock_skew) {
  if (status != 200) {
    Decision d;
    d.verdict = Verdict::kUnavailable;
    d.detail = "broker answered HTTP " + std::to_string(status);
    bool client_error = status >= 400 && status < 500 && status != 404 &&
                        status != 408 && status != 429;
    if (client_error) {
      d.rejected = true;
      d.detail = "broker rejected the request with HTTP " +
                 std::to_string(status);
      // The broker's error body: {"error": code, "message": text}.
      json error = body.size() <= kMaxBrokerResponseBytes
                       ? ParseStrictJson(body)
                       : json(json::value_t::discarded);
      auto message = error.is_object() ? error.find("message") : error.end();
      if (error.is_object() && message != error.end() &&
          message->is_string()) {
        d.detail += ": " + EscapeForLog(message->get<std::string>(), 256);
      }
    }
    return d;
  }
  if (body.size() > kMaxBrokerResponseBytes) {
    return Invalid("broker answer is larger than " +
                   std::to_string(kMaxBrokerResponseBytes) + " bytes");
  }
  json answer = ParseStrictJson(body);
  if (!answer.is_object()) {
    return Invalid("broker answer is not a JSON object with unique keys");
  }
  auto token = answer.find("jws");
  if (token == answer.end() || !token->is_string()) {
    return Invalid("broker answer has no jws string");
  }
  Decision d = CheckSignedDecision(token->get_ref<const std::string&>(),
                                   keys, query, nonce, now, clock_skew);
  if (d.verdict == Verdict::kAllow) {
    d.token = token->get<std::string>();
    d.nonce = nonce;
  }
  return d;
}

namespace {

// Asks the broker at base_url once, with at most time_left_ms for the
// whole exchange.
Decision AskOneBroker(const HostConfig& config,
                      const std::vector<PinnedKey>& keys,
                      const DecisionQuery& query, const std::string& base_url,
                      long time_left_ms) {
  Decision d;
  std::string nonce = NewNonce();
  if (nonce.empty()) {
    d.detail = "no random bytes for the nonce";
    return d;
  }
  HttpsOptions options;
  options.ca_file = config.ca_file;
  options.client_cert = config.client_cert;
  options.client_key = config.client_key;
  options.connect_timeout_ms = std::min(config.connect_timeout_ms,
                                        time_left_ms);
  options.total_timeout_ms = time_left_ms;
  options.max_response_bytes = kMaxBrokerResponseBytes;
  bool failed_here = false;
  options.failed_here = &failed_here;
  auto response = HttpsRequest(options, "POST", base_url + "/v1/decisions",
                               DecisionRequestBody(query, nonce));
  if (!response.ok() && failed_here) {
    // Not an outage: no broker was asked, so break-glass is not offered.
    d.verdict = Verdict::kError;
    d.detail = "this host could not send the request: " + response.error();
    return d;
  }
  if (!response.ok()) {
    d.verdict = Verdict::kUnavailable;
    d.detail = response.error();
    return d;
  }
  return CheckBrokerResponse(response.value().status, response.value().body,
                             keys, query, nonce,
                             static_cast<int64_t>(std::time(nullptr)),
                             config.clock_skew_sec);
}

// Asks through zsp-agent's relay with at most timeout_ms. Any verdict but
// kAllow and kDeny means the caller goes on with the direct path. When the
// agent reports the broker URLs it tried in vain, they go to failed_urls.
Decision AskThroughAgent(const HostConfig& config,
                         const std::vector<PinnedKey>& keys,
                         const DecisionQuery& query, long timeout_ms,
                         std::vector<std::string>* failed_urls) {
  Decision d;
  std::string nonce = NewNonce();
  if (nonce.empty()) {
    d.detail = "no random bytes for the nonce";
    return d;
  }
  RelayRequest request;
  request.body = DecisionRequestBody(query, nonce);
  long wait_ms = std::max(timeout_ms, kMinRelayTimeoutMs);
  request.timeout_ms =
      std::max(wait_ms - kRelayReplyMarginMs, kMinRelayTimeoutMs);
  auto reply =
      RelayThroughAgent(config.agent_socket, request, wait_ms, failed_urls);
  if (!reply.ok()) {
    d.verdict = Verdict::kUnavailable;
    d.detail = reply.error();
    return d;
  }
  d = CheckBrokerResponse(reply.value().status, reply.value().body, keys,
                          query, nonce,
                          static_cast<int64_t>(std::time(nullptr)),
                          config.clock_skew_sec);
  if (d.verdict != Verdict::kAllow && d.verdict != Verdict::kDeny &&
      d.detail.empty()) {
    d.detail = "no verified answer";
  }
  return d;
}

// Tries each broker URL in turn over HTTPS until deadline.
// The configured broker URLs with those in try_last moved to the end,
// each group in configuration order. Entries of try_last that are not
// configured change nothing.
std::vector<std::string> DirectOrder(const std::vector<std::string>& urls,
                                     const std::vector<std::string>& try_last) {
  std::vector<std::string> first;
  std::vector<std::string> last;
  for (const auto& url : urls) {
    bool tried = std::find(try_last.begin(), try_last.end(), url) !=
                 try_last.end();
    (tried ? last : first).push_back(url);
  }
  first.insert(first.end(), last.begin(), last.end());
  return first;
}

Decision AskBrokerDirect(const HostConfig& config,
                         const std::vector<PinnedKey>& keys,
                         const DecisionQuery& query,
                         std::chrono::steady_clock::time_point deadline,
                         const std::vector<std::string>& try_last) {
  using Clock = std::chrono::steady_clock;
  Decision d;
  d.verdict = Verdict::kUnavailable;
  d.detail = "no broker_url configured";
  std::string failures;
  for (const auto& url : DirectOrder(config.broker_urls, try_last)) {
    long time_left_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                              Clock::now())
            .count());
    if (!failures.empty()) failures += "; ";
    if (time_left_ms <= 0) {
      failures += url + ": not tried, timeout_ms used up";
      continue;
    }
    Decision one = AskOneBroker(config, keys, query, url, time_left_ms);
    if (one.verdict != Verdict::kUnavailable || one.rejected) return one;
    failures += url + ": " + one.detail;
  }
  if (!failures.empty()) d.detail = failures;
  return d;
}

}  // namespace

std::string DecisionRequestBody(const DecisionQuery& query,
                                const std::string& nonce) {
  json body = {{"user", query.user},   {"host", query.host},
               {"kind", query.kind},   {"runas", query.runas},
               {"argv", query.argv},   {"runas_group", query.runas_group},
               {"env", query.env},     {"nonce", nonce}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Decision AskBroker(const HostConfig& config,
                   const std::vector<PinnedKey>& keys,
                   const DecisionQuery& query) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point requested_at = Clock::now();
  const Clock::time_point deadline =
      requested_at + std::chrono::milliseconds(config.timeout_ms);
  std::string relay_problem;
  std::vector<std::string> relay_failed_urls;
  if (config.decision_relay == DecisionRelay::kAgent) {
    long share = static_cast<long>(config.timeout_ms * kRelayShareOfTimeout);
    Decision relayed =
        AskThroughAgent(config, keys, query, share, &relay_failed_urls);
    if (relayed.verdict == Verdict::kAllow ||
        relayed.verdict == Verdict::kDeny) {
      relayed.path = "agent";
      relayed.requested_at = requested_at;
      return relayed;
    }
    relay_problem = std::string(VerdictName(relayed.verdict)) + ": " +
                    relayed.detail;
  }
  Decision direct =
      AskBrokerDirect(config, keys, query, deadline, relay_failed_urls);
  direct.path = "direct";
  direct.relay_problem = relay_problem;
  direct.requested_at = requested_at;
  return direct;
}

}  // namespace zsp

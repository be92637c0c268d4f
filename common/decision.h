// Asking the broker for a signed decision and checking it. The host trusts
// only what the signed token contains, and only if it answers the exact
// question asked (user, host, kind, run-as user and group, argv,
// environment names, nonce) and is fresh.
#ifndef ZSP_COMMON_DECISION_H_
#define ZSP_COMMON_DECISION_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/jws.h"

namespace zsp {

struct DecisionQuery {
  std::string user;
  std::string host;
  std::string kind;   // "sudo" or "login"
  std::string runas;  // sudo only
  std::vector<std::string> argv;  // sudo only; argv[0] absolute
  // sudo only: the group given with -g ("" without -g), and the variable
  // names the user sets, sorted, with "*" last for -E.
  std::string runas_group;
  std::vector<std::string> env;
};

enum class Verdict {
  kAllow,
  kDeny,          // a valid, signed denial
  kUnavailable,   // the broker could not be reached or did not answer
  kInvalid,       // an answer that failed verification: treat as an attack
  kError,         // a local failure (keys, memory)
};

struct Decision {
  Verdict verdict = Verdict::kError;
  std::string code;     // deny: no_grant, expired or revoked
  std::string message;  // deny: the broker's sentence for the user
  std::string detail;   // why, for the log, when not kAllow or kDeny
  std::string grant;    // allow: grant id
  std::string request;  // allow: request id
  int64_t grant_expires = 0;  // allow: Unix seconds
  // allow: seconds left on the grant by the broker's clock when it signed
  // (grant_exp - iat), or by this host's clock if that is less.
  int64_t seconds_left = 0;
  // kUnavailable: the broker returned a client error (HTTP 4xx other than
  // 404, 408 and 429), so a retry here or at another broker cannot help.
  bool rejected = false;
  // kInvalid: the decision's issue or expiry time is outside this host's
  // clock, with clock_skew allowed, which a wrong clock on either side
  // causes as often as a replay does.
  bool clock_mismatch = false;
  // allow from AskBroker: the signed token and the nonce it answers, so
  // that the decision can be cached and checked again (decision_cache.h),
  // and so that zsp-agent can verify it before it places work under the
  // grant.
  std::string token;
  std::string nonce;
  // allow: taken from the local decision cache, not asked of the broker.
  bool cached = false;
  // The path the decision came by: "agent" (relayed by zsp-agent),
  // "direct" (the module's own HTTPS request) or "cache". Empty when no
  // broker was asked.
  std::string path;
  // Why the relay through zsp-agent returned no verified decision, when
  // the direct path was used after trying it.
  std::string relay_problem;
  // The time when AskBroker or AskBrokerCached began the request that
  // gave this decision. The placement that follows an allow shares timeout_ms with
  // it (PlacementWaitMs in agent_protocol.h).
  std::chrono::steady_clock::time_point requested_at{};
};

const char* VerdictName(Verdict verdict);

// Loads the pinned decision keys listed in the configuration.
Result<std::vector<PinnedKey>> LoadPinnedKeys(const HostConfig& config);

// Returns 16 random bytes as base64url, or "" if the RNG failed.
std::string NewNonce();

// Checks a compact JWS from the broker against the question and the time.
// Never returns kUnavailable.
Decision CheckSignedDecision(std::string_view jws,
                             const std::vector<PinnedKey>& keys,
                             const DecisionQuery& query,
                             const std::string& nonce, int64_t now,
                             int64_t clock_skew);

// Part of timeout_ms that the relay through zsp-agent may use, so that at
// least the rest is left for the direct path after a stalled agent.
inline constexpr double kRelayShareOfTimeout = 0.5;
// The module requests this much less time from the agent than its relay
// share and waits the whole share, so that the agent's failure reply,
// which names the brokers it tried, arrives while the module still waits.
inline constexpr long kRelayReplyMarginMs = 100;

// The JSON body of POST /v1/decisions for query and nonce.
std::string DecisionRequestBody(const DecisionQuery& query,
                                const std::string& nonce);

// Largest broker response body that AskBroker reads.
inline constexpr size_t kMaxBrokerResponseBytes = 128 * 1024;

// Turns one HTTP response from the broker into a decision. A status other
// than 200 is kUnavailable. A 200 body must be a JSON object whose "jws"
// member is a string, with no duplicate keys and nesting depth of at most
// 8; otherwise the answer is kInvalid. The token is then checked as in
// CheckSignedDecision.
Decision CheckBrokerResponse(long status, std::string_view body,
                             const std::vector<PinnedKey>& keys,
                             const DecisionQuery& query,
                             const std::string& nonce, int64_t now,
                             int64_t clock_skew);

// Sends the query over mutual TLS to each configured broker URL in turn,
// within one deadline of config.timeout_ms for all of them. Only kUnavailable
// (transport failure, timeout, HTTP error status) moves on to the next URL;
// any other verdict, a signed denial included, is final.
//
// With decision_relay = agent the query first goes through zsp-agent
// (decision_relay.h), for at most kRelayShareOfTimeout of timeout_ms. Only
// a verified allow or a verified denial from that path is final; anything
// else (agent down, timeout, refusal, malformed reply, HTTP error, a token
// that fails verification) falls back to the direct path above within the
// time that is left, and Decision::relay_problem records why. The direct
// path then tries last the broker URLs that the agent reports it tried
// without a response, keeping configuration order otherwise.
Decision AskBroker(const HostConfig& config,
                   const std::vector<PinnedKey>& keys,
                   const DecisionQuery& query);

}  // namespace zsp

#endif  // ZSP_COMMON_DECISION_H_

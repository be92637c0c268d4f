// Decision requests relayed through zsp-agent, which keeps a mutual-TLS
// connection to the broker open, so that sudo_zsp and pam_zsp neither load
// libcurl nor make a TLS handshake of their own. The agent only carries
// bytes: the module sends the body it would POST to /v1/decisions, with its
// own fresh nonce, and verifies the broker's signed response exactly as on
// the direct path. A faulty or hostile agent can therefore cause a denial
// or a fallback to the direct path, never an allow.
//
// Over the agent's root-only socket (one request per connection) the
// client sends one line of JSON:
//   {"op":"decide","timeout_ms":2500,"body":"<request body as a string>"}
// and the agent replies with a header line, followed on success by exactly
// "length" bytes of the broker's response body, unchanged:
//   {"ok":true,"status":200,"length":812}\n<812 bytes>
//   {"ok":false,"error":"why","failed_urls":["https://..."]}\n
// where failed_urls, which may be missing, lists the broker_url entries
// that the agent tried without a final response, so that the module's
// direct path can try the others first.
#ifndef ZSP_COMMON_DECISION_RELAY_H_
#define ZSP_COMMON_DECISION_RELAY_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace zsp {

// Largest request body relayed; the broker's own limit for a request body.
inline constexpr size_t kMaxRelayBodyBytes = 64 * 1024;
// Longest decide line the agent reads, newline included: the body with
// every byte escaped as \u00XX, and the JSON around it.
inline constexpr size_t kMaxRelayRequestBytes = 6 * kMaxRelayBodyBytes + 256;
// Largest response body relayed; kMaxBrokerResponseBytes in decision.h.
inline constexpr size_t kMaxRelayResponseBytes = 128 * 1024;
// Longest reply header line a client reads, newline included: room for
// an error and failed_urls that name every broker_url.
inline constexpr size_t kMaxRelayHeaderBytes = 16 * 1024;
// Maximum number of failed_urls entries a client reads, and maximum
// length of one entry.
inline constexpr size_t kMaxRelayFailedUrls = 8;
inline constexpr size_t kMaxRelayFailedUrlBytes = 1024;
// Range of the time limit a client may ask for, in milliseconds.
inline constexpr long kMinRelayTimeoutMs = 1;
inline constexpr long kMaxRelayTimeoutMs = 60000;

struct RelayRequest {
  std::string body;     // the JSON body for POST /v1/decisions
  long timeout_ms = 0;  // how long the client waits for the reply
};

struct RelayReply {
  bool ok = false;
  long status = 0;     // ok: the broker's HTTP status
  std::string body;    // ok: the broker's response body, unchanged
  std::string error;   // !ok: why no response is relayed
  // !ok: the broker_url entries tried without a final response
  std::vector<std::string> failed_urls;
};

// Returns the "op" member of an agent request line, or "" when the line is
// not a JSON object with a string op. The agent dispatches on it.
std::string AgentRequestOp(std::string_view line);

// The decide request line, with its trailing newline.
std::string EncodeRelayRequest(const RelayRequest& request);

// Reads a decide request line (without its newline). Rejects unknown
// members, a body over kMaxRelayBodyBytes and a timeout out of range.
Result<RelayRequest> ParseRelayRequest(std::string_view line);

// The reply: the header line and, when ok, the body bytes.
std::string EncodeRelayReply(const RelayReply& reply);

// A parsed reply header line.
struct RelayReplyHeader {
  bool ok = false;
  long status = 0;
  size_t length = 0;  // ok: body bytes that follow the header
  std::string error;  // !ok
  std::vector<std::string> failed_urls;  // !ok
};

// Reads a reply header line (without its newline). Rejects a status
// outside 100 to 599, a length over kMaxRelayResponseBytes and a
// failed_urls that is not a list of at most kMaxRelayFailedUrls strings of
// at most kMaxRelayFailedUrlBytes.
Result<RelayReplyHeader> ParseRelayReplyHeader(std::string_view line);

// Parses a whole reply: header line, newline and exactly the announced
// number of body bytes, nothing more.
Result<RelayReply> ParseRelayReply(std::string_view reply);

// Connects to the agent at socket_path, checks that it runs as root
// (SO_PEERCRED), sends the request and waits at most request.timeout_ms
// for the whole reply. An error means no usable reply was read: the agent
// is not running, not root, too slow, refused or sent a malformed reply.
Result<RelayReply> RelayThroughAgent(const std::string& socket_path,
                                     const RelayRequest& request);

// As above, but waits wait_ms for the reply, so that a client can request
// less time from the agent than it waits and still read its failure.
// On a refusal, failed_urls receives the reply's failed_urls.
Result<RelayReply> RelayThroughAgent(const std::string& socket_path,
                                     const RelayRequest& request,
                                     long wait_ms,
                                     std::vector<std::string>* failed_urls);

}  // namespace zsp

#endif  // ZSP_COMMON_DECISION_RELAY_H_

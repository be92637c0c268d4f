// The protocol between pam_zsp or sudo_zsp and zsp-agent on the same host,
// over the agent's root-only unix stream socket. One request per
// connection: the client sends one line of JSON, either
//   {"op":"place","decision":"<compact JWS>"}
//   {"op":"place","breakglass":"<break-glass token>"}
// and the agent places the client process (the pid that SO_PEERCRED
// reports, never a pid from the message) in the cgroup of the grant that
// the signed decision names, or of the break-glass token, under the
// token's id. Then it replies with one line:
//   {"ok":true,"grant":"g-...","cgroup":"/zsp/g-..."}
//   {"ok":false,"error":"why"}
// Children the client starts afterwards inherit the cgroup.
#ifndef ZSP_COMMON_AGENT_PROTOCOL_H_
#define ZSP_COMMON_AGENT_PROTOCOL_H_

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/breakglass.h"
#include "common/config.h"
#include "common/handles.h"
#include "common/jws.h"
#include "common/result.h"

namespace zsp {

// Maximum request line the agent reads, newline included: a decision JWS
// (kMaxJwsBytes) and the JSON around it.
inline constexpr size_t kMaxAgentRequestBytes = kMaxJwsBytes + 1024;
// Longest reply line a client reads.
inline constexpr size_t kMaxAgentReplyBytes = 4096;

struct AgentReply {
  bool ok = false;
  std::string grant;   // ok: the grant the work now runs under
  std::string cgroup;  // ok: its cgroup, relative to the cgroup2 mount
  std::string error;   // !ok: why the work was not placed
};

// A parsed place request.
struct PlaceRequest {
  bool break_glass = false;  // token is a break-glass token, not a decision
  std::string token;
};

// The request line for placing the caller under decision token, with
// its trailing newline.
std::string EncodePlaceRequest(const std::string& token);

// The request line for placing the caller under break-glass token text,
// with its trailing newline.
std::string EncodeBreakGlassPlaceRequest(const std::string& text);

// Reads a request line (without its newline), or returns an error naming
// the problem.
Result<PlaceRequest> ParsePlaceRequest(std::string_view line);

// Parses any request line to the agent (without its newline): shorter
// than max_bytes, a JSON object with unique keys (ParseStrictJson) and no
// member outside members. The error names the first problem. The caller
// checks the members' values.
Result<nlohmann::json> ParseAgentRequestLine(
    std::string_view line, size_t max_bytes,
    std::initializer_list<std::string_view> members);

// The reply line, with its trailing newline.
std::string EncodeAgentReply(const AgentReply& reply);

// Reads a reply line (without its newline).
Result<AgentReply> ParseAgentReply(std::string_view line);

// Connects to the agent at socket_path, checks that the agent runs as
// root (SO_PEERCRED), sends the place request and waits at most
// timeout_ms for the reply. An error means no reply was read: the agent
// is not running, not root, too slow or sent an invalid reply.
Result<AgentReply> AskAgentToPlace(const std::string& socket_path,
                                   const std::string& token, long timeout_ms);

// Sends request_line (from EncodePlaceRequest or
// EncodeBreakGlassPlaceRequest) as AskAgentToPlace does.
Result<AgentReply> SendPlaceRequest(const std::string& socket_path,
                                    const std::string& request_line,
                                    long timeout_ms);

// Milliseconds from now until deadline, 0 once it has passed.
long MillisecondsLeft(std::chrono::steady_clock::time_point deadline);

// Waits until fd is ready for events or deadline passes. Returns false on
// timeout (errno ETIMEDOUT) or error (errno set by poll).
bool WaitFor(int fd, short events,
             std::chrono::steady_clock::time_point deadline);

// True for an error of ConnectToAgent's connect(): nothing listens at the
// socket, or it is missing.
bool IsAgentConnectError(std::string_view error);

// Opens a non-blocking connection to the agent's socket and checks with
// SO_PEERCRED that the process listening there runs as root.
Result<UniqueFd> ConnectToAgent(const std::string& socket_path);

// Connects to the agent as ConnectToAgent does and sends request_line
// before deadline. Returns the connection, to read the reply from.
Result<UniqueFd> SendToAgent(const std::string& socket_path,
                             std::string_view request_line,
                             std::chrono::steady_clock::time_point deadline);

// The request line for the agent's status, and the member of the reply
// that contains the SHA-256 (hex) of the zsp.conf text it runs with.
inline constexpr char kAgentStatusRequest[] = "{\"op\":\"status\"}\n";
inline constexpr char kAgentConfigHashMember[] = "config_sha256";

// Returns the SHA-256 of the zsp.conf text that the agent at socket_path
// runs with, from its status reply, within timeout_ms. An agent that
// rejects the request gives its own error message.
Result<std::string> AskAgentConfigHash(const std::string& socket_path,
                                       long timeout_ms);

// Sends all of data on the non-blocking fd before deadline.
Result<bool> SendAll(int fd, std::string_view data,
                     std::chrono::steady_clock::time_point deadline);

// True for a grant id as the broker makes them: "g-" and 12 lowercase hex
// digits. The agent uses the id as a directory name, so nothing else is
// accepted.
bool IsGrantId(std::string_view id);

// True for the id of work the agent tracks: a grant id or a break-glass
// token id (IsBreakGlassId).
bool IsWorkId(std::string_view id);

struct Placement {
  bool allowed = false;  // whether the work may go on
  std::string cgroup;    // set when the agent placed the work
  // Why the work was not placed: with allowed it is a warning (agent =
  // optional), without it the reason for the denial.
  std::string problem;
};

// A placement after a decision waits for the agent at least this long
// (or timeout_ms, if that is less), even when the decision used up most
// of timeout_ms.
constexpr long kMinPlacementWaitMs = 1000;

// Returns how long a placement waits for the agent when the decision that
// it follows was requested at requested_at: what is left of timeout_ms,
// and at least kMinPlacementWaitMs or timeout_ms, whichever is less. A
// sudo or login that meets a slow broker and a stalled agent then takes
// about timeout_ms plus at most one second, not twice timeout_ms. A
// requested_at that was never set gives the whole timeout_ms.
long PlacementWaitMs(long timeout_ms,
                     std::chrono::steady_clock::time_point requested_at,
                     std::chrono::steady_clock::time_point now);

// Asks the agent to place the calling process under the grant of decision
// token, as config.agent sets: kOff never asks, kRequired allows only
// placed work, kOptional allows the rest with a warning. requested_at is
// when the decision was requested (Decision::requested_at), and the wait
// for the agent is PlacementWaitMs.
Placement PlaceUnderGrant(const HostConfig& config, const std::string& token,
                          std::chrono::steady_clock::time_point requested_at);

// Asks the agent to place the calling process under break-glass token
// text, with the same agent rule as PlaceUnderGrant. The token was typed
// at a prompt after the broker failed, so the wait is a full timeout_ms.
Placement PlaceUnderBreakGlass(const HostConfig& config,
                               const std::string& text);

// The grant facts that the agent takes from a signed allow decision.
struct GrantClaims {
  std::string grant;
  std::string request;
  std::string user;
  std::string kind;
  int64_t grant_expires = 0;  // Unix seconds
};

// Verifies a decision token for placement: a valid signature by a pinned
// key, issuer and version as in a decision, "decision":"allow" for this
// host, not expired (exp, with clock_skew) and a grant that has not ended
// at now. The nonce is not checked: only root can reach the agent, and a
// replayed allow can only place work under a grant that is still live.
Result<GrantClaims> CheckPlacementToken(std::string_view token,
                                        const std::vector<PinnedKey>& keys,
                                        const std::string& host, int64_t now,
                                        int64_t clock_skew);

// The kind that GrantClaims names for work under a break-glass token.
inline constexpr char kBreakGlassKind[] = "break-glass";

// Verifies break-glass token text for placement as the host verified it
// for use (VerifyBreakGlassToken: signatures, window, host), bound to the
// user and run-as user that the token itself names. Spending is not
// checked: the host spent the token before it asked, and only root can
// reach the agent. The claims carry the token id as grant, the token's
// user, kBreakGlassKind and the token's end.
Result<GrantClaims> CheckBreakGlassPlacement(std::string_view text,
                                             const BreakGlassPolicy& policy,
                                             const std::string& host,
                                             int64_t now);

}  // namespace zsp

#endif  // ZSP_COMMON_AGENT_PROTOCOL_H_

// zsp-agent's state: the grants whose work it has placed in cgroups, the
// grants the feed has reported revoked, and the health of the broker feed. It
// ends a grant's work at the grant's end, on a revocation from the feed,
// and, when feed_stale_action is end, once the feed has been silent for
// longer than feed_stale_after. Work under a break-glass token is tracked
// the same way under the token's id and ends at the token's end only:
// the feed cannot revoke a token, and break-glass exists for when the
// broker is down. Every end is one audit record (journal and spool) that
// names the grant, the processes and the cause.
#ifndef ZSP_AGENT_AGENT_H_
#define ZSP_AGENT_AGENT_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/cgroup.h"
#include "agent/peer.h"
#include "common/agent_protocol.h"
#include "common/config.h"
#include "common/feed.h"

namespace zsp::agent {

// Causes of an end, as the ZSP_CAUSE field of the record shows them.
inline constexpr char kCauseExpired[] = "expired";
inline constexpr char kCauseRevoked[] = "revoked";
inline constexpr char kCauseFeedStale[] = "feed_stale";
inline constexpr char kCauseUnknownAtStart[] = "unknown_at_start";

// How long the agent waits for a grant's processes to be gone.
inline constexpr long kKillTimeoutMs = 2000;

class Agent {
 public:
  using SteadyClock = std::chrono::steady_clock;

  // host is this host's name at the broker. state_dir contains one file
  // per live grant so that a restarted agent can adopt its cgroups.
  // break_glass has no keys when the host lists no breakglass_key; then
  // break-glass work is not placed.
  Agent(HostConfig config, std::vector<PinnedKey> keys, std::string host,
        GrantCgroups cgroups, std::string state_dir,
        BreakGlassPolicy break_glass = {});

  // Adopts the grant cgroups of an earlier run whose grants are still live
  // by the state files, and ends the work in any other.
  void AdoptOrEndLeftovers(int64_t now);

  // Places the peer process under the grant of the signed decision token.
  AgentReply Place(const PeerProcess& peer, const std::string& token,
                   int64_t now);

  // Places the peer process under a break-glass token, by the token's id.
  AgentReply PlaceBreakGlass(const PeerProcess& peer, const std::string& text,
                             int64_t now);

  // Applies a verified feed page and marks the feed as healthy.
  void ApplyFeedPage(const FeedPage& page, int64_t now);

  // Ends the work of grants that have expired, retries ends that failed,
  // and acts on a stale feed. The main loop calls it several times a
  // second.
  void Tick(int64_t now);

  // Number of grants with live work, for the log.
  size_t LiveGrants();

 private:
  struct LiveGrant {
    GrantClaims claims;
    std::string failed_cause;  // set when an end failed and must be retried
  };

  // Moves the peer into the cgroup of verified claims and tracks them.
  // If the peer has exited by then, its pid may name another process:
  // moves that one back and rejects.
  AgentReply PlaceLocked(const PeerProcess& peer, const GrantClaims& claims);
  AgentReply UndoPlaceLocked(const PeerProcess& peer, const GrantClaims& grant,
                             const std::string& origin);
  bool FeedIsStaleLocked(SteadyClock::time_point now) const;
  // Kills the grant's work and records it; on failure keeps the grant for
  // a retry on the next Tick.
  void EndWorkLocked(const std::string& grant, const std::string& cause);
  void RecordEnd(const GrantClaims& claims, const std::string& cause,
                 const KillReport& report);
  void SaveState(const GrantClaims& claims) const;
  void RemoveState(const std::string& grant) const;
  Result<GrantClaims> LoadState(const std::string& grant) const;

  HostConfig config_;
  std::vector<PinnedKey> keys_;
  std::string host_;
  GrantCgroups cgroups_;
  std::string state_dir_;
  BreakGlassPolicy break_glass_;

  std::mutex mutex_;
  std::map<std::string, LiveGrant> live_;
  // Grants revoked or ended here, with their end time: no new work is
  // placed under them although a decision signed earlier is still fresh.
  std::map<std::string, int64_t> ended_;
  SteadyClock::time_point last_feed_page_;
  bool stale_reported_ = false;
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_AGENT_H_

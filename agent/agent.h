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
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/cgroup.h"
#include "agent/logind.h"
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
// How long a logind session has after TerminateSession before the agent
// sends SIGKILL to what is left of it (KillSession). Short, because a
// revocation must end the session within 2 seconds of the broker's feed.
inline constexpr long kSessionKillGraceMs = 500;

// The outcome of a grant's end for its logind sessions, for the record.
struct SessionsEnd {
  std::vector<std::string> ids;
  std::vector<std::string> scopes;    // scope cgroup of each id, or ""
  std::vector<std::string> outcomes;  // "ID=terminated" and so on
  KillReport processes;  // in the sessions' scopes before the end
  std::string error;     // the first logind or scope kill failure
};

// Combines the session outcome of an end whose cgroup kill failed
// (earlier) with that of its retry (later). The first attempt has already
// signalled the sessions, so the retry finds them gone or empty: each
// session keeps its earlier outcome and process list, and sessions that
// only the retry found are added.
SessionsEnd MergeSessionsEnd(const SessionsEnd& earlier,
                             const SessionsEnd& later);

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

  // Ends login sessions through logind as well, on hosts booted with
  // systemd. Call before AdoptOrEndLeftovers.
  void UseLogind(std::shared_ptr<LogindManager> logind);

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
  // A process placed under a login grant that may lead a logind session,
  // and that session's id once logind has one for it.
  struct LoginProcess {
    ProcessRef process;
    std::string session;
    std::string scope_cgroup;  // the session's scope, from the kernel
  };

  struct LiveGrant {
    GrantClaims claims;
    std::string failed_cause;  // set when an end failed and must be retried
    std::vector<LoginProcess> logins;
    // Tick looks for sessions not found yet until lookup_until, because
    // pam_systemd may run after pam_zsp in the session stack.
    SteadyClock::time_point lookup_until;
    SteadyClock::time_point next_lookup;
    bool logind_warned = false;  // a lookup failure has been logged
    // The session outcome of an end whose cgroup kill failed, kept for the
    // record of the retry.
    std::optional<SessionsEnd> earlier_sessions;
  };

  // Adopts, or ends if expired, the grants whose state files name login
  // processes but that have no cgroup.
  void AdoptSessionsLocked(int64_t now);
  // Moves the peer into the cgroup of verified claims and tracks them.
  // If the peer has exited by then, its pid may name another process:
  // moves that one back and rejects.
  AgentReply PlaceLocked(const PeerProcess& peer, const GrantClaims& claims);
  AgentReply UndoPlaceLocked(const PeerProcess& peer, const GrantClaims& grant,
                             const std::string& origin);
  // Records pid of a login placement and the session it leads, if any.
  void TrackLoginLocked(LiveGrant* live, const ProcessRef& process,
                        const SessionLookup& lookup);
  // Looks up the sessions of the grant's login processes that have none
  // yet. Returns true if it found one.
  bool FindSessionsLocked(LiveGrant* live);
  // Calls logind's TerminateSession for every session of the grant.
  SessionsEnd TerminateSessionsLocked(LiveGrant* live);
  // After the grace, sends SIGKILL to the sessions that are still there,
  // then kills what is left in their scopes itself.
  void KillSessionsLocked(const std::string& grant, SessionsEnd* end);
  // Kills what logind left in the sessions' scope cgroups.
  void KillSessionScopesLocked(const std::string& grant, SessionsEnd* end);
  bool FeedIsStaleLocked(SteadyClock::time_point now) const;
  // Kills the grant's work and records it; on failure keeps the grant for
  // a retry on the next Tick.
  void EndWorkLocked(const std::string& grant, const std::string& cause);
  void RecordEnd(const GrantClaims& claims, const std::string& cause,
                 const KillReport& report, const SessionsEnd& sessions);
  void SaveState(const LiveGrant& live) const;
  void RemoveState(const std::string& grant) const;
  Result<LiveGrant> LoadState(const std::string& grant) const;

  HostConfig config_;
  std::vector<PinnedKey> keys_;
  std::string host_;
  GrantCgroups cgroups_;
  std::string state_dir_;
  BreakGlassPolicy break_glass_;
  std::shared_ptr<LogindManager> logind_;  // null without systemd

  std::mutex mutex_;
  std::map<std::string, LiveGrant> live_;
  // Grants revoked or ended here (not those ended for a lost feed), with
  // their end time: no new work is placed under them although a decision
  // signed earlier is still fresh.
  std::map<std::string, int64_t> ended_;
  SteadyClock::time_point last_feed_page_;
  bool stale_reported_ = false;
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_AGENT_H_

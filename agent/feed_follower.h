// Follows the broker's feed for this host (GET /v1/host/feed) over one
// kept-alive mutual-TLS connection, verifies every page and hands the
// verified pages to the Agent.
#ifndef ZSP_AGENT_FEED_FOLLOWER_H_
#define ZSP_AGENT_FEED_FOLLOWER_H_

#include <atomic>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/relay.h"
#include "common/config.h"
#include "common/jws.h"

namespace zsp::agent {

// Maximum long poll the agent requests, in seconds. The broker allows 25.
inline constexpr long kMaxFeedWaitSeconds = 20;

// The long-poll wait for a staleness bound: a third of it, so that two
// heartbeats can be late before the feed counts as stale, from 1 to
// kMaxFeedWaitSeconds.
long FeedWaitSeconds(long stale_after_seconds);

class FeedFollower {
 public:
  // agent and order stay owned by the caller and must outlive Run. Each
  // broker that serves a valid page is marked in order.
  FeedFollower(HostConfig config, std::vector<PinnedKey> keys,
               std::string host, Agent* agent, BrokerOrder* order);

  // Follows the feed until stop becomes true. Exceptions are caught,
  // logged and retried, so none leaves Run.
  void Run(const std::atomic<bool>& stop) noexcept;

 private:
  void ReportFailure(const std::string& url, const std::string& why);

  HostConfig config_;
  std::vector<PinnedKey> keys_;
  std::string host_;
  Agent* agent_;
  BrokerOrder* order_;
  std::string last_failure_;
  long repeated_failures_ = 0;
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_FEED_FOLLOWER_H_

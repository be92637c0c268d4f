// zsp-agent's side of the decision relay (common/decision_relay.h): it
// forwards a module's decision request body to the broker over kept-alive
// mutual-TLS connections and returns the broker's status and body
// unchanged. It checks nothing in them, because the module verifies the
// signed decision itself.
#ifndef ZSP_AGENT_RELAY_H_
#define ZSP_AGENT_RELAY_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/decision_relay.h"
#include "common/https_client.h"

namespace zsp::agent {

// Idle broker connections kept for later requests. Requests beyond this
// many at once get a connection of their own, closed afterwards.
inline constexpr size_t kMaxIdleRelaySessions = 4;

// The broker_url that last responded to the agent, shared by the relay
// and the feed, so that a relay tries first a broker known to respond.
// Otherwise a first broker that drops packets would take the relay's
// whole time limit on every request. Thread-safe.
class BrokerOrder {
 public:
  // Records that broker_urls[index] returned a final response to a relay
  // or a valid feed page.
  void MarkResponded(size_t index) { answered_ = index; }

  // Returns the indexes 0 to count - 1 in the order to try: the one that
  // last responded first, then the others in configuration order.
  std::vector<size_t> Order(size_t count) const;

 private:
  std::atomic<size_t> answered_{0};
};

class BrokerRelay {
 public:
  // order stays owned by the caller and must outlive the relay.
  BrokerRelay(HostConfig config, BrokerOrder* order);

  // Sends request.body as POST /v1/decisions to each broker_url in turn,
  // starting with the one that last responded (BrokerOrder),
  // and returns the first response that is final for the module: HTTP 200
  // or a client error other than 404, 408 and 429. A transport failure or
  // another status moves on to the next URL; after the last one the reply
  // carries the last HTTP response, or an error if none came. Takes at most
  // the smaller of request.timeout_ms and timeout_ms. Safe to call from
  // several threads at once.
  RelayReply Forward(const RelayRequest& request);

 private:
  std::unique_ptr<HttpsSession> AcquireSession();
  void ReleaseSession(std::unique_ptr<HttpsSession> session);
  void ReportFailure(const std::string& why);

  HostConfig config_;
  BrokerOrder* order_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<HttpsSession>> idle_;
  std::string last_failure_;
  long repeated_failures_ = 0;
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_RELAY_H_

// Counters and a latency histogram of the broker, rendered in the
// Prometheus text exposition format (version 0.0.4) for GET /metrics.
// Every method is safe to call from several threads.
#ifndef ZSP_BROKER_METRICS_H_
#define ZSP_BROKER_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace zsp::broker {

// Upper bounds of the decision latency histogram buckets, in seconds.
inline constexpr std::array<double, 10> kDecisionLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

class Metrics {
 public:
  // Counts one HTTP call. route is the route pattern ("/v1/requests/{id}")
  // or "unmatched", so that callers cannot grow the label set.
  void CountHttp(const std::string& method, const std::string& route,
                 int status);

  // Counts one signed decision ("allow" or "deny") and how long the call
  // took, in seconds.
  void CountDecision(const std::string& outcome, double seconds);

  // Counts one failed webhook delivery attempt, and a delivery given up
  // after its last attempt or dropped from a full queue.
  void CountWebhookFailure();
  void CountWebhookDropped();

  // Counts one alert that the audit store raised, by its kind (gap,
  // hash_mismatch, conflict, invalid_record or spool_repaired).
  void CountAuditAlert(const std::string& kind);

  // Renders every metric. The caller reads pending_requests from the store
  // and passes a negative value when the store failed, so the gauge is
  // left out.
  std::string Render(int64_t pending_requests) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> http_;
  std::map<std::string, uint64_t> decisions_;
  std::array<uint64_t, kDecisionLatencyBuckets.size()> latency_buckets_{};
  uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
  uint64_t webhook_failures_ = 0;
  uint64_t webhook_dropped_ = 0;
  std::map<std::string, uint64_t> audit_alerts_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_METRICS_H_

#include "broker/metrics.h"

#include <cstdio>

namespace zsp::broker {
namespace {

// Formats a double with 9 significant digits, which keeps the bucket
// bounds exact and the latency sum to within a nanosecond per second.
std::string FormatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

void AppendHeader(std::string* out, const char* name, const char* type,
                  const char* help) {
  *out += std::string("# HELP ") + name + " " + help + "\n";
  *out += std::string("# TYPE ") + name + " " + type + "\n";
}

}  // namespace

void Metrics::CountHttp(const std::string& method, const std::string& route,
                        int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++http_[{method, route, status}];
}

void Metrics::CountDecision(const std::string& outcome, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++decisions_[outcome];
  for (size_t i = 0; i < kDecisionLatencyBuckets.size(); ++i) {
    if (seconds <= kDecisionLatencyBuckets[i]) ++latency_buckets_[i];
  }
  ++latency_count_;
  latency_sum_ += seconds;
}

void Metrics::CountWebhookFailure() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++webhook_failures_;
}

void Metrics::CountWebhookDropped() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++webhook_dropped_;
}

void Metrics::CountAuditAlert(const std::string& kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++audit_alerts_[kind];
}

std::string Metrics::Render(int64_t pending_requests) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;

  AppendHeader(&out, "zsp_broker_decisions_total", "counter",
               "Signed decisions by outcome.");
  for (const char* outcome : {"allow", "deny"}) {
    auto it = decisions_.find(outcome);
    uint64_t count = it == decisions_.end() ? 0 : it->second;
    out += std::string("zsp_broker_decisions_total{outcome=\"") + outcome +
           "\"} " + std::to_string(count) + "\n";
  }

  AppendHeader(&out, "zsp_broker_decision_duration_seconds", "histogram",
               "Time to answer POST /v1/decisions, in seconds.");
  for (size_t i = 0; i < kDecisionLatencyBuckets.size(); ++i) {
    out += "zsp_broker_decision_duration_seconds_bucket{le=\"" +
           FormatNumber(kDecisionLatencyBuckets[i]) + "\"} " +
           std::to_string(latency_buckets_[i]) + "\n";
  }
  out += "zsp_broker_decision_duration_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(latency_count_) + "\n";
  out += "zsp_broker_decision_duration_seconds_sum " +
         FormatNumber(latency_sum_) + "\n";
  out += "zsp_broker_decision_duration_seconds_count " +
         std::to_string(latency_count_) + "\n";

  if (pending_requests >= 0) {
    AppendHeader(&out, "zsp_broker_pending_requests", "gauge",
                 "Access requests waiting for a decision.");
    out += "zsp_broker_pending_requests " + std::to_string(pending_requests) +
           "\n";
  }

  AppendHeader(&out, "zsp_broker_webhook_failures_total", "counter",
               "Failed webhook delivery attempts.");
  out += "zsp_broker_webhook_failures_total " +
         std::to_string(webhook_failures_) + "\n";
  AppendHeader(&out, "zsp_broker_webhook_dropped_total", "counter",
               "Webhook deliveries given up or dropped from a full queue.");
  out += "zsp_broker_webhook_dropped_total " +
         std::to_string(webhook_dropped_) + "\n";

  // Every kind is rendered from the start, so that an alerting rule on
  // increase() sees the first alert of each kind.
  AppendHeader(&out, "zsp_broker_audit_alerts_total", "counter",
               "Alerts raised by the audit store, by kind.");
  std::map<std::string, uint64_t> alerts = {{"conflict", 0},
                                            {"gap", 0},
                                            {"hash_mismatch", 0},
                                            {"invalid_record", 0},
                                            {"spool_repaired", 0}};
  for (const auto& [kind, count] : audit_alerts_) alerts[kind] = count;
  for (const auto& [kind, count] : alerts) {
    out += "zsp_broker_audit_alerts_total{kind=\"" + kind + "\"} " +
           std::to_string(count) + "\n";
  }

  AppendHeader(&out, "zsp_broker_http_requests_total", "counter",
               "HTTP calls answered by the API, by method, route and status.");
  for (const auto& [key, count] : http_) {
    const auto& [method, route, status] = key;
    out += "zsp_broker_http_requests_total{method=\"" + method +
           "\",route=\"" + route + "\",status=\"" + std::to_string(status) +
           "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

}  // namespace zsp::broker

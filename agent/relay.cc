#include "agent/relay.h"

#include <syslog.h>

#include <algorithm>
#include <chrono>

#include "agent/log.h"
#include "common/decision.h"

namespace zsp::agent {
namespace {

// Whether the module treats this status as final rather than trying the
// next broker (decision.cc, CheckBrokerResponse).
bool IsFinalStatus(long status) {
  if (status == 200) return true;
  return status >= 400 && status < 500 && status != 404 && status != 408 &&
         status != 429;
}

}  // namespace

std::vector<size_t> BrokerOrder::Order(size_t count) const {
  std::vector<size_t> order;
  size_t first = answered_;
  if (first < count) order.push_back(first);
  for (size_t i = 0; i < count; ++i) {
    if (i != first) order.push_back(i);
  }
  return order;
}

BrokerRelay::BrokerRelay(HostConfig config, BrokerOrder* order)
    : config_(std::move(config)), order_(order) {}

RelayReply BrokerRelay::Forward(const RelayRequest& request) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(std::min(
                                     request.timeout_ms, config_.timeout_ms));
  std::unique_ptr<HttpsSession> session = AcquireSession();
  RelayReply reply;
  std::string failures;
  for (size_t index : order_->Order(config_.broker_urls.size())) {
    const std::string& url = config_.broker_urls[index];
    long left = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                              Clock::now())
            .count());
    if (left <= 0) break;
    HttpsOptions options;
    options.ca_file = config_.ca_file;
    options.client_cert = config_.client_cert;
    options.client_key = config_.client_key;
    options.connect_timeout_ms = std::min(config_.connect_timeout_ms, left);
    options.total_timeout_ms = left;
    options.max_response_bytes = kMaxRelayResponseBytes;
    auto response =
        session->Request(options, "POST", url + "/v1/decisions", request.body);
    if (!failures.empty()) failures += "; ";
    if (!response.ok()) {
      failures += url + ": " + response.error();
      reply.failed_urls.push_back(url);
      continue;
    }
    reply.ok = true;
    reply.status = response.value().status;
    reply.body = std::move(response.value().body);
    if (IsFinalStatus(reply.status)) {
      order_->MarkResponded(index);
      break;
    }
    failures += url + ": HTTP " + std::to_string(reply.status);
    reply.failed_urls.push_back(url);
  }
  ReleaseSession(std::move(session));
  if (!reply.ok) {
    reply.error = failures.empty() ? "no broker_url tried before the deadline"
                                   : failures;
  } else {
    reply.failed_urls.clear();  // sent with a failure only
  }
  if (!reply.ok || !IsFinalStatus(reply.status)) ReportFailure(failures);
  return reply;
}

std::unique_ptr<HttpsSession> BrokerRelay::AcquireSession() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.empty()) return std::make_unique<HttpsSession>();
  std::unique_ptr<HttpsSession> session = std::move(idle_.back());
  idle_.pop_back();
  return session;
}

void BrokerRelay::ReleaseSession(std::unique_ptr<HttpsSession> session) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < kMaxIdleRelaySessions) idle_.push_back(std::move(session));
}

// Logs a failure when it differs from the last one, and every 100th
// repeat, so that a broker that stays down does not fill the journal.
void BrokerRelay::ReportFailure(const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++repeated_failures_;
  if (why == last_failure_ && repeated_failures_ % 100 != 0) return;
  last_failure_ = why;
  Log(LOG_WARNING, "relay-failed",
      {{"error", why}, {"repeats", std::to_string(repeated_failures_)}});
}

}  // namespace zsp::agent

// Webhook notifications of request and grant events. Send only queues, so
// a slow or failing receiver never delays a decision. A worker thread posts
// each notification with an HMAC-SHA256 signature and retries failures with
// exponential backoff.
#ifndef ZSP_BROKER_NOTIFY_H_
#define ZSP_BROKER_NOTIFY_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "broker/metrics.h"
#include "broker/policy_file.h"

namespace zsp::broker {

// Attempts per notification, and the delay before the second one; each
// later delay doubles.
inline constexpr int kWebhookAttempts = 5;
inline constexpr int kWebhookFirstRetrySeconds = 1;
// Queued deliveries beyond this are dropped and logged.
inline constexpr size_t kMaxQueuedDeliveries = 1000;

// The signature header value: "sha256=" and the lowercase hex
// HMAC-SHA256 of timestamp + "." + body under secret.
std::string WebhookSignature(const std::string& secret,
                             const std::string& timestamp,
                             const std::string& body);

class Notifier {
 public:
  // policy stays owned by the caller and must outlive the notifier. Send
  // reads the webhooks from it each time, so a reload applies at once.
  // metrics, when not null, counts failed and dropped deliveries and must
  // outlive the notifier too.
  explicit Notifier(const PolicyHolder* policy, Metrics* metrics = nullptr);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  // Stops the worker; deliveries still queued are logged as dropped.
  ~Notifier();

  // Queues event for every webhook that subscribes to it. payload is the
  // JSON body without "event" and "at"; text is the Slack message.
  void Send(const std::string& event, nlohmann::json payload,
            const std::string& text, int64_t now);

  // True if a webhook of the policy in force subscribes to event.
  bool Subscribed(const std::string& event) const;

  // True the first time it is called for id; remembers the id in memory
  // only, so that each grant_expiring goes out once per broker run.
  // ForgetEnded(now) drops the ids whose forget_at is before now, so the
  // memory holds only grants that have not ended yet.
  bool FirstTime(const std::string& id, int64_t forget_at);
  void ForgetEnded(int64_t now);

 private:
  struct Delivery {
    Webhook hook;
    std::string event;
    std::string body;
    std::string id;
    int attempt = 1;
    std::chrono::steady_clock::time_point due;
  };

  void Run();
  // Posts once; returns "" on a 2xx status, else what failed.
  std::string Post(const Delivery& delivery);

  const PolicyHolder* policy_;
  Metrics* metrics_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Delivery> queue_;
  std::map<std::string, int64_t> seen_;  // id to forget_at
  bool stopping_ = false;
  std::thread worker_;
};

// Posted audit_alert notifications per host and window. Alerts beyond
// the limit are held back and reported as one summary when the window
// ends, so that a host that raises alerts in a stream cannot fill the
// webhook queue, which every notification shares.
inline constexpr int kAlertNoticesPerWindow = 10;
inline constexpr int64_t kAlertNoticeWindowSeconds = 600;

// Limits audit_alert notifications per host. Every alert stays in the
// audit store and in the metric; only its webhook post is held back.
class AlertNoticeLimiter {
 public:
  struct HeldBack {
    std::string host;
    uint64_t count = 0;
    int64_t since = 0;  // start of the window, Unix seconds
  };

  // Returns true when an alert of host may be posted at now, and counts
  // it. Returns false and counts it as held back when the host's window
  // has had kAlertNoticesPerWindow posts already.
  bool Admit(const std::string& host, int64_t now);

  // Returns the hosts whose window ended before now with alerts held back,
  // and forgets every window that has ended.
  std::vector<HeldBack> TakeEnded(int64_t now);

 private:
  struct Window {
    int64_t start = 0;
    int posted = 0;
    uint64_t held_back = 0;
  };
  std::mutex mutex_;
  std::map<std::string, Window> windows_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_NOTIFY_H_

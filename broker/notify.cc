#include "broker/notify.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "broker/ids.h"
#include "broker/log.h"

namespace zsp::broker {
namespace {

constexpr long kWebhookTimeoutMs = 5000;

size_t DiscardBody(char*, size_t size, size_t count, void*) {
  return size * count;
}

std::string Hex(const unsigned char* data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string text;
  for (size_t i = 0; i < size; ++i) {
    text += kDigits[data[i] >> 4];
    text += kDigits[data[i] & 0xf];
  }
  return text;
}

// A webhook without an events list gets every request and grant event.
// audit_alert goes only to webhooks that name it, because audit alerts are
// for auditors and a host can raise them in a stream.
bool Subscribes(const Webhook& hook, const std::string& event) {
  if (hook.events.empty()) return event != "audit_alert";
  return std::find(hook.events.begin(), hook.events.end(), event) !=
         hook.events.end();
}

}  // namespace

std::string WebhookSignature(const std::string& secret,
                             const std::string& timestamp,
                             const std::string& body) {
  std::string message = timestamp + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), mac, &size) == nullptr) {
    return "";
  }
  return "sha256=" + Hex(mac, size);
}

Notifier::Notifier(const PolicyHolder* policy, Metrics* metrics)
    : policy_(policy), metrics_(metrics) {
  worker_ = std::thread([this] { Run(); });
}

Notifier::~Notifier() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
  for (const auto& delivery : queue_) {
    LogEvent("warning", {{"detail", "webhook delivery dropped at stop"},
                         {"webhook", delivery.hook.name},
                         {"event", delivery.event},
                         {"delivery", delivery.id}});
  }
}

void Notifier::Send(const std::string& event, nlohmann::json payload,
                    const std::string& text, int64_t now) {
  std::shared_ptr<const Policy> policy = policy_->Get();
  payload["event"] = event;
  payload["at"] = now;
  std::string json_body = payload.dump(-1, ' ', false,
                                       nlohmann::json::error_handler_t::replace);
  std::string slack_body =
      nlohmann::json{{"text", text}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);

  std::lock_guard<std::mutex> lock(mutex_);
  for (const Webhook& hook : policy->webhooks) {
    if (!Subscribes(hook, event)) continue;
    auto id = NewId("d-");
    Delivery delivery{hook, event, hook.slack ? slack_body : json_body,
                      id.ok() ? id.value() : "d-unknown", 1,
                      std::chrono::steady_clock::now()};
    if (queue_.size() >= kMaxQueuedDeliveries) {
      if (metrics_ != nullptr) metrics_->CountWebhookDropped();
      LogEvent("error", {{"detail", "webhook queue full, delivery dropped"},
                         {"webhook", hook.name},
                         {"event", event},
                         {"delivery", delivery.id}});
      continue;
    }
    queue_.push_back(std::move(delivery));
  }
  wake_.notify_all();
}

bool Notifier::Subscribed(const std::string& event) const {
  std::shared_ptr<const Policy> policy = policy_->Get();
  for (const Webhook& hook : policy->webhooks) {
    if (Subscribes(hook, event)) return true;
  }
  return false;
}

bool Notifier::FirstTime(const std::string& id, int64_t forget_at) {
  std::lock_guard<std::mutex> lock(mutex_);
  return seen_.emplace(id, forget_at).second;
}

void Notifier::ForgetEnded(int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(seen_, [now](const auto& entry) { return entry.second < now; });
}

void Notifier::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (queue_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto next = std::min_element(
        queue_.begin(), queue_.end(),
        [](const Delivery& a, const Delivery& b) { return a.due < b.due; });
    if (next->due > std::chrono::steady_clock::now()) {
      wake_.wait_until(lock, next->due);
      continue;
    }
    Delivery delivery = std::move(*next);
    queue_.erase(next);

    lock.unlock();
    std::string error = Post(delivery);
    lock.lock();
    if (error.empty()) continue;
    if (metrics_ != nullptr) metrics_->CountWebhookFailure();

    LogFields fields = {{"webhook", delivery.hook.name},
                        {"event", delivery.event},
                        {"delivery", delivery.id},
                        {"attempt", std::to_string(delivery.attempt)},
                        {"error", error}};
    if (delivery.attempt >= kWebhookAttempts) {
      fields.insert(fields.begin(),
                    {"detail", "webhook delivery failed, giving up"});
      if (metrics_ != nullptr) metrics_->CountWebhookDropped();
      LogEvent("error", fields);
      continue;
    }
    fields.insert(fields.begin(), {"detail", "webhook delivery failed, retrying"});
    LogEvent("warning", fields);
    int delay = kWebhookFirstRetrySeconds << (delivery.attempt - 1);
    delivery.attempt += 1;
    delivery.due = std::chrono::steady_clock::now() + std::chrono::seconds(delay);
    queue_.push_back(std::move(delivery));
  }
}

std::string Notifier::Post(const Delivery& delivery) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return "curl_easy_init failed";
  std::string timestamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::string signature =
      WebhookSignature(delivery.hook.secret, timestamp, delivery.body);

  struct curl_slist* headers = nullptr;
  for (const std::string& header :
       {std::string("Content-Type: application/json"),
        "X-Zsp-Event: " + delivery.event, "X-Zsp-Delivery: " + delivery.id,
        "X-Zsp-Timestamp: " + timestamp, "X-Zsp-Signature: " + signature}) {
    headers = curl_slist_append(headers, header.c_str());
  }

  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_URL, delivery.hook.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kWebhookTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, delivery.body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(delivery.body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);

  if (rc != CURLE_OK) {
    return errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  }
  if (status < 200 || status > 299) {
    return "HTTP status " + std::to_string(status);
  }
  return "";
}

bool AlertNoticeLimiter::Admit(const std::string& host, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Window& window = windows_[host];
  if (window.posted == 0 && window.held_back == 0) window.start = now;
  if (window.posted < kAlertNoticesPerWindow) {
    ++window.posted;
    return true;
  }
  ++window.held_back;
  return false;
}

std::vector<AlertNoticeLimiter::HeldBack> AlertNoticeLimiter::TakeEnded(
    int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<HeldBack> ended;
  for (auto it = windows_.begin(); it != windows_.end();) {
    const Window& window = it->second;
    if (now < window.start + kAlertNoticeWindowSeconds) {
      ++it;
      continue;
    }
    if (window.held_back > 0) {
      ended.push_back(HeldBack{it->first, window.held_back, window.start});
    }
    it = windows_.erase(it);
  }
  return ended;
}

}  // namespace zsp::broker

#include "agent/feed_follower.h"

#include <syslog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <thread>

#include "agent/log.h"
#include "common/decision.h"
#include "common/feed.h"
#include "common/https_client.h"

namespace zsp::agent {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Minimum time between two feed requests, so that a broker that responds
// at once (no long poll, or an error) is not polled in a tight loop.
constexpr auto kMinRequestInterval = std::chrono::seconds(1);

// Sleeps until deadline in short steps, returning early once stop is set.
void SleepUntil(SteadyClock::time_point deadline,
                const std::atomic<bool>& stop) {
  while (!stop && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

long FeedWaitSeconds(long stale_after_seconds) {
  return std::clamp(stale_after_seconds / 3, 1L, kMaxFeedWaitSeconds);
}

FeedFollower::FeedFollower(HostConfig config, std::vector<PinnedKey> keys,
                           std::string host, Agent* agent,
                           BrokerOrder* order)
    : config_(std::move(config)),
      keys_(std::move(keys)),
      host_(std::move(host)),
      agent_(agent),
      order_(order) {}

void FeedFollower::Run(const std::atomic<bool>& stop) noexcept {
  HttpsSession session;
  HttpsOptions options;
  options.ca_file = config_.ca_file;
  options.client_cert = config_.client_cert;
  options.client_key = config_.client_key;
  options.connect_timeout_ms = config_.connect_timeout_ms;
  long wait = FeedWaitSeconds(config_.feed_stale_after_sec);
  options.total_timeout_ms = wait * 1000 + config_.timeout_ms;
  options.max_response_bytes = kMaxFeedResponseBytes;

  int64_t after = 0;
  size_t url_index = 0;
  while (!stop) {
    try {
      auto started = SteadyClock::now();
      const std::string& base = config_.broker_urls[url_index];
      std::string nonce = NewNonce();
      std::string url = base + "/v1/host/feed?after=" + std::to_string(after) +
                        "&wait=" + std::to_string(wait) + "&nonce=" + nonce;
      auto response = session.Request(options, "GET", url, "");
      std::string problem;
      if (!response.ok()) {
        problem = response.error();
      } else {
        auto page = CheckFeedPage(
            response.value().status, response.value().body, keys_, host_,
            nonce, after, static_cast<int64_t>(std::time(nullptr)),
            config_.clock_skew_sec);
        if (page.ok()) {
          agent_->ApplyFeedPage(page.value(),
                                static_cast<int64_t>(std::time(nullptr)));
          after = page.value().last;
          order_->MarkResponded(url_index);
          if (!last_failure_.empty()) {
            Log(LOG_NOTICE, "feed-connected", {{"broker", base}});
          }
          last_failure_.clear();
          repeated_failures_ = 0;
          if (page.value().events.empty()) {
            SleepUntil(started + kMinRequestInterval, stop);
          }
          continue;
        }
        problem = page.error();
      }
      ReportFailure(base, problem);
      url_index = (url_index + 1) % config_.broker_urls.size();
      SleepUntil(started + kMinRequestInterval, stop);
    } catch (const std::exception& e) {
      ReportFailure("", std::string("internal error: ") + e.what());
      SleepUntil(SteadyClock::now() + kMinRequestInterval, stop);
    } catch (...) {
      ReportFailure("", "internal error");
      SleepUntil(SteadyClock::now() + kMinRequestInterval, stop);
    }
  }
}

// Logs a failure when it differs from the last one, and every 60th repeat,
// so that a broker that stays down does not fill the journal.
void FeedFollower::ReportFailure(const std::string& url,
                                 const std::string& why) {
  ++repeated_failures_;
  if (why == last_failure_ && repeated_failures_ % 60 != 0) return;
  last_failure_ = why;
  Log(LOG_WARNING, "feed-failed",
      {{"broker", url},
       {"error", why},
       {"repeats", std::to_string(repeated_failures_)}});
}

}  // namespace zsp::agent

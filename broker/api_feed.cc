// GET /v1/host/feed: the signed event feed of one host, which zsp-agent
// follows to end work under revoked grants. Each response is one page,
// signed with the decision key under its own JWS type. A page with no
// events is a heartbeat. See docs/broker-api.md.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "broker/api.h"
#include "broker/log.h"
#include "broker/policy.h"
#include "broker/validate.h"
#include "common/feed.h"
#include "common/jws.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

// Maximum long poll of the feed, in seconds. zsp-agent requests at most
// 20 and times out 5 s after that with the default timeout_ms.
constexpr unsigned int kMaxFeedWaitSeconds = 25;
// Maximum feed long polls at once. Further calls get a response at once,
// and their agents poll again a second later. The server runs 32 threads
// (server.cc), so the feeds never take all of them.
constexpr int kMaxFeedWaiters = 16;
constexpr auto kFeedPollInterval = std::chrono::milliseconds(200);

bool ParseSequence(const std::string& text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   *out);
  return ec == std::errc() && end == text.data() + text.size() && *out >= 0;
}

json EventsFor(const RevocationPage& page, const std::string& host) {
  json events = json::array();
  for (const Revocation& r : page.revocations) {
    if (!HostPatternMatches(r.host, host)) continue;
    events.push_back({{"seq", r.sequence},
                      {"type", "revoked"},
                      {"grant", r.grant},
                      {"user", r.user},
                      {"kind", r.kind},
                      {"at", r.at},
                      {"grant_exp", r.expires_at}});
  }
  return events;
}

}  // namespace

ApiResponse Api::HostFeed(const Call& call) const {
  const auto& query = call.request->query;
  int64_t after = 0;
  auto after_it = query.find("after");
  if (after_it == query.end() || !ParseSequence(after_it->second, &after)) {
    return ErrorResponse(400, "invalid_request",
                         "after: must be a sequence number, 0 or more");
  }
  unsigned int wait = 0;
  auto wait_it = query.find("wait");
  if (wait_it != query.end() &&
      (!ParseUnsigned(wait_it->second, &wait) || wait > kMaxFeedWaitSeconds)) {
    return ErrorResponse(400, "invalid_request",
                         "wait: must be 0 to 25 seconds");
  }
  auto nonce_it = query.find("nonce");
  if (nonce_it == query.end() || !IsValidNonce(nonce_it->second)) {
    return ErrorResponse(400, "invalid_request",
                         "nonce: must be 16 to 128 base64url characters");
  }
  const std::string& host = call.request->client_host;

  // Releases the waiter slot on every exit, exceptions included.
  struct WaiterSlot {
    std::atomic<int>& count;
    ~WaiterSlot() { count.fetch_sub(1); }
  } slot{feed_waiters_};
  if (feed_waiters_.fetch_add(1) >= kMaxFeedWaiters) wait = 0;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
  int64_t now = call.now;
  RevocationPage page;
  json events;
  // Reads on from the last page while it contains no event for this host:
  // the events between after and cursor are all other hosts', so the
  // page returned covers (after, last] with this host's events only. A
  // full page is read on at once, so that a burst of other hosts'
  // revocations does not hold this host's behind the long poll.
  int64_t cursor = after;
  while (true) {
    auto listed = store_->ListRevocations(cursor, now,
                                          static_cast<int>(kMaxFeedEvents));
    if (!listed.ok()) throw std::runtime_error("store: " + listed.message);
    page = std::move(listed.value);
    events = EventsFor(page, host);
    if (!events.empty()) break;
    cursor = std::max(cursor, page.last);
    if (page.revocations.size() < kMaxFeedEvents) {
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(kFeedPollInterval);
    }
    now = clock_();
  }

  json claims = {{"iss", "zsp-broker"},       {"ver", 1},
                 {"host", host},              {"nonce", nonce_it->second},
                 {"iat", now},                {"exp", now + settings_.decision_ttl},
                 {"after", after},            {"last", page.last},
                 {"events", events}};
  auto jws = SignJws(decision_key_, claims.dump(), kFeedJwsType);
  if (!jws.ok()) throw std::runtime_error("signing: " + jws.error());
  if (!events.empty()) {
    LogEvent("feed", {{"host", host},
                      {"after", std::to_string(after)},
                      {"last", std::to_string(page.last)},
                      {"events", std::to_string(events.size())}});
  }
  return ApiResponse{200, {{"jws", jws.value()}}};
}

}  // namespace zsp::broker

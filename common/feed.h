// The broker's event feed for one host (GET /v1/host/feed, described in
// docs/broker-api.md): signed pages of sequence-numbered events about the
// grants that cover the host, such as revocations. A page with no events
// is a heartbeat. zsp-agent follows the feed and trusts a page only after
// CheckFeedPage has accepted it.
#ifndef ZSP_COMMON_FEED_H_
#define ZSP_COMMON_FEED_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/jws.h"
#include "common/result.h"

namespace zsp {

// The header "typ" of a feed page, so that a page can never pass for a
// decision or a decision for a page, although the same key signs both.
inline constexpr char kFeedJwsType[] = "zsp-feed+jwt";

// Maximum events in one page; the broker sends the rest in the next one.
inline constexpr size_t kMaxFeedEvents = 1000;

// Largest response body that the agent reads for one page.
inline constexpr size_t kMaxFeedResponseBytes = 512 * 1024;

struct FeedEvent {
  int64_t seq = 0;    // the broker's event sequence number
  std::string type;   // "revoked"; other types are for later versions
  std::string grant;  // g- and 12 hex digits
  std::string user;
  std::string kind;   // "sudo" or "login"
  int64_t at = 0;     // Unix seconds of the event
  int64_t grant_expires = 0;
};

struct FeedPage {
  int64_t after = 0;  // the sequence number the agent asked to follow
  // Every event for this host with a sequence number in (after, last] is
  // in events. The next request is for events after last.
  int64_t last = 0;
  int64_t issued_at = 0;
  std::vector<FeedEvent> events;
};

// Checks one HTTP response of the feed: status 200, a JSON body whose
// "jws" is a feed page signed by a pinned key, issuer and version as in a
// decision, this host, the nonce and the after value of the request, a
// fresh iat and exp (within clock_skew of now), after <= last, and event
// sequence numbers that rise strictly within (after, last]. Any other
// response is an error that names the problem.
Result<FeedPage> CheckFeedPage(long status, std::string_view body,
                               const std::vector<PinnedKey>& keys,
                               const std::string& host,
                               const std::string& nonce, int64_t after,
                               int64_t now, int64_t clock_skew);

}  // namespace zsp

#endif  // ZSP_COMMON_FEED_H_

#include "common/feed.h"

#include <nlohmann/json.hpp>

#include "common/agent_protocol.h"
#include "common/escape.h"
#include "common/strict_json.h"

namespace zsp {
namespace {

using nlohmann::json;

bool IntMember(const json& object, const char* name, int64_t* out) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) return false;
  *out = it->get<int64_t>();
  return true;
}

std::string StringMember(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// Reads one event; returns "" or the problem.
std::string ReadEvent(const json& item, FeedEvent* event) {
  if (!item.is_object()) return "an event is not an object";
  if (!IntMember(item, "seq", &event->seq)) return "an event has no seq";
  event->type = StringMember(item, "type");
  if (event->type.empty()) return "event " + std::to_string(event->seq) +
                                  " has no type";
  event->grant = StringMember(item, "grant");
  if (!IsGrantId(event->grant)) {
    return "event " + std::to_string(event->seq) + " has an invalid grant id";
  }
  event->user = StringMember(item, "user");
  event->kind = StringMember(item, "kind");
  if (!IntMember(item, "at", &event->at) ||
      !IntMember(item, "grant_exp", &event->grant_expires)) {
    return "event " + std::to_string(event->seq) + " has no at or grant_exp";
  }
  return "";
}

// Checks the claims of a page whose signature is valid.
Result<FeedPage> ReadPage(const json& claims, const std::string& host,
                          const std::string& nonce, int64_t after,
                          int64_t now, int64_t clock_skew) {
  auto ver = claims.find("ver");
  if (StringMember(claims, "iss") != "zsp-broker" || ver == claims.end() ||
      *ver != 1) {
    return Error{"feed page has the wrong issuer or version"};
  }
  if (StringMember(claims, "host") != host) {
    return Error{"feed page is for host \"" +
                 EscapeForLog(StringMember(claims, "host"), 64) +
                 "\", not " + host};
  }
  if (StringMember(claims, "nonce") != nonce) {
    return Error{"feed page has the wrong nonce (replay)"};
  }
  FeedPage page;
  int64_t exp = 0;
  if (!IntMember(claims, "iat", &page.issued_at) ||
      !IntMember(claims, "exp", &exp) ||
      !IntMember(claims, "after", &page.after) ||
      !IntMember(claims, "last", &page.last)) {
    return Error{"feed page has no iat, exp, after or last"};
  }
  if (page.issued_at > now + clock_skew) {
    return Error{"feed page issued in the future"};
  }
  if (exp < now - clock_skew) return Error{"feed page expired"};
  if (page.after != after) {
    return Error{"feed page starts after " + std::to_string(page.after) +
                 ", not after " + std::to_string(after) + " as requested"};
  }
  if (page.last < page.after) {
    return Error{"feed page ends at " + std::to_string(page.last) +
                 ", before it starts"};
  }
  auto events = claims.find("events");
  if (events == claims.end() || !events->is_array()) {
    return Error{"feed page has no events array"};
  }
  if (events->size() > kMaxFeedEvents) {
    return Error{"feed page has more than " + std::to_string(kMaxFeedEvents) +
                 " events"};
  }
  int64_t previous = page.after;
  for (const auto& item : *events) {
    FeedEvent event;
    std::string problem = ReadEvent(item, &event);
    if (!problem.empty()) return Error{"feed page: " + problem};
    if (event.seq <= previous || event.seq > page.last) {
      return Error{"feed page: event " + std::to_string(event.seq) +
                   " is out of sequence (after " + std::to_string(previous) +
                   ", last " + std::to_string(page.last) + ")"};
    }
    previous = event.seq;
    page.events.push_back(std::move(event));
  }
  return page;
}

}  // namespace

Result<FeedPage> CheckFeedPage(long status, std::string_view body,
                               const std::vector<PinnedKey>& keys,
                               const std::string& host,
                               const std::string& nonce, int64_t after,
                               int64_t now, int64_t clock_skew) {
  if (status != 200) {
    return Error{"broker responded with HTTP " + std::to_string(status)};
  }
  if (body.size() > kMaxFeedResponseBytes) {
    return Error{"feed response is larger than " +
                 std::to_string(kMaxFeedResponseBytes) + " bytes"};
  }
  json answer = ParseStrictJson(body);
  if (!answer.is_object()) {
    return Error{"feed response is not a JSON object with unique keys"};
  }
  std::string token = StringMember(answer, "jws");
  if (token.empty()) return Error{"feed response has no jws string"};
  VerifiedJws verified = VerifyJws(token, keys, kFeedJwsType);
  if (verified.status != JwsStatus::kValid) {
    return Error{"feed page rejected: " + verified.detail};
  }
  json claims = ParseStrictJson(verified.payload);
  if (!claims.is_object()) return Error{"feed page is not a JSON object"};
  return ReadPage(claims, host, nonce, after, now, clock_skew);
}

}  // namespace zsp

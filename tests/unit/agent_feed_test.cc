// Tests for the host agent's inputs: CheckFeedPage on feed pages signed
// here with a test key, the unix socket protocol (request and reply
// lines, CheckPlacementToken, AskAgentToPlace against a socket served by
// the test), and FindCgroup2Mount on mountinfo text.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/cgroup.h"
#include "common/agent_protocol.h"
#include "common/feed.h"
#include "common/handles.h"
#include "common/jws.h"

namespace {

using nlohmann::json;
using zsp::EvpPkeyPtr;

constexpr int64_t kNow = 1700000000;
constexpr int64_t kSkew = 30;
constexpr char kHost[] = "web1.example.com";
constexpr char kNonce[] = "bm9uY2Utb2YtdGhlLWZlZWQ";

EvpPkeyPtr GenerateKey() {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

zsp::PinnedKey Pin(EVP_PKEY* key) { return zsp::PinnedKeyOf(key).value(); }

json Revocation(int64_t seq, const std::string& grant) {
  return {{"seq", seq},       {"type", "revoked"}, {"grant", grant},
          {"user", "alice"},  {"kind", "sudo"},    {"at", kNow - 5},
          {"grant_exp", kNow + 600}};
}

// Claims of a page after 10 that reports two revocations and ends at 20.
json PageClaims() {
  return {{"iss", "zsp-broker"},
          {"ver", 1},
          {"host", kHost},
          {"nonce", kNonce},
          {"iat", kNow},
          {"exp", kNow + 60},
          {"after", 10},
          {"last", 20},
          {"events",
           {Revocation(12, "g-0123456789ab"), Revocation(17, "g-ba9876543210")}}};
}

json AllowClaims() {
  return {{"iss", "zsp-broker"},   {"ver", 1},
          {"decision", "allow"},   {"sub", "alice"},
          {"host", kHost},         {"kind", "sudo"},
          {"nonce", kNonce},       {"iat", kNow},
          {"exp", kNow + 60},      {"grant", "g-0123456789ab"},
          {"request", "r-0123456789ab"},
          {"grant_exp", kNow + 3600}};
}

}  // namespace

class AgentFeedTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentFeedTest);
  CPPUNIT_TEST(FeedPageAccepted);
  CPPUNIT_TEST(FeedHeartbeatAccepted);
  CPPUNIT_TEST(FeedClaimMismatches);
  CPPUNIT_TEST(FeedSequenceErrors);
  CPPUNIT_TEST(FeedBadEvents);
  CPPUNIT_TEST(FeedSignatureErrors);
  CPPUNIT_TEST(FeedResponseErrors);
  CPPUNIT_TEST(PlaceRequestRoundTrip);
  CPPUNIT_TEST(PlaceRequestRejected);
  CPPUNIT_TEST(AgentReplyRoundTrip);
  CPPUNIT_TEST(AgentReplyRejected);
  CPPUNIT_TEST(PlacementTokenAccepted);
  CPPUNIT_TEST(PlacementTokenRejected);
  CPPUNIT_TEST(GrantIdFormat);
  CPPUNIT_TEST(AskAgentOverSocket);
  CPPUNIT_TEST(AskAgentNoSocket);
  CPPUNIT_TEST(AskAgentSilentServer);
  CPPUNIT_TEST(PlacementWaitsWhatIsLeft);
  CPPUNIT_TEST(PlacementWaitsAtLeastTheFloor);
  CPPUNIT_TEST(Cgroup2MountFound);
  CPPUNIT_TEST(Cgroup2MountMissing);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    key_ = GenerateKey();
    CPPUNIT_ASSERT_MESSAGE("generate Ed25519 key", key_ != nullptr);
    keys_.clear();
    keys_.push_back(Pin(key_.get()));
  }

  void FeedPageAccepted() {
    auto page = CheckBody(Body(PageClaims()));
    CPPUNIT_ASSERT_MESSAGE(page.ok() ? "" : page.error(), page.ok());
    CPPUNIT_ASSERT_EQUAL(int64_t{10}, page.value().after);
    CPPUNIT_ASSERT_EQUAL(int64_t{20}, page.value().last);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, page.value().events.size());
    const zsp::FeedEvent& first = page.value().events[0];
    CPPUNIT_ASSERT_EQUAL(int64_t{12}, first.seq);
    CPPUNIT_ASSERT_EQUAL(std::string("revoked"), first.type);
    CPPUNIT_ASSERT_EQUAL(std::string("g-0123456789ab"), first.grant);
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), first.user);
    CPPUNIT_ASSERT_EQUAL(kNow + 600, first.grant_expires);
  }

  void FeedHeartbeatAccepted() {
    json claims = PageClaims();
    claims["events"] = json::array();
    claims["last"] = 10;
    auto page = CheckBody(Body(claims));
    CPPUNIT_ASSERT_MESSAGE(page.ok() ? "" : page.error(), page.ok());
    CPPUNIT_ASSERT(page.value().events.empty());
    CPPUNIT_ASSERT_EQUAL(int64_t{10}, page.value().last);
  }

  void FeedClaimMismatches() {
    struct Case {
      const char* name;
      const char* claim;
      json value;
      const char* expected;
    };
    const Case cases[] = {
        {"issuer", "iss", "someone", "wrong issuer"},
        {"version", "ver", 2, "wrong issuer or version"},
        {"host", "host", "web2.example.com", "is for host"},
        {"nonce", "nonce", "b3RoZXItbm9uY2UtdmFsdWU", "wrong nonce"},
        {"after", "after", 9, "not after 10"},
        {"future", "iat", kNow + kSkew + 1, "issued in the future"},
        {"expired", "exp", kNow - kSkew - 1, "expired"},
        {"events type", "events", "none", "no events array"},
        {"last type", "last", "20", "no iat, exp, after or last"},
    };
    for (const Case& c : cases) {
      json claims = PageClaims();
      claims[c.claim] = c.value;
      auto page = CheckBody(Body(claims));
      CPPUNIT_ASSERT_MESSAGE(std::string(c.name) + ": accepted", !page.ok());
      CPPUNIT_ASSERT_MESSAGE(std::string(c.name) + ": " + page.error(),
                             page.error().find(c.expected) !=
                                 std::string::npos);
    }
  }

  void FeedSequenceErrors() {
    json claims = PageClaims();
    claims["last"] = 5;
    claims["events"] = json::array();
    auto before_start = CheckBody(Body(claims));
    CPPUNIT_ASSERT_MESSAGE("last before after", !before_start.ok());

    claims = PageClaims();
    claims["events"] = {Revocation(17, "g-0123456789ab"),
                        Revocation(12, "g-ba9876543210")};
    auto reordered = CheckBody(Body(claims));
    CPPUNIT_ASSERT_MESSAGE("reordered events", !reordered.ok());
    CPPUNIT_ASSERT(reordered.error().find("out of sequence") !=
                   std::string::npos);

    claims = PageClaims();
    claims["events"] = {Revocation(12, "g-0123456789ab"),
                        Revocation(12, "g-ba9876543210")};
    CPPUNIT_ASSERT_MESSAGE("repeated seq", !CheckBody(Body(claims)).ok());

    claims = PageClaims();
    claims["events"] = {Revocation(10, "g-0123456789ab")};
    CPPUNIT_ASSERT_MESSAGE("seq equal to after", !CheckBody(Body(claims)).ok());

    claims = PageClaims();
    claims["events"] = {Revocation(21, "g-0123456789ab")};
    CPPUNIT_ASSERT_MESSAGE("seq beyond last", !CheckBody(Body(claims)).ok());
  }

  void FeedBadEvents() {
    const char* bad_grants[] = {"", "g-../../etc", "g-0123456789AB",
                                "r-0123456789ab", "g-0123456789abc"};
    for (const char* grant : bad_grants) {
      json claims = PageClaims();
      claims["events"] = {Revocation(12, grant)};
      auto page = CheckBody(Body(claims));
      CPPUNIT_ASSERT_MESSAGE(std::string("grant \"") + grant + "\" accepted",
                             !page.ok());
    }
    json claims = PageClaims();
    claims["events"][0].erase("grant_exp");
    CPPUNIT_ASSERT_MESSAGE("no grant_exp", !CheckBody(Body(claims)).ok());
    claims = PageClaims();
    claims["events"][0].erase("seq");
    CPPUNIT_ASSERT_MESSAGE("no seq", !CheckBody(Body(claims)).ok());
    claims = PageClaims();
    claims["events"][0] = "revoked";
    CPPUNIT_ASSERT_MESSAGE("event not object", !CheckBody(Body(claims)).ok());
  }

  void FeedSignatureErrors() {
    // A decision signed by the same key is not a feed page.
    auto decision_type = zsp::SignJws(key_.get(), PageClaims().dump(),
                                      zsp::kDecisionJwsType);
    CPPUNIT_ASSERT(decision_type.ok());
    json body = {{"jws", decision_type.value()}};
    auto page = CheckBody(body.dump());
    CPPUNIT_ASSERT_MESSAGE("decision type accepted", !page.ok());

    EvpPkeyPtr other = GenerateKey();
    auto foreign = zsp::SignJws(other.get(), PageClaims().dump(),
                                zsp::kFeedJwsType);
    CPPUNIT_ASSERT(foreign.ok());
    body = {{"jws", foreign.value()}};
    CPPUNIT_ASSERT_MESSAGE("unpinned key accepted",
                           !CheckBody(body.dump()).ok());

    std::string token = Sign(PageClaims());
    token[token.size() - 3] = token[token.size() - 3] == 'A' ? 'B' : 'A';
    body = {{"jws", token}};
    CPPUNIT_ASSERT_MESSAGE("tampered signature accepted",
                           !CheckBody(body.dump()).ok());
  }

  void FeedResponseErrors() {
    std::string good = Body(PageClaims());
    auto not_ok = zsp::CheckFeedPage(503, good, keys_, kHost, kNonce, 10,
                                     kNow, kSkew);
    CPPUNIT_ASSERT_MESSAGE("HTTP 503 accepted", !not_ok.ok());
    CPPUNIT_ASSERT(not_ok.error().find("HTTP 503") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE("not JSON", !CheckBody("jws").ok());
    CPPUNIT_ASSERT_MESSAGE("no jws", !CheckBody("{\"page\":1}").ok());
    CPPUNIT_ASSERT_MESSAGE("repeated key",
                           !CheckBody("{\"jws\":\"a\",\"jws\":\"b\"}").ok());
    std::string huge(zsp::kMaxFeedResponseBytes + 1, ' ');
    CPPUNIT_ASSERT_MESSAGE("oversized body", !CheckBody(huge).ok());
  }

  void PlaceRequestRoundTrip() {
    std::string line = zsp::EncodePlaceRequest("a.b.c");
    CPPUNIT_ASSERT_EQUAL('\n', line.back());
    line.pop_back();
    auto request = zsp::ParsePlaceRequest(line);
    CPPUNIT_ASSERT_MESSAGE(request.ok() ? "" : request.error(), request.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("a.b.c"), request.value().token);
    CPPUNIT_ASSERT_MESSAGE("a decision", !request.value().break_glass);

    line = zsp::EncodeBreakGlassPlaceRequest("zsp-bg1.p.k.s");
    CPPUNIT_ASSERT_EQUAL('\n', line.back());
    line.pop_back();
    request = zsp::ParsePlaceRequest(line);
    CPPUNIT_ASSERT_MESSAGE(request.ok() ? "" : request.error(), request.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("zsp-bg1.p.k.s"), request.value().token);
    CPPUNIT_ASSERT_MESSAGE("a break-glass token", request.value().break_glass);
  }

  void PlaceRequestRejected() {
    const char* bad[] = {
        "",
        "place a.b.c",
        "[]",
        "{\"op\":\"kill\",\"decision\":\"a.b.c\"}",
        "{\"op\":\"place\"}",
        "{\"op\":\"place\",\"decision\":7}",
        "{\"op\":\"place\",\"decision\":\"a\",\"pid\":1}",
        "{\"op\":\"place\",\"op\":\"place\",\"decision\":\"a\"}",
        "{\"op\":\"place\",\"breakglass\":\"\"}",
        "{\"op\":\"place\",\"breakglass\":[]}",
        "{\"op\":\"place\",\"decision\":\"a\",\"breakglass\":\"b\"}",
    };
    for (const char* line : bad) {
      CPPUNIT_ASSERT_MESSAGE(std::string("accepted: ") + line,
                             !zsp::ParsePlaceRequest(line).ok());
    }
    std::string huge = "{\"op\":\"place\",\"decision\":\"" +
                       std::string(zsp::kMaxAgentRequestBytes, 'a') + "\"}";
    CPPUNIT_ASSERT_MESSAGE("oversized request",
                           !zsp::ParsePlaceRequest(huge).ok());
  }

  void AgentReplyRoundTrip() {
    zsp::AgentReply placed;
    placed.ok = true;
    placed.grant = "g-0123456789ab";
    placed.cgroup = "/zsp/g-0123456789ab";
    std::string line = zsp::EncodeAgentReply(placed);
    line.pop_back();
    auto parsed = zsp::ParseAgentReply(line);
    CPPUNIT_ASSERT(parsed.ok());
    CPPUNIT_ASSERT(parsed.value().ok);
    CPPUNIT_ASSERT_EQUAL(placed.grant, parsed.value().grant);
    CPPUNIT_ASSERT_EQUAL(placed.cgroup, parsed.value().cgroup);

    zsp::AgentReply refused;
    refused.error = "grant g-0123456789ab has been revoked or ended";
    line = zsp::EncodeAgentReply(refused);
    line.pop_back();
    parsed = zsp::ParseAgentReply(line);
    CPPUNIT_ASSERT(parsed.ok());
    CPPUNIT_ASSERT(!parsed.value().ok);
    CPPUNIT_ASSERT_EQUAL(refused.error, parsed.value().error);
  }

  void AgentReplyRejected() {
    CPPUNIT_ASSERT(!zsp::ParseAgentReply("").ok());
    CPPUNIT_ASSERT(!zsp::ParseAgentReply("{\"ok\":\"yes\"}").ok());
    CPPUNIT_ASSERT(!zsp::ParseAgentReply("{\"ok\":true}").ok());
    auto no_reason = zsp::ParseAgentReply("{\"ok\":false}");
    CPPUNIT_ASSERT(no_reason.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("no reason given"),
                         no_reason.value().error);
  }

  void PlacementTokenAccepted() {
    auto claims = zsp::CheckPlacementToken(Sign(AllowClaims(), true), keys_,
                                           kHost, kNow, kSkew);
    CPPUNIT_ASSERT_MESSAGE(claims.ok() ? "" : claims.error(), claims.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("g-0123456789ab"), claims.value().grant);
    CPPUNIT_ASSERT_EQUAL(std::string("r-0123456789ab"),
                         claims.value().request);
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), claims.value().user);
    CPPUNIT_ASSERT_EQUAL(std::string("sudo"), claims.value().kind);
    CPPUNIT_ASSERT_EQUAL(kNow + 3600, claims.value().grant_expires);
  }

  void PlacementTokenRejected() {
    struct Case {
      const char* name;
      const char* claim;
      json value;
    };
    const Case cases[] = {
        {"deny", "decision", "deny"},
        {"other host", "host", "web2.example.com"},
        {"issuer", "iss", "someone"},
        {"expired decision", "exp", kNow - kSkew - 1},
        {"future decision", "iat", kNow + kSkew + 1},
        {"grant ended", "grant_exp", kNow},
        {"path in grant id", "grant", "g-../../../x"},
        {"missing grant_exp", "grant_exp", nullptr},
    };
    for (const Case& c : cases) {
      json claims = AllowClaims();
      if (c.value.is_null()) {
        claims.erase(c.claim);
      } else {
        claims[c.claim] = c.value;
      }
      auto checked = zsp::CheckPlacementToken(Sign(claims, true), keys_,
                                              kHost, kNow, kSkew);
      CPPUNIT_ASSERT_MESSAGE(std::string(c.name) + ": accepted",
                             !checked.ok());
    }
    // A feed page is not a decision, although the same key signs both.
    auto page = zsp::CheckPlacementToken(Sign(AllowClaims()), keys_, kHost,
                                         kNow, kSkew);
    CPPUNIT_ASSERT_MESSAGE("feed type accepted", !page.ok());
  }

  void GrantIdFormat() {
    CPPUNIT_ASSERT(zsp::IsGrantId("g-0123456789ab"));
    CPPUNIT_ASSERT(!zsp::IsGrantId("g-0123456789a"));
    CPPUNIT_ASSERT(!zsp::IsGrantId("g-0123456789abc"));
    CPPUNIT_ASSERT(!zsp::IsGrantId("g-0123456789aB"));
    CPPUNIT_ASSERT(!zsp::IsGrantId("x-0123456789ab"));
    CPPUNIT_ASSERT(!zsp::IsGrantId("g-/123456789ab"));
  }

  void AskAgentOverSocket() {
    std::string path = SocketPath();
    zsp::UniqueFd listener = ListenAt(path);
    std::string received;
    std::thread server([&] {
      zsp::UniqueFd client(accept(listener.get(), nullptr, nullptr));
      char buffer[256];
      ssize_t n = read(client.get(), buffer, sizeof buffer);
      if (n > 0) received.assign(buffer, static_cast<size_t>(n));
      std::string reply =
          "{\"ok\":true,\"grant\":\"g-0123456789ab\",\"cgroup\":\"/zsp/"
          "g-0123456789ab\"}\n";
      ssize_t ignored = write(client.get(), reply.data(), reply.size());
      (void)ignored;
    });
    auto reply = zsp::AskAgentToPlace(path, "a.b.c", 2000);
    server.join();
    unlink(path.c_str());
    CPPUNIT_ASSERT_MESSAGE(reply.ok() ? "" : reply.error(), reply.ok());
    CPPUNIT_ASSERT(reply.value().ok);
    CPPUNIT_ASSERT_EQUAL(std::string("/zsp/g-0123456789ab"),
                         reply.value().cgroup);
    CPPUNIT_ASSERT_EQUAL(zsp::EncodePlaceRequest("a.b.c"), received);
  }

  void AskAgentNoSocket() {
    auto reply = zsp::AskAgentToPlace("/nonexistent/zsp-agent.sock", "a.b.c",
                                      500);
    CPPUNIT_ASSERT(!reply.ok());
    CPPUNIT_ASSERT_MESSAGE(reply.error(),
                           reply.error().find("cannot connect") !=
                               std::string::npos);
  }

  void AskAgentSilentServer() {
    std::string path = SocketPath();
    zsp::UniqueFd listener = ListenAt(path);
    auto reply = zsp::AskAgentToPlace(path, "a.b.c", 300);
    unlink(path.c_str());
    CPPUNIT_ASSERT_MESSAGE("silent agent accepted", !reply.ok());
    CPPUNIT_ASSERT_MESSAGE(reply.error(),
                           reply.error().find("waiting for the zsp agent") !=
                               std::string::npos);
  }

  // A placement shares timeout_ms with the decision before it.
  void PlacementWaitsWhatIsLeft() {
    auto start = std::chrono::steady_clock::now();
    using std::chrono::milliseconds;
    CPPUNIT_ASSERT_EQUAL(5000L, zsp::PlacementWaitMs(5000, start, start));
    CPPUNIT_ASSERT_EQUAL(
        2800L, zsp::PlacementWaitMs(5000, start, start + milliseconds(2200)));
    CPPUNIT_ASSERT_EQUAL(
        1001L, zsp::PlacementWaitMs(5000, start, start + milliseconds(3999)));
    // A clock that reads before the request gives the whole timeout, and
    // so does a request time that was never set.
    CPPUNIT_ASSERT_EQUAL(
        5000L, zsp::PlacementWaitMs(5000, start + milliseconds(10), start));
    CPPUNIT_ASSERT_EQUAL(
        5000L,
        zsp::PlacementWaitMs(5000, std::chrono::steady_clock::time_point{},
                             start));
  }

  // However long the decision took, the agent gets at least one second,
  // or all of timeout_ms when that is shorter.
  void PlacementWaitsAtLeastTheFloor() {
    auto start = std::chrono::steady_clock::now();
    using std::chrono::milliseconds;
    CPPUNIT_ASSERT_EQUAL(
        zsp::kMinPlacementWaitMs,
        zsp::PlacementWaitMs(5000, start, start + milliseconds(4500)));
    CPPUNIT_ASSERT_EQUAL(
        zsp::kMinPlacementWaitMs,
        zsp::PlacementWaitMs(5000, start, start + milliseconds(60000)));
    CPPUNIT_ASSERT_EQUAL(
        400L, zsp::PlacementWaitMs(400, start, start + milliseconds(900)));
    CPPUNIT_ASSERT_EQUAL(
        400L, zsp::PlacementWaitMs(400, start, start + milliseconds(100)));
  }

  void Cgroup2MountFound() {
    std::string mountinfo =
        "25 1 0:23 / /sys rw,nosuid - sysfs sysfs rw\n"
        "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
        "41 31 0:38 / /sys/fs/cgroup/my\\040tree rw,relatime - cgroup2 "
        "cgroup2 rw\n";
    auto mount = zsp::agent::FindCgroup2Mount(mountinfo);
    CPPUNIT_ASSERT_MESSAGE(mount.ok() ? "" : mount.error(), mount.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("/sys/fs/cgroup/my tree"),
                         mount.value());
  }

  void Cgroup2MountMissing() {
    auto mount = zsp::agent::FindCgroup2Mount(
        "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
    CPPUNIT_ASSERT(!mount.ok());
  }

 private:
  // Signs claims as a feed page, or as a decision when decision is set.
  std::string Sign(const json& claims, bool decision = false) {
    auto token = zsp::SignJws(key_.get(), claims.dump(),
                              decision ? zsp::kDecisionJwsType
                                       : zsp::kFeedJwsType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    return token.value();
  }

  std::string Body(const json& claims) {
    return json{{"jws", Sign(claims)}}.dump();
  }

  zsp::Result<zsp::FeedPage> CheckBody(const std::string& body) {
    return zsp::CheckFeedPage(200, body, keys_, kHost, kNonce, 10, kNow,
                              kSkew);
  }

  // The client checks that the agent is root, so these tests need root,
  // as the integration suites do.
  std::string SocketPath() {
    return "/tmp/zsp-agent-test-" + std::to_string(getpid()) + ".sock";
  }

  zsp::UniqueFd ListenAt(const std::string& path) {
    unlink(path.c_str());
    zsp::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size());
    CPPUNIT_ASSERT(bind(fd.get(), reinterpret_cast<sockaddr*>(&address),
                        sizeof address) == 0);
    CPPUNIT_ASSERT(listen(fd.get(), 4) == 0);
    return fd;
  }

  EvpPkeyPtr key_;
  std::vector<zsp::PinnedKey> keys_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentFeedTest);

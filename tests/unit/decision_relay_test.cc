// Tests for common/decision_relay: the decide request and its framed reply
// (encode, parse, every rejection), and RelayThroughAgent against a stand-in
// agent on a unix socket in a temporary directory that replies correctly,
// with garbage, with a short body, or not at all.
#include "common/decision_relay.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/handles.h"

namespace {

using zsp::RelayReply;
using zsp::RelayRequest;

std::string WithoutNewline(std::string line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A stand-in agent: accepts one connection on path, reads the request
// line, waits stall_ms, then writes reply and closes.
class FakeAgent {
 public:
  FakeAgent(const std::string& path, std::string reply, int stall_ms)
      : reply_(std::move(reply)), stall_ms_(stall_ms) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size());
    listener_ = zsp::UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    bind(listener_.get(), reinterpret_cast<sockaddr*>(&address),
         sizeof address);
    listen(listener_.get(), 4);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeAgent() { thread_.join(); }

  std::string request() const { return request_; }

 private:
  void Serve() {
    zsp::UniqueFd client(accept4(listener_.get(), nullptr, nullptr,
                                 SOCK_CLOEXEC));
    char buffer[4096];
    while (!Contains(request_, "\n")) {
      ssize_t n = recv(client.get(), buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request_.append(buffer, static_cast<size_t>(n));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms_));
    ssize_t ignored = send(client.get(), reply_.data(), reply_.size(),
                           MSG_NOSIGNAL);
    (void)ignored;
  }

  zsp::UniqueFd listener_;
  std::string reply_;
  int stall_ms_;
  std::string request_;
  std::thread thread_;
};

}  // namespace

class DecisionRelayTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DecisionRelayTest);
  CPPUNIT_TEST(RequestRoundTrip);
  CPPUNIT_TEST(RequestRejected);
  CPPUNIT_TEST(RequestOp);
  CPPUNIT_TEST(ReplyRoundTripKeepsBytes);
  CPPUNIT_TEST(ReplyRejection);
  CPPUNIT_TEST(ReplyRejectionFailedUrls);
  CPPUNIT_TEST(ReplyFailedUrlsRejected);
  CPPUNIT_TEST(ReplyHeaderRejected);
  CPPUNIT_TEST(ReplyLengthMismatch);
  CPPUNIT_TEST(ClientReadsReply);
  CPPUNIT_TEST(ClientNoAgent);
  CPPUNIT_TEST(ClientGarbageReply);
  CPPUNIT_TEST(ClientShortBody);
  CPPUNIT_TEST(ClientRejectionFailedUrls);
  CPPUNIT_TEST(ClientRejection);
  CPPUNIT_TEST(ClientStalledAgentTimesOut);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char pattern[] = "/tmp/zsp-relay-test.XXXXXX";
    CPPUNIT_ASSERT_MESSAGE("mkdtemp", mkdtemp(pattern) != nullptr);
    dir_ = pattern;
    socket_ = dir_ + "/agent.sock";
  }

  void tearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void RequestRoundTrip() {
    RelayRequest request;
    request.body = "{\"user\":\"alice\",\"argv\":[\"/bin/echo\",\"a\\nb\"]}";
    request.timeout_ms = 2500;
    std::string line = zsp::EncodeRelayRequest(request);
    CPPUNIT_ASSERT_EQUAL('\n', line.back());
    CPPUNIT_ASSERT_MESSAGE("one line",
                           line.find('\n') == line.size() - 1);
    auto parsed = zsp::ParseRelayRequest(WithoutNewline(line));
    CPPUNIT_ASSERT_MESSAGE(parsed.ok() ? "" : parsed.error(), parsed.ok());
    CPPUNIT_ASSERT_EQUAL(request.body, parsed.value().body);
    CPPUNIT_ASSERT_EQUAL(2500L, parsed.value().timeout_ms);
  }

  void RequestRejected() {
    const char* bad[] = {
        "",
        "decide {}",
        "[]",
        "{\"op\":\"place\",\"timeout_ms\":100,\"body\":\"{}\"}",
        "{\"timeout_ms\":100,\"body\":\"{}\"}",
        "{\"op\":\"decide\",\"body\":\"{}\"}",
        "{\"op\":\"decide\",\"timeout_ms\":0,\"body\":\"{}\"}",
        "{\"op\":\"decide\",\"timeout_ms\":60001,\"body\":\"{}\"}",
        "{\"op\":\"decide\",\"timeout_ms\":1.5,\"body\":\"{}\"}",
        "{\"op\":\"decide\",\"timeout_ms\":\"100\",\"body\":\"{}\"}",
        "{\"op\":\"decide\",\"timeout_ms\":100}",
        "{\"op\":\"decide\",\"timeout_ms\":100,\"body\":\"\"}",
        "{\"op\":\"decide\",\"timeout_ms\":100,\"body\":{}}",
        "{\"op\":\"decide\",\"timeout_ms\":100,\"body\":\"{}\",\"url\":\"x\"}",
        "{\"op\":\"decide\",\"op\":\"decide\",\"timeout_ms\":100,"
        "\"body\":\"{}\"}",
    };
    for (const char* line : bad) {
      CPPUNIT_ASSERT_MESSAGE(std::string("accepted: ") + line,
                             !zsp::ParseRelayRequest(line).ok());
    }
    RelayRequest big;
    big.timeout_ms = 100;
    big.body = std::string(zsp::kMaxRelayBodyBytes + 1, 'a');
    auto too_big = zsp::ParseRelayRequest(
        WithoutNewline(zsp::EncodeRelayRequest(big)));
    CPPUNIT_ASSERT_MESSAGE("oversized body", !too_big.ok());
    CPPUNIT_ASSERT_MESSAGE(too_big.error(), Contains(too_big.error(), "body"));
    std::string huge(zsp::kMaxRelayRequestBytes, ' ');
    CPPUNIT_ASSERT_MESSAGE("oversized line",
                           !zsp::ParseRelayRequest(huge).ok());
    big.body.pop_back();
    CPPUNIT_ASSERT_MESSAGE(
        "body at the limit",
        zsp::ParseRelayRequest(WithoutNewline(zsp::EncodeRelayRequest(big)))
            .ok());
  }

  void RequestOp() {
    CPPUNIT_ASSERT_EQUAL(std::string("decide"),
                         zsp::AgentRequestOp("{\"op\":\"decide\"}"));
    CPPUNIT_ASSERT_EQUAL(std::string("place"),
                         zsp::AgentRequestOp("{\"op\":\"place\",\"x\":1}"));
    CPPUNIT_ASSERT_EQUAL(std::string(), zsp::AgentRequestOp("{\"op\":7}"));
    CPPUNIT_ASSERT_EQUAL(std::string(), zsp::AgentRequestOp("not json"));
    CPPUNIT_ASSERT_EQUAL(std::string(), zsp::AgentRequestOp("[\"op\"]"));
  }

  void ReplyRoundTripKeepsBytes() {
    RelayReply reply;
    reply.ok = true;
    reply.status = 200;
    // Newlines, NUL and bytes that are not UTF-8 pass unchanged.
    reply.body = std::string("{\"jws\":\"a.b.c\"}\n\0\xff\xfe tail", 23);
    std::string encoded = zsp::EncodeRelayReply(reply);
    auto parsed = zsp::ParseRelayReply(encoded);
    CPPUNIT_ASSERT_MESSAGE(parsed.ok() ? "" : parsed.error(), parsed.ok());
    CPPUNIT_ASSERT(parsed.value().ok);
    CPPUNIT_ASSERT_EQUAL(200L, parsed.value().status);
    CPPUNIT_ASSERT_EQUAL(reply.body, parsed.value().body);

    reply.status = 503;
    reply.body.clear();
    parsed = zsp::ParseRelayReply(zsp::EncodeRelayReply(reply));
    CPPUNIT_ASSERT(parsed.ok());
    CPPUNIT_ASSERT_EQUAL(503L, parsed.value().status);
    CPPUNIT_ASSERT_EQUAL(std::string(), parsed.value().body);
  }

  void ReplyRejection() {
    RelayReply rejected;
    rejected.error = "broker unreachable";
    auto parsed = zsp::ParseRelayReply(zsp::EncodeRelayReply(rejected));
    CPPUNIT_ASSERT(parsed.ok());
    CPPUNIT_ASSERT(!parsed.value().ok);
    CPPUNIT_ASSERT_EQUAL(rejected.error, parsed.value().error);
    auto no_reason = zsp::ParseRelayReplyHeader("{\"ok\":false}");
    CPPUNIT_ASSERT(no_reason.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("no reason given"),
                         no_reason.value().error);
    CPPUNIT_ASSERT_MESSAGE(
        "bytes after a refusal",
        !zsp::ParseRelayReply("{\"ok\":false,\"error\":\"x\"}\nextra").ok());
  }

  void ReplyRejectionFailedUrls() {
    RelayReply rejected;
    rejected.error = "timed out";
    rejected.failed_urls = {"https://a:1", "https://b:2"};
    auto parsed = zsp::ParseRelayReply(zsp::EncodeRelayReply(rejected));
    CPPUNIT_ASSERT(parsed.ok());
    CPPUNIT_ASSERT(!parsed.value().ok);
    CPPUNIT_ASSERT(parsed.value().failed_urls == rejected.failed_urls);
    auto none = zsp::ParseRelayReplyHeader("{\"ok\":false,\"error\":\"x\"}");
    CPPUNIT_ASSERT(none.ok());
    CPPUNIT_ASSERT(none.value().failed_urls.empty());
  }

  void ReplyFailedUrlsRejected() {
    std::string nine = "[";
    for (int i = 0; i < 9; ++i) nine += std::string(i ? "," : "") + "\"u\"";
    nine += "]";
    const std::string bad[] = {
        "\"https://a\"",
        "[1]",
        "[[\"https://a\"]]",
        nine,
        "[\"" + std::string(zsp::kMaxRelayFailedUrlBytes + 1, 'u') + "\"]",
    };
    for (const auto& value : bad) {
      std::string line = "{\"ok\":false,\"error\":\"x\",\"failed_urls\":" +
                         value + "}";
      CPPUNIT_ASSERT_MESSAGE("accepted: " + value,
                             !zsp::ParseRelayReplyHeader(line).ok());
    }
  }

  void ReplyHeaderRejected() {
    const char* bad[] = {
        "",
        "HTTP/1.1 200 OK",
        "{\"ok\":\"yes\",\"status\":200,\"length\":0}",
        "{\"ok\":true,\"length\":0}",
        "{\"ok\":true,\"status\":200}",
        "{\"ok\":true,\"status\":99,\"length\":0}",
        "{\"ok\":true,\"status\":600,\"length\":0}",
        "{\"ok\":true,\"status\":\"200\",\"length\":0}",
        "{\"ok\":true,\"status\":200,\"length\":-1}",
        "{\"ok\":true,\"status\":200,\"length\":1.5}",
        "{\"ok\":true,\"status\":200,\"length\":131073}",
        "{\"ok\":true,\"ok\":true,\"status\":200,\"length\":0}",
    };
    for (const char* line : bad) {
      CPPUNIT_ASSERT_MESSAGE(std::string("accepted: ") + line,
                             !zsp::ParseRelayReplyHeader(line).ok());
    }
    CPPUNIT_ASSERT_MESSAGE(
        "length at the limit",
        zsp::ParseRelayReplyHeader(
            "{\"ok\":true,\"status\":200,\"length\":131072}")
            .ok());
  }

  void ReplyLengthMismatch() {
    const std::string header = "{\"ok\":true,\"status\":200,\"length\":5}\n";
    CPPUNIT_ASSERT(zsp::ParseRelayReply(header + "abcde").ok());
    CPPUNIT_ASSERT_MESSAGE("short", !zsp::ParseRelayReply(header + "abcd").ok());
    CPPUNIT_ASSERT_MESSAGE("long", !zsp::ParseRelayReply(header + "abcdef").ok());
    CPPUNIT_ASSERT_MESSAGE("no newline",
                           !zsp::ParseRelayReply("{\"ok\":true}").ok());
  }

  void ClientReadsReply() {
    RelayReply reply;
    reply.ok = true;
    reply.status = 200;
    reply.body = "{\"jws\":\"a.b.c\"}";
    FakeAgent agent(socket_, zsp::EncodeRelayReply(reply), 0);
    auto relayed = zsp::RelayThroughAgent(socket_, Request(1000));
    CPPUNIT_ASSERT_MESSAGE(relayed.ok() ? "" : relayed.error(), relayed.ok());
    CPPUNIT_ASSERT_EQUAL(reply.body, relayed.value().body);
    CPPUNIT_ASSERT_EQUAL(200L, relayed.value().status);
    CPPUNIT_ASSERT_EQUAL(zsp::EncodeRelayRequest(Request(1000)),
                         agent.request());
  }

  void ClientNoAgent() {
    auto relayed = zsp::RelayThroughAgent(socket_, Request(1000));
    CPPUNIT_ASSERT(!relayed.ok());
    CPPUNIT_ASSERT_MESSAGE(relayed.error(),
                           Contains(relayed.error(), "cannot connect"));
  }

  void ClientGarbageReply() {
    FakeAgent agent(socket_, "HTTP/1.1 200 OK\r\n\r\n{}\n", 0);
    CPPUNIT_ASSERT(!zsp::RelayThroughAgent(socket_, Request(1000)).ok());
  }

  void ClientShortBody() {
    FakeAgent agent(socket_, "{\"ok\":true,\"status\":200,\"length\":50}\n{}",
                    0);
    auto relayed = zsp::RelayThroughAgent(socket_, Request(1000));
    CPPUNIT_ASSERT(!relayed.ok());
    CPPUNIT_ASSERT_MESSAGE(relayed.error(),
                           Contains(relayed.error(), "announced"));
  }

  void ClientRejection() {
    FakeAgent agent(socket_, "{\"ok\":false,\"error\":\"busy\"}\n", 0);
    auto relayed = zsp::RelayThroughAgent(socket_, Request(1000));
    CPPUNIT_ASSERT(!relayed.ok());
    CPPUNIT_ASSERT_MESSAGE(relayed.error(),
                           Contains(relayed.error(), "rejected the request: busy"));
  }

  void ClientRejectionFailedUrls() {
    FakeAgent agent(socket_,
                    "{\"ok\":false,\"error\":\"timed out\","
                    "\"failed_urls\":[\"https://a:1\"]}\n",
                    0);
    std::vector<std::string> failed_urls;
    auto relayed =
        zsp::RelayThroughAgent(socket_, Request(1000), 1000, &failed_urls);
    CPPUNIT_ASSERT(!relayed.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, failed_urls.size());
    CPPUNIT_ASSERT_EQUAL(std::string("https://a:1"), failed_urls[0]);
  }

  void ClientStalledAgentTimesOut() {
    FakeAgent agent(socket_, "", 600);
    auto started = std::chrono::steady_clock::now();
    auto relayed = zsp::RelayThroughAgent(socket_, Request(200));
    auto elapsed = std::chrono::steady_clock::now() - started;
    CPPUNIT_ASSERT(!relayed.ok());
    CPPUNIT_ASSERT_MESSAGE(relayed.error(),
                           Contains(relayed.error(), "timed out"));
    CPPUNIT_ASSERT_MESSAGE("returned within the time limit",
                           elapsed < std::chrono::milliseconds(400));
  }

 private:
  static RelayRequest Request(long timeout_ms) {
    RelayRequest request;
    request.body = "{\"user\":\"alice\"}";
    request.timeout_ms = timeout_ms;
    return request;
  }

  std::string dir_;
  std::string socket_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(DecisionRelayTest);

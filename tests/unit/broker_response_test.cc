// Tests for CheckBrokerResponse (the HTTP status and body a broker sends
// back) and for the repeated broker_url setting. Tokens are signed here with
// a test key; nothing talks to a broker.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/decision.h"

namespace {

using nlohmann::json;
using zsp::Decision;
using zsp::Verdict;

constexpr int64_t kNow = 1700000000;
constexpr char kNonce[] = "cmVzcG9uc2Utbm9uY2U";

zsp::DecisionQuery LoginQuery() {
  zsp::DecisionQuery query;
  query.user = "alice";
  query.host = "web1";
  query.kind = "login";
  return query;
}

json AllowClaims() {
  return {{"iss", "zsp-broker"}, {"ver", 1},          {"sub", "alice"},
          {"host", "web1"},      {"kind", "login"},   {"runas", ""},
          {"argv", json::array()}, {"runas_group", ""},
          {"env", json::array()}, {"nonce", kNonce}, {"iat", kNow},
          {"exp", kNow + 60},    {"decision", "allow"}, {"grant", "g-1"},
          {"request", "r-1"},    {"grant_exp", kNow + 3600}};
}

std::string Name(Verdict verdict) { return zsp::VerdictName(verdict); }

std::string ConfigWithUrls(const std::vector<std::string>& urls) {
  std::string text;
  for (const auto& url : urls) text += "broker_url = " + url + "\n";
  text +=
      "ca_file = /etc/zsp/ca.pem\n"
      "client_cert = /etc/zsp/host.pem\n"
      "client_key = /etc/zsp/host.key\n"
      "decision_key = /etc/zsp/decision.pub\n";
  return text;
}

}  // namespace

class BrokerResponseTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerResponseTest);
  CPPUNIT_TEST(ValidAllow);
  CPPUNIT_TEST(HttpErrorIsUnavailable);
  CPPUNIT_TEST(ClientErrorIsRejected);
  CPPUNIT_TEST(MalformedBodiesAreInvalid);
  CPPUNIT_TEST(DuplicateJwsKeyIsInvalid);
  CPPUNIT_TEST(DeepNestingIsInvalid);
  CPPUNIT_TEST(OversizedBodyIsInvalid);
  CPPUNIT_TEST(ConfigKeepsEveryBrokerUrl);
  CPPUNIT_TEST(ConfigCapsBrokerUrls);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    CPPUNIT_ASSERT_MESSAGE("generate Ed25519 key", key_ != nullptr);
    keys_.clear();
    keys_.push_back(zsp::PinnedKeyOf(key_.get()).value());
  }

  void ValidAllow() {
    Decision d = Check(200, Body(Token()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict (" + d.detail + ")",
                                 std::string("allow"), Name(d.verdict));
  }

  void HttpErrorIsUnavailable() {
    for (long status : {301L, 404L, 408L, 429L, 500L, 503L}) {
      Decision d = Check(status, Body(Token()));
      CPPUNIT_ASSERT_MESSAGE("not rejected: HTTP " + std::to_string(status),
                             !d.rejected);
      CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict for HTTP " + std::to_string(status),
                                   std::string("unavailable"),
                                   Name(d.verdict));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          "detail for HTTP " + std::to_string(status),
          "broker answered HTTP " + std::to_string(status), d.detail);
    }
  }

  void ClientErrorIsRejected() {
    for (long status : {400L, 401L, 403L, 413L, 422L}) {
      Decision d = Check(
          status, R"({"error":"invalid_request","message":"bad user\nname"})");
      std::string name = "HTTP " + std::to_string(status);
      CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict for " + name,
                                   std::string("unavailable"), Name(d.verdict));
      CPPUNIT_ASSERT_MESSAGE("rejected for " + name, d.rejected);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          "detail for " + name,
          "broker rejected the request with " + name + ": bad user\\x0aname",
          d.detail);
    }
    Decision no_body = Check(400, "not json");
    CPPUNIT_ASSERT_EQUAL(std::string("broker rejected the request with HTTP 400"),
                         no_body.detail);
  }

  void MalformedBodiesAreInvalid() {
    std::string token = Token();
    const std::string bodies[] = {
        "",
        "null",
        "[]",
        "{}",
        "{\"jws\":12}",
        "{\"jws\":[\"" + token + "\"]}",
        "{\"jws\":null}",
        std::string("{\"jws\":\"") + token + std::string("\0\"}", 3),
        std::string("\0", 1) + Body(token),
        Body(token) + "garbage",
    };
    for (const auto& body : bodies) {
      Decision d = Check(200, body);
      CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict for body of " +
                                       std::to_string(body.size()) + " bytes",
                                   std::string("invalid"), Name(d.verdict));
    }
  }

  void DuplicateJwsKeyIsInvalid() {
    std::string token = Token();
    Decision d =
        Check(200, "{\"jws\":\"" + token + "\",\"jws\":\"" + token + "\"}");
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict", std::string("invalid"),
                                 Name(d.verdict));
  }

  void DeepNestingIsInvalid() {
    std::string deep = "{\"jws\":\"" + Token() + "\",\"x\":";
    for (int i = 0; i < 20; ++i) deep += "[";
    for (int i = 0; i < 20; ++i) deep += "]";
    deep += "}";
    Decision d = Check(200, deep);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict", std::string("invalid"),
                                 Name(d.verdict));
  }

  void OversizedBodyIsInvalid() {
    std::string body = Body(Token());
    body.append(zsp::kMaxBrokerResponseBytes, ' ');
    Decision d = Check(200, body);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict", std::string("invalid"),
                                 Name(d.verdict));
  }

  void ConfigKeepsEveryBrokerUrl() {
    auto config = zsp::ParseHostConfig(
        ConfigWithUrls({"https://a.example:1/", "https://b.example:2"}),
        "/etc/zsp/zsp.conf");
    CPPUNIT_ASSERT_MESSAGE("parses", config.ok());
    const auto& urls = config.value().broker_urls;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("URL count", size_t{2}, urls.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("first URL", std::string("https://a.example:1"),
                                 urls[0]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("second URL",
                                 std::string("https://b.example:2"), urls[1]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("broker_url is the first",
                                 std::string("https://a.example:1"),
                                 config.value().broker_url);
  }

  void ConfigCapsBrokerUrls() {
    std::vector<std::string> urls(zsp::kMaxBrokerUrls + 1,
                                  "https://broker.example");
    auto config = zsp::ParseHostConfig(ConfigWithUrls(urls), "/x.conf");
    CPPUNIT_ASSERT_MESSAGE("too many URLs rejected", !config.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "error names line and key: " + config.error(),
        config.error().find("/x.conf:9: broker_url") != std::string::npos);
  }

 private:
  std::string Token() {
    auto token = zsp::SignJws(key_.get(), AllowClaims().dump(),
                              zsp::kDecisionJwsType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    return token.value();
  }

  static std::string Body(const std::string& token) {
    return "{\"jws\":\"" + token + "\"}";
  }

  Decision Check(long status, const std::string& body) {
    return zsp::CheckBrokerResponse(status, body, keys_, LoginQuery(), kNonce,
                                    kNow, 30);
  }

  zsp::EvpPkeyPtr key_;
  std::vector<zsp::PinnedKey> keys_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerResponseTest);

// Tests for common/decision_cache: entries written here with tokens signed
// by a test key, read back through AskBrokerCached with no broker
// configured, so that a miss shows up as "no broker_url configured". The
// unit tests run as root, like sudo and sshd.
#include "common/decision_cache.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/unit/decision_fixture.h"

namespace {

using nlohmann::json;
using zsp::Decision;
using zsp::EvpPkeyPtr;
using zsp::Verdict;

constexpr char kNonce[] = "Y2FjaGUtdGVzdC1ub25jZQ";

using zsp_test::Pin;

zsp::DecisionQuery Query() { return zsp_test::SudoQuery("web1"); }

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

json AllowClaims(int64_t now) {
  return zsp_test::SudoAllowClaims("web1", kNonce, now, "g-cached", "r-1");
}

std::string Text(Verdict verdict) { return zsp::VerdictName(verdict); }

}  // namespace

class DecisionCacheTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DecisionCacheTest);
  CPPUNIT_TEST(FreshEntryIsUsed);
  CPPUNIT_TEST(CacheOffIgnoresEntry);
  CPPUNIT_TEST(EntryOlderThanBoundIsDropped);
  CPPUNIT_TEST(EntryFromTheFutureIsDropped);
  CPPUNIT_TEST(EntryForAnotherQuestionIsDropped);
  CPPUNIT_TEST(ExpiredTokenIsDropped);
  CPPUNIT_TEST(DenialIsNeverUsed);
  CPPUNIT_TEST(TokenFromUnpinnedKeyIsDropped);
  CPPUNIT_TEST(GarbageEntryIsDropped);
  CPPUNIT_TEST(EntryNotOwnedByRootIsIgnored);
  CPPUNIT_TEST(OpenCacheDirectoryIsSkipped);
  CPPUNIT_TEST(SymlinkedCacheDirectoryIsSkipped);
  CPPUNIT_TEST(ClearRemovesOnlyThatUser);
  CPPUNIT_TEST(KeysSeparateQuestions);
  CPPUNIT_TEST(ConfigBounds);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    key_ = EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    CPPUNIT_ASSERT(key_ != nullptr);
    keys_.clear();
    keys_.push_back(Pin(key_.get()));
    char pattern[] = "/tmp/zsp-cache-test.XXXXXX";
    CPPUNIT_ASSERT(mkdtemp(pattern) != nullptr);
    base_ = pattern;
    config_ = zsp::HostConfig{};
    config_.decision_cache_sec = 10;
    config_.decision_cache_dir = base_ + "/decisions";
  }

  void tearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }

  void FreshEntryIsUsed() {
    Store(Query(), Sign(AllowClaims(Now())), Now());
    std::string problem;
    Decision d = zsp::AskBrokerCached(config_, keys_, Query(), &problem);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict (" + d.detail + ")",
                                 Text(Verdict::kAllow), Text(d.verdict));
    CPPUNIT_ASSERT_MESSAGE("marked cached", d.cached);
    CPPUNIT_ASSERT_EQUAL(std::string("g-cached"), d.grant);
    CPPUNIT_ASSERT_EQUAL(std::string(""), problem);
    // Used again: a hit does not consume the entry.
    d = zsp::AskBrokerCached(config_, keys_, Query());
    CPPUNIT_ASSERT_EQUAL(Text(Verdict::kAllow), Text(d.verdict));
  }

  void CacheOffIgnoresEntry() {
    Store(Query(), Sign(AllowClaims(Now())), Now());
    config_.decision_cache_sec = 0;
    ExpectMiss(Query(), /*entry_removed=*/false);
  }

  void EntryOlderThanBoundIsDropped() {
    // The token itself is still valid; only the stored time is too old.
    Store(Query(), Sign(AllowClaims(Now())), Now() - 11);
    ExpectMiss(Query(), /*entry_removed=*/true);
  }

  void EntryFromTheFutureIsDropped() {
    Store(Query(), Sign(AllowClaims(Now())), Now() + 5);
    ExpectMiss(Query(), /*entry_removed=*/true);
  }

  void EntryForAnotherQuestionIsDropped() {
    // An allow for "restart nginx" placed under the name of "stop nginx".
    zsp::DecisionQuery other = Query();
    other.argv = {"/usr/bin/systemctl", "stop", "nginx"};
    WriteEntryFile(zsp::DecisionCacheQueryKey(other),
                   Entry(Sign(AllowClaims(Now())), Now()));
    ExpectMiss(other, /*entry_removed=*/true);
  }

  void ExpiredTokenIsDropped() {
    json claims = AllowClaims(Now() - 200);  // exp 140 s ago, skew 30 s
    Store(Query(), Sign(claims), Now());
    ExpectMiss(Query(), /*entry_removed=*/true);
  }

  void DenialIsNeverUsed() {
    json claims = AllowClaims(Now());
    claims["decision"] = "deny";
    claims["code"] = "revoked";
    Store(Query(), Sign(claims), Now());
    ExpectMiss(Query(), /*entry_removed=*/true);
  }

  void TokenFromUnpinnedKeyIsDropped() {
    std::string token = Sign(AllowClaims(Now()));
    key_ = EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    keys_.clear();
    keys_.push_back(Pin(key_.get()));
    Store(Query(), token, Now());
    ExpectMiss(Query(), /*entry_removed=*/true);
  }

  void GarbageEntryIsDropped() {
    WriteEntryFile(zsp::DecisionCacheQueryKey(Query()), "{\"stored\": \"x\"");
    ExpectMiss(Query(), /*entry_removed=*/true);
  }

  void EntryNotOwnedByRootIsIgnored() {
    Store(Query(), Sign(AllowClaims(Now())), Now());
    CPPUNIT_ASSERT_EQUAL(0, chown(EntryPath(Query()).c_str(), 65534, 65534));
    ExpectMiss(Query(), /*entry_removed=*/false);
  }

  void OpenCacheDirectoryIsSkipped() {
    Store(Query(), Sign(AllowClaims(Now())), Now());
    CPPUNIT_ASSERT_EQUAL(0, chmod(config_.decision_cache_dir.c_str(), 0755));
    std::string problem;
    Decision d = zsp::AskBrokerCached(config_, keys_, Query(), &problem);
    CPPUNIT_ASSERT_EQUAL(Text(Verdict::kUnavailable), Text(d.verdict));
    CPPUNIT_ASSERT_MESSAGE("problem names the mode: " + problem,
                           problem.find("want mode 0700") != std::string::npos);
  }

  void SymlinkedCacheDirectoryIsSkipped() {
    std::filesystem::create_directory(base_ + "/elsewhere");
    CPPUNIT_ASSERT_EQUAL(0, chmod((base_ + "/elsewhere").c_str(), 0700));
    std::filesystem::create_directory_symlink(base_ + "/elsewhere",
                                              config_.decision_cache_dir);
    std::string problem;
    Decision d = zsp::AskBrokerCached(config_, keys_, Query(), &problem);
    CPPUNIT_ASSERT_EQUAL(Text(Verdict::kUnavailable), Text(d.verdict));
    CPPUNIT_ASSERT_MESSAGE("problem reported", !problem.empty());
  }

  void ClearRemovesOnlyThatUser() {
    Store(Query(), Sign(AllowClaims(Now())), Now());
    zsp::DecisionQuery bob = Query();
    bob.user = "bob";
    Store(bob, "token-of-bob", Now());
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::ClearDecisionCache(config_, "alice"));
    CPPUNIT_ASSERT_MESSAGE("alice's entry removed",
                           !std::filesystem::exists(EntryPath(Query())));
    CPPUNIT_ASSERT_MESSAGE("bob's entry kept",
                           std::filesystem::exists(EntryPath(bob)));
    ExpectMiss(Query(), /*entry_removed=*/true);
    // Clearing a user who never had a cache is not an error.
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::ClearDecisionCache(config_, "carol"));
  }

  void KeysSeparateQuestions() {
    zsp::DecisionQuery a = Query();
    zsp::DecisionQuery b = Query();
    b.env = {"FOO"};
    zsp::DecisionQuery c = Query();
    c.argv = {"/usr/bin/systemctl", "restart nginx"};  // one word, not two
    CPPUNIT_ASSERT(zsp::DecisionCacheQueryKey(a) !=
                   zsp::DecisionCacheQueryKey(b));
    CPPUNIT_ASSERT(zsp::DecisionCacheQueryKey(a) !=
                   zsp::DecisionCacheQueryKey(c));
    CPPUNIT_ASSERT_EQUAL(std::string::size_type{64},
                         zsp::DecisionCacheQueryKey(a).size());
    CPPUNIT_ASSERT(zsp::DecisionCacheUserKey("alice") !=
                   zsp::DecisionCacheUserKey("bob"));
  }

  void ConfigBounds() {
    const std::string base =
        "broker_url = https://broker.example:8443\n"
        "ca_file = /etc/zsp/ca.pem\n"
        "client_cert = /etc/zsp/host.pem\n"
        "client_key = /etc/zsp/host.key\n"
        "decision_key = /etc/zsp/decision.pub\n";
    auto parsed = zsp::ParseHostConfig(base, "test.conf");
    CPPUNIT_ASSERT_MESSAGE(parsed.ok() ? "" : parsed.error(), parsed.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("off by default", 0L,
                                 parsed.value().decision_cache_sec);
    CPPUNIT_ASSERT_EQUAL(std::string("/run/zsp/decisions"),
                         parsed.value().decision_cache_dir);
    parsed = zsp::ParseHostConfig(base + "decision_cache = 5s\n", "test.conf");
    CPPUNIT_ASSERT_MESSAGE(parsed.ok() ? "" : parsed.error(), parsed.ok());
    CPPUNIT_ASSERT_EQUAL(5L, parsed.value().decision_cache_sec);
    parsed = zsp::ParseHostConfig(base + "decision_cache = 60\n", "test.conf");
    CPPUNIT_ASSERT(parsed.ok());
    CPPUNIT_ASSERT_EQUAL(60L, parsed.value().decision_cache_sec);
    parsed = zsp::ParseHostConfig(base + "decision_cache = 2m\n", "test.conf");
    CPPUNIT_ASSERT(!parsed.ok());
    CPPUNIT_ASSERT_MESSAGE(parsed.error(),
                           parsed.error().find("test.conf:6") !=
                               std::string::npos &&
                           parsed.error().find("decision_cache") !=
                               std::string::npos);
    parsed = zsp::ParseHostConfig(base + "decision_cache = -1\n", "t");
    CPPUNIT_ASSERT(!parsed.ok());
    parsed = zsp::ParseHostConfig(base + "decision_cache_dir = run/zsp\n", "t");
    CPPUNIT_ASSERT(!parsed.ok());
  }

 private:
  std::string Sign(const json& claims) {
    auto token = zsp::SignJws(key_.get(), claims.dump(), zsp::kDecisionJwsType);
    CPPUNIT_ASSERT(token.ok());
    return token.value();
  }

  static std::string Entry(const std::string& token, int64_t stored) {
    return json{{"stored", stored}, {"nonce", kNonce}, {"jws", token}}.dump();
  }

  std::string UserDir(const std::string& user) const {
    return config_.decision_cache_dir + "/" + zsp::DecisionCacheUserKey(user);
  }

  std::string EntryPath(const zsp::DecisionQuery& query) const {
    return UserDir(query.user) + "/" + zsp::DecisionCacheQueryKey(query);
  }

  void WriteEntryFile(const std::string& name, const std::string& text,
                      const std::string& user = "alice") {
    std::filesystem::create_directories(UserDir(user));
    CPPUNIT_ASSERT_EQUAL(0, chmod(config_.decision_cache_dir.c_str(), 0700));
    CPPUNIT_ASSERT_EQUAL(0, chmod(UserDir(user).c_str(), 0700));
    std::string path = UserDir(user) + "/" + name;
    std::ofstream(path) << text;
    CPPUNIT_ASSERT_EQUAL(0, chmod(path.c_str(), 0600));
  }

  void Store(const zsp::DecisionQuery& query, const std::string& token,
             int64_t stored) {
    WriteEntryFile(zsp::DecisionCacheQueryKey(query), Entry(token, stored),
                   query.user);
  }

  // With no broker configured, a miss falls through to AskBroker's
  // "no broker_url configured".
  void ExpectMiss(const zsp::DecisionQuery& query, bool entry_removed) {
    Decision d = zsp::AskBrokerCached(config_, keys_, query);
    CPPUNIT_ASSERT_EQUAL(Text(Verdict::kUnavailable), Text(d.verdict));
    CPPUNIT_ASSERT_EQUAL(std::string("no broker_url configured"), d.detail);
    CPPUNIT_ASSERT_MESSAGE("not from the cache", !d.cached);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("entry removed", entry_removed,
                                 !std::filesystem::exists(EntryPath(query)));
  }

  EvpPkeyPtr key_;
  std::vector<zsp::PinnedKey> keys_;
  std::string base_;
  zsp::HostConfig config_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(DecisionCacheTest);

// Tests for common/decision_cache: entries written here with tokens signed
// by a test key, read back through AskBrokerCached with no broker
// configured, so that a miss shows up as "no broker_url configured", and
// the pruning that StoreCachedDecision does before each write. The unit
// tests run as root, like sudo and sshd.
#include "common/decision_cache.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
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

// Returns alice's query for `sudo /usr/bin/id N`, one distinct command per n.
zsp::DecisionQuery NumberedQuery(int n) {
  zsp::DecisionQuery query = Query();
  query.argv = {"/usr/bin/id", std::to_string(n)};
  return query;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

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
  CPPUNIT_TEST(StoredEntryIsUsed);
  CPPUNIT_TEST(WriteRemovesExpiredEntries);
  CPPUNIT_TEST(WriteKeepsFreshEntries);
  CPPUNIT_TEST(WriteRemovesMalformedEntries);
  CPPUNIT_TEST(WriteLeavesOtherUsers);
  CPPUNIT_TEST(WriteDoesNotFollowSymlinks);
  CPPUNIT_TEST(CapEvictsOldestEntries);
  CPPUNIT_TEST(OverfullDirectoryPrunedInBatches);
  CPPUNIT_TEST(StoreSkippedWhenCacheOff);
  CPPUNIT_TEST(FailedWriteIsReported);
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

  void StoredEntryIsUsed() {
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_EQUAL(std::string("root 600"),
                         OwnerAndMode(EntryPath(Query())));
    Decision d = zsp::AskBrokerCached(config_, keys_, Query());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict (" + d.detail + ")",
                                 Text(Verdict::kAllow), Text(d.verdict));
    CPPUNIT_ASSERT_MESSAGE("marked cached", d.cached);
  }

  void WriteRemovesExpiredEntries() {
    // Expired by the stored time only, because the files were modified now.
    for (int i = 0; i < 20; ++i) {
      Store(NumberedQuery(i), "token", Now() - 11);
    }
    // Expired by both the stored time and the modification time.
    for (int i = 20; i < 40; ++i) {
      Store(NumberedQuery(i), "token", Now() - 100);
      SetModified(EntryPath(NumberedQuery(i)), Now() - 100);
    }
    // Stored or modified in the future, as after the clock was stepped back.
    Store(NumberedQuery(40), "token", Now() + 30);
    Store(NumberedQuery(41), "token", Now());
    SetModified(EntryPath(NumberedQuery(41)), Now() + 30);
    CPPUNIT_ASSERT_EQUAL(size_t{42}, FilesIn("alice"));

    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("only the new entry is left", size_t{1},
                                 FilesIn("alice"));
    CPPUNIT_ASSERT_MESSAGE("new entry stored", Exists(EntryPath(Query())));
  }

  void WriteKeepsFreshEntries() {
    Store(NumberedQuery(1), Sign(AllowClaims(Now())), Now() - 9);
    Store(NumberedQuery(2), Sign(AllowClaims(Now())), Now());
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_EQUAL(size_t{3}, FilesIn("alice"));
    CPPUNIT_ASSERT_MESSAGE("entry stored 9 s ago kept",
                           Exists(EntryPath(NumberedQuery(1))));
    CPPUNIT_ASSERT_MESSAGE("entry stored now kept",
                           Exists(EntryPath(NumberedQuery(2))));
    // The entry that is written again is replaced, not removed.
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_EQUAL(size_t{3}, FilesIn("alice"));
    Decision d = zsp::AskBrokerCached(config_, keys_, Query());
    CPPUNIT_ASSERT_EQUAL(Text(Verdict::kAllow), Text(d.verdict));
  }

  void WriteRemovesMalformedEntries() {
    const std::string dir = UserDir("alice");
    auto name = [](int n) {
      return zsp::DecisionCacheQueryKey(NumberedQuery(n));
    };
    WriteEntryFile(name(1), "{\"stored\": \"x\"");
    WriteEntryFile(name(2), Entry("token", Now()));
    CPPUNIT_ASSERT_EQUAL(0, chown((dir + "/" + name(2)).c_str(), 65534, 65534));
    WriteEntryFile(name(3), Entry("token", Now()));
    CPPUNIT_ASSERT_EQUAL(0, chmod((dir + "/" + name(3)).c_str(), 0644));
    WriteEntryFile(name(4), Entry(std::string(70 * 1024, 'a'), Now()));
    WriteEntryFile(name(5), "");
    CPPUNIT_ASSERT_EQUAL(0, mkfifo((dir + "/" + name(6)).c_str(), 0600));
    CPPUNIT_ASSERT_EQUAL(0, mkdir((dir + "/empty").c_str(), 0700));
    CPPUNIT_ASSERT_EQUAL(0, mkdir((dir + "/full").c_str(), 0700));
    std::ofstream(dir + "/full/file") << "x";
    // The temporary files of a write killed a while ago and of a write
    // that another process is doing now.
    WriteEntryFile(name(7) + ".tmp.123", Entry("token", Now()));
    SetModified(dir + "/" + name(7) + ".tmp.123", Now() - 120);
    WriteEntryFile(name(8) + ".tmp.456", Entry("token", Now()));

    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_MESSAGE("invalid JSON removed",
                           !Exists(dir + "/" + name(1)));
    CPPUNIT_ASSERT_MESSAGE("entry not owned by root removed",
                           !Exists(dir + "/" + name(2)));
    CPPUNIT_ASSERT_MESSAGE("entry readable by others removed",
                           !Exists(dir + "/" + name(3)));
    CPPUNIT_ASSERT_MESSAGE("oversized entry removed",
                           !Exists(dir + "/" + name(4)));
    CPPUNIT_ASSERT_MESSAGE("empty entry removed", !Exists(dir + "/" + name(5)));
    CPPUNIT_ASSERT_MESSAGE("FIFO removed", !Exists(dir + "/" + name(6)));
    CPPUNIT_ASSERT_MESSAGE("empty directory removed", !Exists(dir + "/empty"));
    CPPUNIT_ASSERT_MESSAGE("directory with a file not emptied",
                           Exists(dir + "/full/file"));
    CPPUNIT_ASSERT_MESSAGE("stale temporary file removed",
                           !Exists(dir + "/" + name(7) + ".tmp.123"));
    CPPUNIT_ASSERT_MESSAGE("young temporary file kept",
                           Exists(dir + "/" + name(8) + ".tmp.456"));
    CPPUNIT_ASSERT_MESSAGE("new entry stored", Exists(EntryPath(Query())));
  }

  void WriteLeavesOtherUsers() {
    zsp::DecisionQuery bob = Query();
    bob.user = "bob";
    Store(bob, "token-of-bob", Now() - 100);
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_MESSAGE("bob's expired entry is left for bob's next write",
                           Exists(EntryPath(bob)));
  }

  void WriteDoesNotFollowSymlinks() {
    // A valid entry outside the cache, a directory with a file in it, and
    // links to both planted under entry names in alice's directory.
    const std::string outside_file = base_ + "/outside-entry";
    const std::string outside_dir = base_ + "/outside-dir";
    const std::string text = Entry(Sign(AllowClaims(Now())), Now() - 100);
    std::ofstream(outside_file) << text;
    CPPUNIT_ASSERT_EQUAL(0, chmod(outside_file.c_str(), 0600));
    CPPUNIT_ASSERT_EQUAL(0, mkdir(outside_dir.c_str(), 0700));
    std::ofstream(outside_dir + "/" + zsp::DecisionCacheQueryKey(Query()))
        << text;
    MakeUserDir("alice");
    const std::string dir = UserDir("alice");
    const std::string file_link =
        dir + "/" + zsp::DecisionCacheQueryKey(NumberedQuery(1));
    const std::string dir_link =
        dir + "/" + zsp::DecisionCacheQueryKey(NumberedQuery(2));
    const std::string dangling_link = dir + "/dangling";
    CPPUNIT_ASSERT_EQUAL(0, symlink(outside_file.c_str(), file_link.c_str()));
    CPPUNIT_ASSERT_EQUAL(0, symlink(outside_dir.c_str(), dir_link.c_str()));
    CPPUNIT_ASSERT_EQUAL(0, symlink("/nonexistent", dangling_link.c_str()));

    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_MESSAGE("link to a file removed", !Exists(file_link));
    CPPUNIT_ASSERT_MESSAGE("link to a directory removed", !Exists(dir_link));
    CPPUNIT_ASSERT_MESSAGE("dangling link removed", !Exists(dangling_link));
    CPPUNIT_ASSERT_MESSAGE("linked file kept", Exists(outside_file));
    std::ifstream in(outside_file);
    std::string read_back((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("linked file unchanged", text, read_back);
    CPPUNIT_ASSERT_MESSAGE(
        "file in the linked directory kept",
        Exists(outside_dir + "/" + zsp::DecisionCacheQueryKey(Query())));
  }

  void CapEvictsOldestEntries() {
    const int cap = static_cast<int>(zsp::kMaxDecisionCacheEntries);
    // Entry 0 was written first and entry 1 next, and the rest are newer.
    Store(NumberedQuery(0), "token", Now() - 6);
    SetModified(EntryPath(NumberedQuery(0)), Now() - 6);
    Store(NumberedQuery(1), "token", Now() - 5);
    SetModified(EntryPath(NumberedQuery(1)), Now() - 5);
    for (int i = 2; i < cap; ++i) Store(NumberedQuery(i), "token", Now() - 1);
    CPPUNIT_ASSERT_EQUAL(zsp::kMaxDecisionCacheEntries, FilesIn("alice"));

    std::string problem = zsp::StoreCachedDecision(config_, Query(), Allow());
    CPPUNIT_ASSERT_MESSAGE("problem names the limit: " + problem,
                           Contains(problem, "limit of 1000 entries"));
    CPPUNIT_ASSERT_MESSAGE("problem counts the removed: " + problem,
                           Contains(problem, "the 1 oldest"));
    CPPUNIT_ASSERT_EQUAL(zsp::kMaxDecisionCacheEntries, FilesIn("alice"));
    CPPUNIT_ASSERT_MESSAGE("new entry stored", Exists(EntryPath(Query())));
    CPPUNIT_ASSERT_MESSAGE("oldest entry removed",
                           !Exists(EntryPath(NumberedQuery(0))));
    CPPUNIT_ASSERT_MESSAGE("second oldest kept",
                           Exists(EntryPath(NumberedQuery(1))));

    // Writing the same entry again replaces it and removes nothing.
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_MESSAGE("second oldest still kept",
                           Exists(EntryPath(NumberedQuery(1))));

    // Another new entry removes the next oldest.
    problem = zsp::StoreCachedDecision(config_, NumberedQuery(cap), Allow());
    CPPUNIT_ASSERT_MESSAGE("problem counts the removed: " + problem,
                           Contains(problem, "the 1 oldest"));
    CPPUNIT_ASSERT_EQUAL(zsp::kMaxDecisionCacheEntries, FilesIn("alice"));
    CPPUNIT_ASSERT_MESSAGE("second oldest removed",
                           !Exists(EntryPath(NumberedQuery(1))));
    CPPUNIT_ASSERT_MESSAGE("newest entry stored",
                           Exists(EntryPath(NumberedQuery(cap))));
  }

  void OverfullDirectoryPrunedInBatches() {
    // More expired entries than one write examines, as an older zsp that
    // never removed them could leave.
    const int count = static_cast<int>(zsp::kMaxDecisionCacheScan) + 10;
    for (int i = 0; i < count; ++i) {
      Store(NumberedQuery(i), "token", Now() - 100);
      SetModified(EntryPath(NumberedQuery(i)), Now() - 100);
    }
    std::string problem = zsp::StoreCachedDecision(config_, Query(), Allow());
    CPPUNIT_ASSERT_MESSAGE("first write skipped: " + problem,
                           Contains(problem, "the decision was not cached"));
    CPPUNIT_ASSERT_MESSAGE("first write stored nothing",
                           !Exists(EntryPath(Query())));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("first write removed one batch", size_t{10},
                                 FilesIn("alice"));
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("second write removed the rest", size_t{1},
                                 FilesIn("alice"));
    CPPUNIT_ASSERT_MESSAGE("second write stored the entry",
                           Exists(EntryPath(Query())));
  }

  void StoreSkippedWhenCacheOff() {
    Store(NumberedQuery(1), "token", Now() - 100);
    config_.decision_cache_sec = 0;
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), Allow()));
    CPPUNIT_ASSERT_MESSAGE("nothing stored", !Exists(EntryPath(Query())));
    CPPUNIT_ASSERT_MESSAGE("nothing removed",
                           Exists(EntryPath(NumberedQuery(1))));
    config_.decision_cache_sec = 10;
    Decision deny;
    deny.verdict = Verdict::kDeny;
    deny.token = Sign(AllowClaims(Now()));
    deny.nonce = kNonce;
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         zsp::StoreCachedDecision(config_, Query(), deny));
    CPPUNIT_ASSERT_MESSAGE("denial not stored", !Exists(EntryPath(Query())));
  }

  void FailedWriteIsReported() {
    // A directory where the entry belongs makes the final rename fail.
    MakeUserDir("alice");
    CPPUNIT_ASSERT_EQUAL(0, mkdir(EntryPath(Query()).c_str(), 0700));
    std::ofstream(EntryPath(Query()) + "/file") << "x";
    std::string problem = zsp::StoreCachedDecision(config_, Query(), Allow());
    CPPUNIT_ASSERT_MESSAGE("problem names the failure: " + problem,
                           Contains(problem, "cannot write a cache entry"));
    CPPUNIT_ASSERT_MESSAGE("problem says nothing was cached: " + problem,
                           Contains(problem, "the decision was not cached"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("temporary file removed", size_t{1},
                                 FilesIn("alice"));
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

  void MakeUserDir(const std::string& user) {
    std::filesystem::create_directories(UserDir(user));
    CPPUNIT_ASSERT_EQUAL(0, chmod(config_.decision_cache_dir.c_str(), 0700));
    CPPUNIT_ASSERT_EQUAL(0, chmod(UserDir(user).c_str(), 0700));
  }

  void WriteEntryFile(const std::string& name, const std::string& text,
                      const std::string& user = "alice") {
    MakeUserDir(user);
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

  // Returns an allow for Query() as AskBroker returns it.
  Decision Allow() {
    Decision allow;
    allow.verdict = Verdict::kAllow;
    allow.token = Sign(AllowClaims(Now()));
    allow.nonce = kNonce;
    return allow;
  }

  // Returns the number of names in user's cache directory.
  size_t FilesIn(const std::string& user) const {
    size_t count = 0;
    for (const auto& item :
         std::filesystem::directory_iterator(UserDir(user))) {
      (void)item;
      ++count;
    }
    return count;
  }

  static std::string OwnerAndMode(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return "missing";
    std::string owner = st.st_uid == 0 ? "root" : std::to_string(st.st_uid);
    char mode[8];
    snprintf(mode, sizeof mode, "%o", st.st_mode & 07777);
    return owner + " " + mode;
  }

  static void SetModified(const std::string& path, int64_t when) {
    timespec times[2] = {{static_cast<time_t>(when), 0},
                         {static_cast<time_t>(when), 0}};
    CPPUNIT_ASSERT_EQUAL(
        0, utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW));
  }

  EvpPkeyPtr key_;
  std::vector<zsp::PinnedKey> keys_;
  std::string base_;
  zsp::HostConfig config_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(DecisionCacheTest);

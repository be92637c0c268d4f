// Tests for broker/audit_store and the audit routes of broker/api: chain
// checks on arrival, idempotent resends, alerts, append-only tables and
// signed checkpoints.
#include "broker/audit_store.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <httplib.h>
#include <memory>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "broker/api.h"
#include "broker/notify.h"
#include "broker/policy_file.h"
#include "broker/pki.h"
#include "common/audit_spool.h"
#include "common/jws.h"
#include "tests/unit/store_backend.h"

namespace {

using nlohmann::json;
using zsp::broker::AuditStore;

constexpr int64_t kNow = 1'800'000'000;

std::vector<std::string> MakeChain(int n, const std::string& user = "alice") {
  std::vector<std::string> lines;
  std::string prev = zsp::kGenesisHash;
  for (int i = 1; i <= n; ++i) {
    json record = {{"ZSP_USER", user},
                   {"ZSP_DECISION", i % 2 ? "deny" : "allow"},
                   {"seq", i},
                   {"prev", prev},
                   {"time", kNow + i}};
    lines.push_back(record.dump());
    prev = zsp::Sha256Hex(lines.back());
  }
  return lines;
}

// Links records into a chain: seq from 1 and prev from the line before.
std::vector<std::string> LinkChain(std::vector<json> records) {
  std::vector<std::string> lines;
  std::string prev = zsp::kGenesisHash;
  for (size_t i = 0; i < records.size(); ++i) {
    records[i]["seq"] = i + 1;
    records[i]["prev"] = prev;
    lines.push_back(records[i].dump());
    prev = zsp::Sha256Hex(lines.back());
  }
  return lines;
}

json SpoolRepairedRecord(const std::string& bytes, const std::string& hash,
                         const std::string& user) {
  return {{"MESSAGE", "spool-repaired removed an incomplete last line"},
          {"MESSAGE_ID", zsp::kSpoolRepairedMessageId},
          {"ZSP_REMOVED_BYTES", bytes},
          {"ZSP_REMOVED_SHA256", hash},
          {"ZSP_REMOVED_TEXT", "{\"MESSAGE\":\"sudo allow"},
          {"ZSP_REMOVED_USER", user},
          {"time", kNow}};
}

std::vector<std::string> Slice(const std::vector<std::string>& lines,
                               size_t first, size_t count) {
  return std::vector<std::string>(lines.begin() + first,
                                  lines.begin() + first + count);
}

}  // namespace

class AuditStoreTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AuditStoreTest);
  CPPUNIT_TEST(AppendsInOrder);
  CPPUNIT_TEST(ResendIsIdempotent);
  CPPUNIT_TEST(DifferentResendIsConflict);
  CPPUNIT_TEST(GapRaisesAlert);
  CPPUNIT_TEST(HashMismatchRaisesAlert);
  CPPUNIT_TEST(SpoolRepairRaisesAlert);
  CPPUNIT_TEST(SpoolRepairAlertQuotesOnlyValidFields);
  CPPUNIT_TEST(HostsHaveSeparateChains);
  CPPUNIT_TEST(TablesAreAppendOnly);
  CPPUNIT_TEST(CheckpointsSignedWithAuditKey);
  CPPUNIT_TEST(FiltersSelectRecords);
  CPPUNIT_TEST(ApiNeedsHostCertToAppend);
  CPPUNIT_TEST(ApiReadsNeedAuditorRole);
  CPPUNIT_TEST(ApiConflictNamesExpectedSeq);
  CPPUNIT_TEST(ApiCountsAlertsInMetrics);
  CPPUNIT_TEST(ApiPostsSummaryOfHeldBackAlerts);
  CPPUNIT_TEST(BrokerRecordsContinueChain);
  CPPUNIT_TEST(BrokerChainNameReserved);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char dir_template[] = "/tmp/zsp-audit-store-test.XXXXXX";
    dir_ = mkdtemp(dir_template);
    auto key = zsp::broker::LoadOrCreateAuditKey(dir_);
    CPPUNIT_ASSERT_MESSAGE(key.ok() ? "" : key.error(), key.ok());
    auto store = AuditStore::Open(
        zsp::test::FreshStoreLocation(dir_ + "/audit.db"),
        std::move(key.value()), zsp::test::TestStoreOptions());
    CPPUNIT_ASSERT_MESSAGE(store.ok() ? "" : store.error(), store.ok());
    audit_ = std::move(store.value());
  }

  void tearDown() override {
    audit_.reset();
    std::filesystem::remove_all(dir_);
  }

  void AppendsInOrder() {
    auto lines = MakeChain(5);
    auto first = audit_->Append("web-1", Slice(lines, 0, 3), kNow);
    CPPUNIT_ASSERT(first.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), first.value.accepted_through);
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), first.value.stored);
    auto second = audit_->Append("web-1", Slice(lines, 3, 2), kNow);
    CPPUNIT_ASSERT_EQUAL(uint64_t(5), second.value.accepted_through);
    CPPUNIT_ASSERT(!second.value.rejected.has_value());
    auto rows = audit_->ListRecords({});
    CPPUNIT_ASSERT_EQUAL(size_t(5), rows.value.size());
    CPPUNIT_ASSERT_EQUAL(lines[4], rows.value[4].line);
    CPPUNIT_ASSERT_EQUAL(zsp::Sha256Hex(lines[4]), rows.value[4].hash);
  }

  void ResendIsIdempotent() {
    auto lines = MakeChain(4);
    audit_->Append("web-1", Slice(lines, 0, 2), kNow);
    auto again = audit_->Append("web-1", lines, kNow);
    CPPUNIT_ASSERT(again.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), again.value.duplicates);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), again.value.stored);
    CPPUNIT_ASSERT_EQUAL(uint64_t(4), again.value.accepted_through);
    CPPUNIT_ASSERT_EQUAL(size_t(4), audit_->ListRecords({}).value.size());
    CPPUNIT_ASSERT(audit_->ListAlerts(std::nullopt).value.empty());
  }

  void DifferentResendIsConflict() {
    auto lines = MakeChain(3);
    audit_->Append("web-1", lines, kNow);
    auto other = MakeChain(3, "mallory");
    auto outcome = audit_->Append("web-1", Slice(other, 1, 1), kNow);
    CPPUNIT_ASSERT(outcome.value.rejected.has_value());
    CPPUNIT_ASSERT_EQUAL(std::string("conflict"), outcome.value.rejected->kind);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), outcome.value.rejected->seq);
    CPPUNIT_ASSERT_EQUAL(lines[1], audit_->ListRecords({}).value[1].line);
  }

  void GapRaisesAlert() {
    auto lines = MakeChain(5);
    audit_->Append("web-1", Slice(lines, 0, 2), kNow);
    auto outcome = audit_->Append("web-1", Slice(lines, 3, 2), kNow);
    CPPUNIT_ASSERT(outcome.value.rejected.has_value());
    CPPUNIT_ASSERT_EQUAL(std::string("gap"), outcome.value.rejected->kind);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), outcome.value.accepted_through);
    CPPUNIT_ASSERT_EQUAL(size_t(1), outcome.value.raised.size());
    CPPUNIT_ASSERT_EQUAL(std::string("gap"), outcome.value.raised[0].kind);
    // A retry of the same batch does not add a second alert.
    auto retry = audit_->Append("web-1", Slice(lines, 3, 2), kNow + 5);
    CPPUNIT_ASSERT(retry.value.rejected.has_value());
    CPPUNIT_ASSERT(retry.value.raised.empty());
    auto alerts = audit_->ListAlerts(std::string("web-1"));
    CPPUNIT_ASSERT_EQUAL(size_t(1), alerts.value.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(4), alerts.value[0].seq);
  }

  void SpoolRepairRaisesAlert() {
    std::string hash(64, 'a');
    auto lines = LinkChain({{{"ZSP_USER", "alice"}, {"time", kNow}},
                            SpoolRepairedRecord("312", hash, "alice"),
                            {{"ZSP_USER", "bob"}, {"time", kNow + 1}}});
    auto outcome = audit_->Append("web-1", lines, kNow);
    CPPUNIT_ASSERT(outcome.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), outcome.value.stored);
    CPPUNIT_ASSERT(!outcome.value.rejected.has_value());
    CPPUNIT_ASSERT_EQUAL(size_t(1), outcome.value.raised.size());
    const auto& alert = outcome.value.raised[0];
    CPPUNIT_ASSERT_EQUAL(std::string("spool_repaired"), alert.kind);
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"), alert.host);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), alert.seq);
    CPPUNIT_ASSERT(alert.id != 0);
    CPPUNIT_ASSERT_MESSAGE(alert.detail,
                           alert.detail.find(", 312 bytes") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(alert.detail, alert.detail.find("SHA-256 " + hash) !=
                                             std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(alert.detail, alert.detail.find("for user alice") !=
                                             std::string::npos);
    auto alerts = audit_->ListAlerts(std::string("web-1"));
    CPPUNIT_ASSERT_EQUAL(size_t(1), alerts.value.size());
    CPPUNIT_ASSERT_EQUAL(alert.detail, alerts.value[0].detail);

    // Records sent again are duplicates and raise nothing new.
    auto again = audit_->Append("web-1", lines, kNow + 5);
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), again.value.duplicates);
    CPPUNIT_ASSERT(again.value.raised.empty());
    CPPUNIT_ASSERT_EQUAL(size_t(1),
                         audit_->ListAlerts(std::nullopt).value.size());
  }

  void SpoolRepairAlertQuotesOnlyValidFields() {
    auto lines = LinkChain({SpoolRepairedRecord(
        "12 <b>", "not-a-hash", "<!channel> mallory")});
    auto outcome = audit_->Append("web-1", lines, kNow);
    CPPUNIT_ASSERT_EQUAL(size_t(1), outcome.value.raised.size());
    const std::string& detail = outcome.value.raised[0].detail;
    CPPUNIT_ASSERT_MESSAGE(detail, detail.find('<') == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(detail, detail.find("bytes") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(detail, detail.find("not-a-hash") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(detail, detail.find("mallory") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(detail, detail.find("incomplete line") !=
                                       std::string::npos);
  }

  void HashMismatchRaisesAlert() {
    auto lines = MakeChain(3);
    audit_->Append("web-1", Slice(lines, 0, 1), kNow);
    json edited = json::parse(lines[1]);
    edited["prev"] = std::string(64, 'b');
    auto outcome = audit_->Append("web-1", {edited.dump()}, kNow);
    CPPUNIT_ASSERT(outcome.value.rejected.has_value());
    CPPUNIT_ASSERT_EQUAL(std::string("hash_mismatch"),
                         outcome.value.rejected->kind);
    CPPUNIT_ASSERT_EQUAL(uint64_t(1), outcome.value.accepted_through);
  }

  void HostsHaveSeparateChains() {
    auto lines = MakeChain(2);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2),
                         audit_->Append("web-1", lines, kNow)
                             .value.accepted_through);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2),
                         audit_->Append("web-2", lines, kNow)
                             .value.accepted_through);
  }

  void TablesAreAppendOnly() {
    auto lines = MakeChain(4);
    audit_->Append("web-1", Slice(lines, 0, 2), kNow);
    audit_->Append("web-1", Slice(lines, 3, 1), kNow);  // an alert row
    audit_.reset();
    for (const char* sql :
         {"UPDATE audit_records SET line = 'x'", "DELETE FROM audit_records",
          "DELETE FROM audit_checkpoints", "UPDATE audit_alerts SET kind = 'x'"}) {
      CPPUNIT_ASSERT_MESSAGE(
          sql, !zsp::test::ExecOnTestDatabase(dir_ + "/audit.db", sql).empty());
    }
  }

  void CheckpointsSignedWithAuditKey() {
    auto lines = MakeChain(3);
    audit_->Append("web-1", lines, kNow);
    auto checkpoints = audit_->ListCheckpoints(std::string("web-1"));
    CPPUNIT_ASSERT_EQUAL(size_t(1), checkpoints.value.size());
    auto pub = zsp::LoadEd25519PublicKey(dir_ + "/audit.pub");
    CPPUNIT_ASSERT(pub.ok());
    std::vector<zsp::PinnedKey> keys;
    keys.push_back({zsp::Ed25519KeyId(pub.value()), pub.value()});
    auto verified = zsp::VerifyJws(checkpoints.value[0].jws, keys,
                                   zsp::broker::kCheckpointJwsType);
    CPPUNIT_ASSERT_MESSAGE(verified.detail,
                           verified.status == zsp::JwsStatus::kValid);
    json payload = json::parse(verified.payload);
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"), payload["host"].get<std::string>());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), payload["seq"].get<uint64_t>());
    CPPUNIT_ASSERT_EQUAL(zsp::Sha256Hex(lines[2]),
                         payload["hash"].get<std::string>());
    // The decision JWS type must not pass for a checkpoint.
    auto wrong_type = zsp::VerifyJws(checkpoints.value[0].jws, keys,
                                     zsp::kDecisionJwsType);
    CPPUNIT_ASSERT(wrong_type.status != zsp::JwsStatus::kValid);

    // Two more records soon after: too few and too early for another.
    auto more = MakeChain(5);
    audit_->Append("web-1", Slice(more, 3, 2), kNow + 1);
    CPPUNIT_ASSERT_EQUAL(size_t(1),
                         audit_->ListCheckpoints(std::nullopt).value.size());
    auto later = MakeChain(6);
    audit_->Append("web-1", Slice(later, 5, 1),
                   kNow + zsp::broker::kCheckpointEverySeconds);
    CPPUNIT_ASSERT_EQUAL(size_t(2),
                         audit_->ListCheckpoints(std::nullopt).value.size());
  }

  void FiltersSelectRecords() {
    audit_->Append("web-1", MakeChain(6), kNow);
    audit_->Append("web-2", MakeChain(2, "bob"), kNow);
    zsp::broker::AuditFilter filter;
    filter.decision = "allow";
    filter.host = "web-1";
    CPPUNIT_ASSERT_EQUAL(size_t(3), audit_->ListRecords(filter).value.size());
    zsp::broker::AuditFilter by_user;
    by_user.user = "bob";
    CPPUNIT_ASSERT_EQUAL(size_t(2), audit_->ListRecords(by_user).value.size());
    zsp::broker::AuditFilter by_time;
    by_time.since = kNow + 2;
    by_time.until = kNow + 4;
    by_time.host = "web-1";
    CPPUNIT_ASSERT_EQUAL(size_t(2), audit_->ListRecords(by_time).value.size());
    zsp::broker::AuditFilter page;
    page.host = "web-1";
    page.after_seq = 4;
    auto rows = audit_->ListRecords(page);
    CPPUNIT_ASSERT_EQUAL(size_t(2), rows.value.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(5), rows.value[0].seq);
  }

  void ApiNeedsHostCertToAppend() {
    Fixture api(this);
    zsp::broker::ApiRequest request = AppendRequest(MakeChain(2));
    request.client_host.clear();
    CPPUNIT_ASSERT_EQUAL(401, api.api->Handle(request).status);
    request = AppendRequest(MakeChain(2));
    auto response = api.api->Handle(request);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body.dump(), 200, response.status);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2),
                         response.body["accepted_through"].get<uint64_t>());
  }

  void ApiReadsNeedAuditorRole() {
    Fixture api(this);
    api.api->Handle(AppendRequest(MakeChain(2)));
    zsp::broker::ApiRequest read;
    read.method = "GET";
    read.path = "/v1/audit/records";
    read.authorization = "Bearer " + api.alice_token;
    CPPUNIT_ASSERT_EQUAL(403, api.api->Handle(read).status);
    read.authorization = "Bearer " + api.carol_token;
    auto response = api.api->Handle(read);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body.dump(), 200, response.status);
    CPPUNIT_ASSERT_EQUAL(size_t(2), response.body["records"].size());
    read.query["host"] = "web-1;drop";
    CPPUNIT_ASSERT_EQUAL(400, api.api->Handle(read).status);
  }

  // The broker's own records get the next seq and the head's hash as
  // prev, so the chain checks like a host's and is checkpointed.
  void BrokerRecordsContinueChain() {
    const char* chain = zsp::broker::kBrokerAuditChain;
    auto first = audit_->AppendRecord(
        chain, {"ZSP_EVENT=vote", "ZSP_SIGN_IN_ACR=mfa"}, kNow);
    CPPUNIT_ASSERT_MESSAGE(first.message, first.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(1), first.value.seq);
    auto second = audit_->AppendRecord(
        chain, {"ZSP_EVENT=vote", "ZSP_USER=alice"}, kNow + 1);
    CPPUNIT_ASSERT_MESSAGE(second.message, second.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), second.value.seq);

    zsp::broker::AuditFilter filter;
    filter.host = chain;
    auto rows = audit_->ListRecords(filter);
    CPPUNIT_ASSERT(rows.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), rows.value.size());
    std::vector<std::string> lines = {rows.value[0].line, rows.value[1].line};
    zsp::ChainCheck check = zsp::CheckChain(lines);
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
    CPPUNIT_ASSERT_EQUAL(second.value.hash, rows.value[1].hash);
    json record = json::parse(rows.value[0].line);
    CPPUNIT_ASSERT_EQUAL(std::string("mfa"),
                         record.value("ZSP_SIGN_IN_ACR", ""));
    filter.user = "alice";
    CPPUNIT_ASSERT_EQUAL(size_t(1), audit_->ListRecords(filter).value.size());
    auto checkpoints = audit_->ListCheckpoints(std::string(chain));
    CPPUNIT_ASSERT(checkpoints.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), checkpoints.value.size());
    CPPUNIT_ASSERT(audit_->ListAlerts(std::nullopt).value.empty());
  }

  // No host may append to the broker's chain, even with a certificate of
  // that name.
  void BrokerChainNameReserved() {
    Fixture api(this);
    for (const char* name : {"zsp-broker.invalid", "ZSP-BROKER.INVALID",
                             "zsp-broker.invalid.", "other.invalid"}) {
      zsp::broker::ApiRequest request = AppendRequest(MakeChain(1));
      request.client_host = name;
      auto response = api.api->Handle(request);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(name + response.body.dump(), 403,
                                   response.status);
    }
    CPPUNIT_ASSERT(audit_->ListRecords({}).value.empty());
    CPPUNIT_ASSERT(!zsp::broker::IsReservedHostName("web1.example.com"));
    CPPUNIT_ASSERT(!zsp::broker::IsReservedHostName("invalid.example.com"));
    CPPUNIT_ASSERT(!zsp::broker::IsReservedHostName("notinvalid"));
    CPPUNIT_ASSERT(zsp::broker::IsReservedHostName("Invalid."));
  }

  void ApiConflictNamesExpectedSeq() {
    Fixture api(this);
    auto lines = MakeChain(5);
    api.api->Handle(AppendRequest(Slice(lines, 0, 2)));
    auto response = api.api->Handle(AppendRequest(Slice(lines, 3, 2)));
    CPPUNIT_ASSERT_EQUAL(409, response.status);
    CPPUNIT_ASSERT_EQUAL(uint64_t(3),
                         response.body["expected_seq"].get<uint64_t>());
  }

  void ApiCountsAlertsInMetrics() {
    Fixture api(this);
    auto lines = LinkChain({{{"ZSP_USER", "alice"}, {"time", kNow}},
                            SpoolRepairedRecord("40", std::string(64, 'b'),
                                                "alice")});
    CPPUNIT_ASSERT_EQUAL(200, api.api->Handle(AppendRequest(lines)).status);
    // The same batch again, then one that leaves a gap, twice.
    CPPUNIT_ASSERT_EQUAL(200, api.api->Handle(AppendRequest(lines)).status);
    auto gap = MakeChain(4);
    CPPUNIT_ASSERT_EQUAL(409,
                         api.api->Handle(AppendRequest(Slice(gap, 3, 1))).status);
    CPPUNIT_ASSERT_EQUAL(409,
                         api.api->Handle(AppendRequest(Slice(gap, 3, 1))).status);

    zsp::broker::ApiRequest scrape{"GET", "/metrics"};
    scrape.remote_address = "127.0.0.1";
    const std::string text = api.api->Handle(scrape).text;
    for (const char* line :
         {"zsp_broker_audit_alerts_total{kind=\"spool_repaired\"} 1\n",
          "zsp_broker_audit_alerts_total{kind=\"gap\"} 1\n",
          "zsp_broker_audit_alerts_total{kind=\"conflict\"} 0\n"}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("missing: ") + line + "in:\n" + text,
                             text.find(line) != std::string::npos);
    }
  }

  // A host that raises more alerts than a window allows gets that many
  // posts, and one summary of the rest when the window ends.
  void ApiPostsSummaryOfHeldBackAlerts() {
    httplib::Server receiver;
    std::mutex mutex;
    std::vector<json> posts;
    receiver.Post("/hook", [&](const httplib::Request& request,
                               httplib::Response& response) {
      std::lock_guard<std::mutex> lock(mutex);
      posts.push_back(json::parse(request.body, nullptr, false));
      response.status = 204;
    });
    int port = receiver.bind_to_any_port("127.0.0.1");
    CPPUNIT_ASSERT(port > 0);
    std::thread serving([&] { receiver.listen_after_bind(); });

    zsp::broker::Policy policy;
    policy.webhooks.push_back(zsp::broker::Webhook{
        "auditors", "http://127.0.0.1:" + std::to_string(port) + "/hook",
        "secret", false, {"audit_alert"}});
    zsp::broker::PolicyHolder holder(policy);
    auto notifier = std::make_unique<zsp::broker::Notifier>(&holder);
    Fixture api(this);
    api.api->SetNotifier(notifier.get());

    const int raised = zsp::broker::kAlertNoticesPerWindow + 3;
    std::vector<json> records;
    for (int i = 0; i < raised; ++i) {
      records.push_back(
          SpoolRepairedRecord("40", std::string(64, 'c'), "alice"));
    }
    CPPUNIT_ASSERT_EQUAL(
        200, api.api->Handle(AppendRequest(LinkChain(records))).status);
    api.api->RunMaintenance();  // within the window, so no summary yet
    api.now += zsp::broker::kAlertNoticeWindowSeconds;
    api.api->RunMaintenance();

    const size_t expected = zsp::broker::kAlertNoticesPerWindow + 1;
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (posts.size() >= expected) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    notifier.reset();  // stops the sender before the receiver
    receiver.stop();
    serving.join();

    CPPUNIT_ASSERT_EQUAL(expected, posts.size());
    for (size_t i = 0; i + 1 < posts.size(); ++i) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(posts[i].dump(), std::string("spool_repaired"),
                                   posts[i]["alert"].value("kind", ""));
    }
    const json& summary = posts.back()["held_back"];
    CPPUNIT_ASSERT_MESSAGE(posts.back().dump(), summary.is_object());
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"), summary.value("host", ""));
    CPPUNIT_ASSERT_EQUAL(3, summary.value("count", 0));
    CPPUNIT_ASSERT_EQUAL(kNow, summary.value("since", int64_t{0}));
  }

 private:
  // An Api with a people store, wired to this test's audit store.
  struct Fixture {
    explicit Fixture(AuditStoreTest* test) {
      auto opened = zsp::broker::Store::Open(
          zsp::test::SameStoreLocation(test->dir_ + "/broker.db"),
          zsp::test::TestStoreOptions());
      CPPUNIT_ASSERT(opened.ok());
      store = std::move(opened.value());
      auto generated = zsp::broker::GenerateEd25519Key();
      CPPUNIT_ASSERT(generated.ok());
      key = std::move(generated.value());
      api = std::make_unique<zsp::broker::Api>(
          store.get(), key.get(), zsp::broker::Settings{},
          [this] { return now; });
      api->SetAuditStore(test->audit_.get());
      alice_token = "alice-token-0123456789";
      carol_token = "carol-token-0123456789";
      store->AddPerson("alice", {}, zsp::Sha256Hex(alice_token), kNow);
      store->AddPerson("carol", {"auditor"}, zsp::Sha256Hex(carol_token),
                       kNow);
    }
    std::unique_ptr<zsp::broker::Store> store;
    zsp::EvpPkeyPtr key;
    std::unique_ptr<zsp::broker::Api> api;
    std::string alice_token;
    std::string carol_token;
    int64_t now = kNow;  // the Api's clock
  };

  static zsp::broker::ApiRequest AppendRequest(
      const std::vector<std::string>& lines) {
    zsp::broker::ApiRequest request;
    request.method = "POST";
    request.path = "/v1/audit/records";
    request.body = json{{"records", lines}}.dump();
    request.has_client_cert = true;
    request.client_host = "web-1";
    return request;
  }

  std::string dir_;
  std::unique_ptr<AuditStore> audit_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(AuditStoreTest);

// Tests for the broker's operational endpoints and retries without a
// network: GET /healthz, GET /metrics and who may read it, Idempotency-Key
// on request creation, and host certificate revocation.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/api.h"
#include "broker/ids.h"
#include "broker/idempotency.h"
#include "broker/pki.h"

namespace {

using nlohmann::json;
using zsp::broker::Api;
using zsp::broker::ApiRequest;
using zsp::broker::ApiResponse;
using zsp::broker::IdempotencyCache;
using zsp::broker::Store;

constexpr int64_t kStart = 1'800'000'000;

class BrokerOpsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerOpsTest);
  CPPUNIT_TEST(HealthzReportsStore);
  CPPUNIT_TEST(HealthzFailsWithoutStore);
  CPPUNIT_TEST(MetricsReadersLimited);
  CPPUNIT_TEST(MetricsCountCalls);
  CPPUNIT_TEST(RetryReplaysFirstResponse);
  CPPUNIT_TEST(KeyWithOtherBodyRejected);
  CPPUNIT_TEST(KeysScopedPerCaller);
  CPPUNIT_TEST(InvalidKeyRejected);
  CPPUNIT_TEST(FailedCreationNotRemembered);
  CPPUNIT_TEST(KeysExpire);
  CPPUNIT_TEST(ConcurrentRetriesFileOnce);
  CPPUNIT_TEST(HostRetryReplays);
  CPPUNIT_TEST(CacheForgetsOldestAtCap);
  CPPUNIT_TEST(RevokedHostRejected);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char dir_template[] = "/tmp/zsp-ops-test.XXXXXX";
    char* dir = mkdtemp(dir_template);
    CPPUNIT_ASSERT(dir != nullptr);
    dir_ = dir;
    auto store = Store::Open(dir_ + "/broker.db");
    CPPUNIT_ASSERT(store.ok());
    store_ = std::move(store).value();
    auto key = zsp::broker::GenerateEd25519Key();
    CPPUNIT_ASSERT(key.ok());
    key_ = std::move(key).value();
    now_ = kStart;
    api_ =
        std::make_unique<Api>(store_.get(), key_.get(), zsp::broker::Settings{},
                              [this] { return now_.load(); });
    auto policy = zsp::broker::ParsePolicy(zsp::broker::DefaultPolicyText(),
                                           "policy.toml");
    CPPUNIT_ASSERT_MESSAGE(policy.ok() ? "" : policy.error(), policy.ok());
    policy_ = std::make_unique<zsp::broker::PolicyHolder>(
        std::move(policy).value());
    api_->SetPolicy(policy_.get());
    for (const auto& [name, roles] :
         std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"alice", {}},
             {"bob", {"approver"}},
             {"carol", {"auditor"}},
             {"dave", {"admin"}}}) {
      CPPUNIT_ASSERT(
          store_->AddPerson(name, roles, zsp::broker::Sha256Hex("zsp_" + name),
                            kStart)
              .ok());
    }
  }

  void tearDown() override {
    api_.reset();
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      unlink((dir_ + "/broker.db" + suffix).c_str());
    }
    rmdir(dir_.c_str());
  }

  void HealthzReportsStore() {
    ApiResponse response = api_->Handle({"GET", "/healthz"});
    CPPUNIT_ASSERT_EQUAL(200, response.status);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), response.body.value("status", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), response.body.value("store", ""));
  }

  void RevokedHostRejected() {
    ApiRequest ask{"POST", "/v1/host/grants"};
    ask.has_client_cert = true;
    ask.client_host = "web-1";
    ask.client_cert_issued_at = kStart - 10;
    ask.body = json{{"user", "alice"}}.dump();
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(ask).status);

    ApiRequest revoke{"POST", "/v1/hosts/web-1/revoke"};
    revoke.authorization = "Bearer zsp_bob";
    CPPUNIT_ASSERT_EQUAL(403, api_->Handle(revoke).status);
    revoke.authorization = "Bearer zsp_dave";
    revoke.body = json{{"reason", "retired"}}.dump();
    ApiResponse revoked = api_->Handle(revoke);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(revoked.body.dump(), 200, revoked.status);
    CPPUNIT_ASSERT_EQUAL(kStart, revoked.body.value("revoked_at", int64_t{0}));
    revoke.path = "/v1/hosts/-bad/revoke";
    CPPUNIT_ASSERT_EQUAL(400, api_->Handle(revoke).status);

    ApiResponse rejected = api_->Handle(ask);
    CPPUNIT_ASSERT_EQUAL(401, rejected.status);
    CPPUNIT_ASSERT(rejected.body.value("message", "").find("revoked") !=
                   std::string::npos);
    // A certificate issued in the second of the revocation is revoked too.
    ask.client_cert_issued_at = kStart;
    CPPUNIT_ASSERT_EQUAL(401, api_->Handle(ask).status);
    ask.client_cert_issued_at = kStart + 1;
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(ask).status);
    // Other hosts are not affected.
    ask.client_host = "web-2";
    ask.client_cert_issued_at = kStart - 10;
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(ask).status);
  }

  // Drops the requests table behind the store's back, so that its next
  // query fails the way a broken database would.
  void HealthzFailsWithoutStore() {
    sqlite3* db = nullptr;
    CPPUNIT_ASSERT_EQUAL(SQLITE_OK,
                         sqlite3_open((dir_ + "/broker.db").c_str(), &db));
    CPPUNIT_ASSERT_EQUAL(SQLITE_OK, sqlite3_exec(db, "DROP TABLE requests",
                                                 nullptr, nullptr, nullptr));
    sqlite3_close(db);
    ApiResponse response = api_->Handle({"GET", "/healthz"});
    CPPUNIT_ASSERT_EQUAL(503, response.status);
    CPPUNIT_ASSERT_EQUAL(std::string("failed"),
                         response.body.value("store", ""));
    // No SQLite text reaches an unauthenticated caller.
    CPPUNIT_ASSERT(response.body.dump().find("requests") == std::string::npos);
  }

  void MetricsReadersLimited() {
    ApiRequest local{"GET", "/metrics"};
    local.remote_address = "127.0.0.1";
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(local).status);
    local.remote_address = "::1";
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(local).status);

    ApiRequest remote{"GET", "/metrics"};
    remote.remote_address = "192.0.2.7";
    CPPUNIT_ASSERT_EQUAL(401, api_->Handle(remote).status);
    remote.authorization = "Bearer zsp_alice";
    CPPUNIT_ASSERT_EQUAL(403, api_->Handle(remote).status);
    remote.authorization = "Bearer zsp_bob";
    CPPUNIT_ASSERT_EQUAL(403, api_->Handle(remote).status);
    remote.authorization = "Bearer zsp_carol";
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(remote).status);
    remote.authorization = "Bearer zsp_dave";
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(remote).status);
    remote.authorization = "Bearer zsp_unknown";
    CPPUNIT_ASSERT_EQUAL(401, api_->Handle(remote).status);

    // A token sent from loopback is still checked.
    local.authorization = "Bearer zsp_alice";
    CPPUNIT_ASSERT_EQUAL(403, api_->Handle(local).status);

    ApiRequest host{"GET", "/metrics"};
    host.remote_address = "192.0.2.8";
    host.has_client_cert = true;
    host.client_host = "web-1";
    CPPUNIT_ASSERT_EQUAL(401, api_->Handle(host).status);
  }

  void MetricsCountCalls() {
    ApiRequest ask{"POST", "/v1/decisions"};
    ask.has_client_cert = true;
    ask.client_host = "web-1";
    ask.body = json{{"user", "alice"},
                    {"host", "web-1"},
                    {"kind", "login"},
                    {"nonce", "mF3k2p0xq8Zr1YbVn7Qw2A"}}
                   .dump();
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(ask).status);
    ApiResponse filed = File("alice", Body("/usr/bin/id"), std::nullopt);
    CPPUNIT_ASSERT_EQUAL(201, filed.status);
    api_->Handle({"GET", "/no/such/path"});

    ApiRequest scrape{"GET", "/metrics"};
    scrape.remote_address = "127.0.0.1";
    ApiResponse response = api_->Handle(scrape);
    CPPUNIT_ASSERT_EQUAL(200, response.status);
    CPPUNIT_ASSERT(response.content_type.rfind("text/plain", 0) == 0);
    const std::string& text = response.text;
    for (const char* line :
         {"zsp_broker_decisions_total{outcome=\"deny\"} 1\n",
          "zsp_broker_decisions_total{outcome=\"allow\"} 0\n",
          "zsp_broker_decision_duration_seconds_bucket{le=\"+Inf\"} 1\n",
          "zsp_broker_decision_duration_seconds_count 1\n",
          "zsp_broker_pending_requests 1\n",
          "zsp_broker_webhook_failures_total 0\n",
          "# TYPE zsp_broker_decision_duration_seconds histogram\n",
          "zsp_broker_http_requests_total{method=\"POST\",route=\"/v1/"
          "decisions\",status=\"200\"} 1\n",
          "zsp_broker_http_requests_total{method=\"POST\",route=\"/v1/"
          "requests\",status=\"201\"} 1\n",
          "zsp_broker_http_requests_total{method=\"GET\",route=\"unmatched\","
          "status=\"404\"} 1\n"}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("missing: ") + line + "in:\n" + text,
                             text.find(line) != std::string::npos);
    }
  }

  void RetryReplaysFirstResponse() {
    ApiResponse first = File("alice", Body("/usr/bin/id"), "key-1");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(first.body.dump(), 201, first.status);
    ApiResponse again = File("alice", Body("/usr/bin/id"), "key-1");
    CPPUNIT_ASSERT_EQUAL(201, again.status);
    CPPUNIT_ASSERT_EQUAL(first.body.value("id", ""),
                         again.body.value("id", ""));
    CPPUNIT_ASSERT(HasHeader(again, "Idempotent-Replayed", "true"));
    CPPUNIT_ASSERT(!HasHeader(first, "Idempotent-Replayed", "true"));
    CPPUNIT_ASSERT_EQUAL(size_t{1}, PendingCount());
  }

  void KeyWithOtherBodyRejected() {
    CPPUNIT_ASSERT_EQUAL(201, File("alice", Body("/usr/bin/id"), "k").status);
    ApiResponse other = File("alice", Body("/usr/bin/uptime"), "k");
    CPPUNIT_ASSERT_EQUAL(422, other.status);
    CPPUNIT_ASSERT_EQUAL(std::string("idempotency_key_reused"),
                         other.body.value("error", ""));
    std::string message = other.body.value("message", "");
    CPPUNIT_ASSERT_MESSAGE(message,
                           message.rfind("Idempotency-Key:", 0) == 0);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, PendingCount());
  }

  void KeysScopedPerCaller() {
    ApiResponse alice = File("alice", Body("/usr/bin/id"), "shared");
    ApiResponse bob = File("bob", Body("/usr/bin/id"), "shared");
    CPPUNIT_ASSERT_EQUAL(201, alice.status);
    CPPUNIT_ASSERT_EQUAL(201, bob.status);
    CPPUNIT_ASSERT(alice.body.value("id", "") != bob.body.value("id", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("bob"),
                         bob.body.value("requester", ""));
  }

  void InvalidKeyRejected() {
    for (const std::string& key :
         {std::string(), std::string("with space"), std::string(129, 'k'),
          std::string("tab\there")}) {
      ApiResponse response = File("alice", Body("/usr/bin/id"), key);
      CPPUNIT_ASSERT_EQUAL(400, response.status);
      std::string message = response.body.value("message", "");
      CPPUNIT_ASSERT_MESSAGE(message,
                             message.rfind("Idempotency-Key:", 0) == 0);
    }
    CPPUNIT_ASSERT_EQUAL(size_t{0}, PendingCount());
  }

  void FailedCreationNotRemembered() {
    json invalid = Body("/usr/bin/id");
    invalid["duration"] = 0;
    CPPUNIT_ASSERT_EQUAL(400, File("alice", invalid, "k").status);
    // The key was released, so a corrected body may use it.
    CPPUNIT_ASSERT_EQUAL(201, File("alice", Body("/usr/bin/id"), "k").status);
  }

  void KeysExpire() {
    ApiResponse first = File("alice", Body("/usr/bin/id"), "k");
    now_ += zsp::broker::kIdempotencyKeySeconds - 1;
    CPPUNIT_ASSERT_EQUAL(first.body.value("id", ""),
                         File("alice", Body("/usr/bin/id"), "k")
                             .body.value("id", ""));
    now_ += 1;
    ApiResponse later = File("alice", Body("/usr/bin/id"), "k");
    CPPUNIT_ASSERT_EQUAL(201, later.status);
    CPPUNIT_ASSERT(later.body.value("id", "") != first.body.value("id", ""));
  }

  void ConcurrentRetriesFileOnce() {
    constexpr int kThreads = 8;
    std::vector<ApiResponse> responses(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([this, &responses, i] {
        responses[i] = File("alice", Body("/usr/bin/id"), "concurrent");
      });
    }
    for (auto& thread : threads) thread.join();
    std::set<std::string> ids;
    for (const auto& response : responses) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body.dump(), 201, response.status);
      ids.insert(response.body.value("id", ""));
    }
    CPPUNIT_ASSERT_EQUAL(size_t{1}, ids.size());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, PendingCount());
  }

  void HostRetryReplays() {
    json body = Body("/usr/bin/id");
    body.erase("host");
    body["user"] = "alice";
    ApiRequest request{"POST", "/v1/host/requests"};
    request.has_client_cert = true;
    request.client_host = "web-1";
    request.body = body.dump();
    request.idempotency_key = "host-key";
    ApiResponse first = api_->Handle(request);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(first.body.dump(), 201, first.status);
    ApiResponse again = api_->Handle(request);
    CPPUNIT_ASSERT_EQUAL(first.body.value("id", ""),
                         again.body.value("id", ""));
    // The same key from another host is that host's own.
    request.client_host = "web-2";
    ApiResponse other = api_->Handle(request);
    CPPUNIT_ASSERT_EQUAL(201, other.status);
    CPPUNIT_ASSERT(other.body.value("id", "") != first.body.value("id", ""));
  }

  void CacheForgetsOldestAtCap() {
    IdempotencyCache cache;
    for (size_t i = 0; i < zsp::broker::kMaxIdempotencyKeys; ++i) {
      std::string key = "k" + std::to_string(i);
      auto claim = cache.Begin("person:alice", key, "f", kStart + i);
      CPPUNIT_ASSERT(claim.outcome == IdempotencyCache::Outcome::kRun);
      cache.Finish("person:alice", key, true, 201, json{{"id", key}});
    }
    auto claim = cache.Begin("person:alice", "new", "f", kStart + 20000);
    CPPUNIT_ASSERT(claim.outcome == IdempotencyCache::Outcome::kRun);
    CPPUNIT_ASSERT_EQUAL(zsp::broker::kMaxIdempotencyKeys, cache.size());
    // k0 was the oldest and is gone; k1 is still remembered.
    CPPUNIT_ASSERT(cache.Begin("person:alice", "k1", "f", kStart + 20000)
                       .outcome == IdempotencyCache::Outcome::kReplay);
    CPPUNIT_ASSERT(cache.Begin("person:alice", "k0", "f", kStart + 20000)
                       .outcome == IdempotencyCache::Outcome::kRun);
  }

 private:
  static json Body(const std::string& command) {
    return {{"host", "web-1"},     {"kind", "sudo"},
            {"runas", {"root"}},   {"commands", {command}},
            {"duration", 600},     {"reason", "idempotency test"}};
  }

  // POSTs /v1/requests as name, with key as the Idempotency-Key header.
  ApiResponse File(const std::string& name, const json& body,
                   const std::optional<std::string>& key) {
    ApiRequest request{"POST", "/v1/requests"};
    request.authorization = "Bearer zsp_" + name;
    request.body = body.dump();
    request.idempotency_key = key;
    return api_->Handle(request);
  }

  static bool HasHeader(const ApiResponse& response, const std::string& name,
                        const std::string& value) {
    for (const auto& [header, text] : response.headers) {
      if (header == name && text == value) return true;
    }
    return false;
  }

  size_t PendingCount() {
    auto listed = store_->ListRequests(std::string("pending"), std::nullopt);
    CPPUNIT_ASSERT(listed.ok());
    return listed.value.size();
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  zsp::EvpPkeyPtr key_;
  std::unique_ptr<zsp::broker::PolicyHolder> policy_;
  std::unique_ptr<Api> api_;
  std::atomic<int64_t> now_{kStart};
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerOpsTest);

}  // namespace

// Tests for broker/api without a network: who may call what, input checks,
// and the signed decisions, verified with the host's own JWS check.
#include <cppunit/TestFixture.h>
#include <sqlite3.h>
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/api.h"
#include "broker/audit_store.h"
#include "broker/ids.h"
#include "broker/pki.h"
#include "common/feed.h"
#include "common/jws.h"

namespace {

using nlohmann::json;
using zsp::broker::Api;
using zsp::broker::ApiRequest;
using zsp::broker::ApiResponse;
using zsp::broker::Store;

constexpr int64_t kStart = 1'800'000'000;
constexpr char kNonce[] = "mF3k2p0xq8Zr1YbVn7Qw2A";

class BrokerApiTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerApiTest);
  CPPUNIT_TEST(HealthNeedsNoCredentials);
  CPPUNIT_TEST(PeopleNeedKnownToken);
  CPPUNIT_TEST(HostsMayNotCallPeopleEndpoints);
  CPPUNIT_TEST(PeopleMayNotAskForDecisions);
  CPPUNIT_TEST(HostAsksOnlyAboutItself);
  CPPUNIT_TEST(DecisionInputChecked);
  CPPUNIT_TEST(RequestInputChecked);
  CPPUNIT_TEST(BodyOverLimitIsTooLarge);
  CPPUNIT_TEST(OwnRequestCannotBeApproved);
  CPPUNIT_TEST(ApprovalNeedsApproverRole);
  CPPUNIT_TEST(SignedAllowThenRevokedDeny);
  CPPUNIT_TEST(LoginDecisionAndExpiry);
  CPPUNIT_TEST(VisibilityFollowsRoles);
  CPPUNIT_TEST(RevokeByUserOrAdminOnly);
  CPPUNIT_TEST(WhoamiListsRoles);
  CPPUNIT_TEST(HostFilesRequestForUser);
  CPPUNIT_TEST(HostSeesOnlyItsOwnRequests);
  CPPUNIT_TEST(HostListsActiveGrantsHere);
  CPPUNIT_TEST(AdminIssuesAndRevokesTokens);
  CPPUNIT_TEST(PolicyRejectsUncoveredRequest);
  CPPUNIT_TEST(EventsFollowVisibility);
  CPPUNIT_TEST(HostFeedReportsRevocations);
  CPPUNIT_TEST(HostFeedInputChecked);
  CPPUNIT_TEST(HostFeedReadsPastOtherHosts);
  CPPUNIT_TEST(VoteRecordsSignIn);
  CPPUNIT_TEST(TextFieldsRejectHiddenCharacters);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char dir_template[] = "/tmp/zsp-api-test.XXXXXX";
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
                              [this] { return now_; });
    auto policy = zsp::broker::ParsePolicy(zsp::broker::DefaultPolicyText(),
                                           "policy.toml");
    CPPUNIT_ASSERT_MESSAGE(policy.ok() ? "" : policy.error(), policy.ok());
    policy_ = std::make_unique<zsp::broker::PolicyHolder>(
        std::move(policy).value());
    api_->SetPolicy(policy_.get());
    AddPerson("alice", {});
    AddPerson("bob", {"approver"});
    AddPerson("carol", {"auditor"});
    AddPerson("dave", {"admin"});
  }

  void tearDown() override {
    api_.reset();
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      unlink((dir_ + "/broker.db" + suffix).c_str());
    }
    rmdir(dir_.c_str());
  }

  void HealthNeedsNoCredentials() {
    ApiRequest request{"GET", "/v1/health"};
    ApiResponse response = api_->Handle(request);
    CPPUNIT_ASSERT_EQUAL(200, response.status);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), response.body.value("status", ""));
    CPPUNIT_ASSERT_EQUAL(404, api_->Handle({"GET", "/v1/nothing"}).status);
  }

  void PeopleNeedKnownToken() {
    ApiRequest request{"GET", "/v1/whoami"};
    ExpectError(api_->Handle(request), 401, "unauthenticated");
    request.authorization = "Bearer zsp_unknown";
    ExpectError(api_->Handle(request), 401, "unauthenticated");
    request.authorization = "Basic " + Token("alice");
    ExpectError(api_->Handle(request), 401, "unauthenticated");
  }

  void HostsMayNotCallPeopleEndpoints() {
    ApiRequest request = AsPerson("alice", "GET", "/v1/whoami");
    request.has_client_cert = true;
    request.client_host = "web-1";
    ExpectError(api_->Handle(request), 403, "forbidden");
  }

  void PeopleMayNotAskForDecisions() {
    ApiRequest request = AsPerson("alice", "POST", "/v1/decisions");
    request.body = SudoQuestion("web-1", {"/usr/bin/id"}).dump();
    ExpectError(api_->Handle(request), 403, "forbidden");
    request.authorization.clear();
    ExpectError(api_->Handle(request), 401, "unauthenticated");
  }

  void HostAsksOnlyAboutItself() {
    ApiResponse response =
        AskAs("web-2", SudoQuestion("web-1", {"/usr/bin/id"}));
    ExpectError(response, 403, "forbidden");
  }

  void DecisionInputChecked() {
    json question = SudoQuestion("web-1", {"/usr/bin/id"});
    auto expect_field = [&](json body, const std::string& field) {
      ApiResponse response = AskAs("web-1", body);
      ExpectError(response, 400, "invalid_request");
      std::string message = response.body.value("message", "");
      CPPUNIT_ASSERT_MESSAGE(message, message.rfind(field + ":", 0) == 0);
    };
    json body = question;
    body["nonce"] = "short";
    expect_field(body, "nonce");
    body = question;
    body["argv"] = {"id"};
    expect_field(body, "argv");
    body = question;
    body["argv"] = json::array();
    expect_field(body, "argv");
    body = question;
    body["argv"] = {"/usr/bin/id", 5};
    expect_field(body, "argv");
    body = question;
    body["kind"] = "shell";
    expect_field(body, "kind");
    body = question;
    body["user"] = "al ice";
    expect_field(body, "user");
    body = question;
    body["runas"] = "";
    expect_field(body, "runas");
    body = question;
    body["extra"] = true;
    expect_field(body, "extra");
    body = question;
    body.erase("runas_group");
    expect_field(body, "runas_group");
    body["runas_group"] = "-adm";
    expect_field(body, "runas_group");
    body = question;
    body.erase("env");
    expect_field(body, "env");
    body["env"] = {"LD_PRELOAD"};
    expect_field(body, "env");
    body = question;
    body["argv"] = json::array();
    body["argv"].push_back("/usr/bin/id");
    body["argv"].push_back(std::string(4097, 'a'));
    expect_field(body, "argv");

    ApiRequest request{"POST", "/v1/decisions"};
    request.has_client_cert = true;
    request.client_host = "web-1";
    request.body = "[1, 2]";
    ExpectError(api_->Handle(request), 400, "invalid_request");
    request.body = "{\"user\": ";
    ExpectError(api_->Handle(request), 400, "invalid_request");
    request.body = std::string(100, '[') + std::string(100, ']');
    ExpectError(api_->Handle(request), 400, "invalid_request");
  }

  void RequestInputChecked() {
    json good = {{"host", "web-1"},
                 {"kind", "sudo"},
                 {"commands", {"/usr/bin/id"}},
                 {"duration", 3600},
                 {"reason", "test"}};
    auto expect_field = [&](json body, const std::string& field) {
      ApiRequest request = AsPerson("alice", "POST", "/v1/requests");
      request.body = body.dump();
      ApiResponse response = api_->Handle(request);
      ExpectError(response, 400, "invalid_request");
      std::string message = response.body.value("message", "");
      CPPUNIT_ASSERT_MESSAGE(message, message.rfind(field + ":", 0) == 0);
    };
    json body = good;
    body["duration"] = 28801;
    expect_field(body, "duration");
    body["duration"] = 0;
    expect_field(body, "duration");
    body["duration"] = "1h";
    expect_field(body, "duration");
    body = good;
    body["commands"] = json::array();
    expect_field(body, "commands");
    body["commands"] = {"usr/bin/id"};
    expect_field(body, "commands");
    body = good;
    body["runas"] = {"-root"};
    expect_field(body, "runas");
    body = good;
    body["runas_groups"] = {"-adm"};
    expect_field(body, "runas_groups");
    body = good;
    body["env"] = {"LD_PRELOAD"};
    expect_field(body, "env");
    body["env"] = {"PATH"};
    expect_field(body, "env");
    body["env"] = {"A B"};
    expect_field(body, "env");
    body = good;
    body["kind"] = "login";
    body.erase("commands");
    body["env"] = {"FOO"};
    expect_field(body, "env");
    body.erase("env");
    body["runas_groups"] = {"adm"};
    expect_field(body, "runas_groups");
    body = good;
    body["reason"] = "";
    expect_field(body, "reason");
    body["reason"] = std::string(1025, 'x');
    expect_field(body, "reason");
    body = good;
    body["host"] = "web 1";
    expect_field(body, "host");
    body = good;
    body["kind"] = "login";
    expect_field(body, "commands");

    ApiResponse created = FileRequest("alice", good);
    CPPUNIT_ASSERT_EQUAL(201, created.status);
    CPPUNIT_ASSERT_EQUAL(json({"root"}), created.body["runas"]);
    CPPUNIT_ASSERT_EQUAL(std::string("pending"),
                         created.body.value("state", ""));
    CPPUNIT_ASSERT(created.body["grant"].is_null());
  }

  void BodyOverLimitIsTooLarge() {
    ApiRequest request = AsPerson("alice", "POST", "/v1/requests");
    request.body = std::string(64 * 1024 + 1, ' ');
    ExpectError(api_->Handle(request), 413, "too_large");
  }

  void OwnRequestCannotBeApproved() {
    std::string id = FileSudoRequest("bob", "/usr/bin/id");
    ApiResponse response = Post("bob", "/v1/requests/" + id + "/approve", {});
    ExpectError(response, 403, "forbidden");
    CPPUNIT_ASSERT_EQUAL(std::string("you may not approve your own request"),
                         response.body.value("message", ""));
    ExpectError(Post("bob", "/v1/requests/" + id + "/deny", {}), 403,
                "forbidden");

    // Without the approver role the own-request rule is still the answer.
    std::string own = FileSudoRequest("alice", "/usr/bin/id");
    response = Post("alice", "/v1/requests/" + own + "/approve", {});
    CPPUNIT_ASSERT_EQUAL(std::string("you may not approve your own request"),
                         response.body.value("message", ""));

    // Nor through a name that differs only in case, as an identity
    // provider may spell it.
    AddPerson("ALICE", {"approver"});
    response = Post("ALICE", "/v1/requests/" + own + "/approve", {});
    ExpectError(response, 403, "forbidden");
    CPPUNIT_ASSERT_EQUAL(std::string("you may not approve your own request"),
                         response.body.value("message", ""));
  }

  void ApprovalNeedsApproverRole() {
    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    ExpectError(Post("carol", "/v1/requests/" + id + "/approve", {}), 403,
                "forbidden");
    ExpectError(Post("dave", "/v1/requests/" + id + "/approve", {}), 403,
                "forbidden");
    ApiResponse approved =
        Post("bob", "/v1/requests/" + id + "/approve", {{"comment", "ok"}});
    CPPUNIT_ASSERT_EQUAL(200, approved.status);
    CPPUNIT_ASSERT_EQUAL(std::string("approved"),
                         approved.body.value("state", ""));
    ExpectError(Post("bob", "/v1/requests/" + id + "/deny", {}), 409,
                "conflict");
    ExpectError(Post("bob", "/v1/requests/r-000000000000/approve", {}), 404,
                "not_found");
  }

  void HostFeedReportsRevocations() {
    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    ApiResponse approved = Post("bob", "/v1/requests/" + id + "/approve", {});
    std::string grant = approved.body.value("grant", "");

    json heartbeat = Feed("web-1", 0);
    CPPUNIT_ASSERT_EQUAL(json::array(), heartbeat["events"]);
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"), heartbeat.value("host", ""));
    CPPUNIT_ASSERT_EQUAL(std::string(kNonce), heartbeat.value("nonce", ""));
    CPPUNIT_ASSERT_EQUAL(int64_t{0}, heartbeat.value("after", int64_t{-1}));
    int64_t head = heartbeat.value("last", int64_t{0});
    CPPUNIT_ASSERT_MESSAGE("last covers the filing", head > 0);

    now_ += 5;
    ApiResponse revoked = Post("alice", "/v1/grants/" + grant + "/revoke", {});
    CPPUNIT_ASSERT_EQUAL(200, revoked.status);
    json page = Feed("web-1", head);
    CPPUNIT_ASSERT_EQUAL(size_t(1), page["events"].size());
    json event = page["events"][0];
    CPPUNIT_ASSERT_EQUAL(std::string("revoked"), event.value("type", ""));
    CPPUNIT_ASSERT_EQUAL(grant, event.value("grant", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), event.value("user", ""));
    CPPUNIT_ASSERT_EQUAL(kStart + 3600, event.value("grant_exp", int64_t{0}));
    CPPUNIT_ASSERT(event.value("seq", int64_t{0}) > head);
    CPPUNIT_ASSERT_EQUAL(event.value("seq", int64_t{0}),
                         page.value("last", int64_t{0}));

    // From the start, the revocation of a grant that has not ended yet is
    // reported again, so a restarted agent learns of it.
    CPPUNIT_ASSERT_EQUAL(size_t(1), Feed("web-1", 0)["events"].size());
    CPPUNIT_ASSERT_EQUAL(json::array(), Feed("web-2", 0)["events"]);
    json after = Feed("web-1", page.value("last", int64_t{0}));
    CPPUNIT_ASSERT_EQUAL(json::array(), after["events"]);
    now_ += 3600;
    CPPUNIT_ASSERT_EQUAL(json::array(), Feed("web-1", 0)["events"]);
  }

  // More than a page of other hosts' revocations comes before web-1's
  // own: one call without waiting still returns web-1's event.
  void HostFeedReadsPastOtherHosts() {
    sqlite3* db = nullptr;
    CPPUNIT_ASSERT_EQUAL(SQLITE_OK,
                         sqlite3_open((dir_ + "/broker.db").c_str(), &db));
    std::string seed =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 2500) INSERT INTO grants (id, request_id, user, host, "
        "kind, runas, commands, approved_by, starts_at, expires_at) SELECT "
        "'g-other-' || i, 'r-other-' || i, 'seed', 'web-2', 'sudo', 'root', "
        "'[]', 'bob', " + std::to_string(kStart) + ", " +
        std::to_string(kStart + 3600) + " FROM n; "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 2500) INSERT INTO events (request_id, grant_id, event, "
        "actor, at, detail) SELECT 'r-other-' || i, 'g-other-' || i, "
        "'revoked', 'bob', " + std::to_string(kStart) + ", '' FROM n;";
    char* error = nullptr;
    int rc = sqlite3_exec(db, seed.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(message, SQLITE_OK, rc);

    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    std::string grant =
        Post("bob", "/v1/requests/" + id + "/approve", {}).body.value("grant",
                                                                       "");
    CPPUNIT_ASSERT_EQUAL(
        200, Post("alice", "/v1/grants/" + grant + "/revoke", {}).status);

    json page = Feed("web-1", 0);
    CPPUNIT_ASSERT_EQUAL(size_t(1), page["events"].size());
    CPPUNIT_ASSERT_EQUAL(grant, page["events"][0].value("grant", ""));
    CPPUNIT_ASSERT_EQUAL(int64_t{0}, page.value("after", int64_t{-1}));
    CPPUNIT_ASSERT(page.value("last", int64_t{0}) > 2500);
  }

  void HostFeedInputChecked() {
    ApiRequest request{"GET", "/v1/host/feed"};
    request.has_client_cert = true;
    request.client_host = "web-1";
    request.query = {{"after", "0"}, {"nonce", kNonce}};
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(request).status);
    request.query["after"] = "-1";
    ExpectError(api_->Handle(request), 400, "invalid_request");
    request.query["after"] = "x";
    ExpectError(api_->Handle(request), 400, "invalid_request");
    request.query.erase("after");
    ExpectError(api_->Handle(request), 400, "invalid_request");
    request.query = {{"after", "0"}, {"nonce", "short"}};
    ExpectError(api_->Handle(request), 400, "invalid_request");
    request.query = {{"after", "0"}, {"nonce", kNonce}, {"wait", "26"}};
    ExpectError(api_->Handle(request), 400, "invalid_request");
    ApiRequest person = AsPerson("alice", "GET", "/v1/host/feed");
    person.query = {{"after", "0"}, {"nonce", kNonce}};
    ExpectError(api_->Handle(person), 403, "forbidden");
  }

  void SignedAllowThenRevokedDeny() {
    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    ApiResponse approved = Post("bob", "/v1/requests/" + id + "/approve", {});
    std::string grant = approved.body.value("grant", "");
    CPPUNIT_ASSERT_EQUAL(std::string("g-"), grant.substr(0, 2));

    now_ += 5;
    json claims = Decide(SudoQuestion("web-1", {"/usr/bin/id", "-u"}));
    CPPUNIT_ASSERT_EQUAL(std::string("allow"), claims.value("decision", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("zsp-broker"), claims.value("iss", ""));
    CPPUNIT_ASSERT_EQUAL(1, claims.value("ver", 0));
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), claims.value("sub", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"), claims.value("host", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("root"), claims.value("runas", ""));
    CPPUNIT_ASSERT_EQUAL(json({"/usr/bin/id", "-u"}), claims["argv"]);
    CPPUNIT_ASSERT_EQUAL(std::string(""), claims.value("runas_group", "x"));
    CPPUNIT_ASSERT_EQUAL(json::array(), claims["env"]);
    CPPUNIT_ASSERT_EQUAL(std::string(kNonce), claims.value("nonce", ""));
    CPPUNIT_ASSERT_EQUAL(now_, claims.value("iat", int64_t{0}));
    CPPUNIT_ASSERT_EQUAL(now_ + 60, claims.value("exp", int64_t{0}));
    CPPUNIT_ASSERT_EQUAL(grant, claims.value("grant", ""));
    CPPUNIT_ASSERT_EQUAL(id, claims.value("request", ""));
    CPPUNIT_ASSERT_EQUAL(kStart + 3600, claims.value("grant_exp", int64_t{0}));
    CPPUNIT_ASSERT(!claims.contains("code"));

    json other = Decide(SudoQuestion("web-1", {"/usr/bin/whoami"}));
    CPPUNIT_ASSERT_EQUAL(std::string("no_grant"), other.value("code", ""));

    ApiResponse revoked =
        Post("alice", "/v1/grants/" + grant + "/revoke", {{"reason", "done"}});
    CPPUNIT_ASSERT_EQUAL(200, revoked.status);
    CPPUNIT_ASSERT_EQUAL(std::string("revoked"),
                         revoked.body.value("state", ""));
    json denied = Decide(SudoQuestion("web-1", {"/usr/bin/id"}));
    CPPUNIT_ASSERT_EQUAL(std::string("deny"), denied.value("decision", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("revoked"), denied.value("code", ""));
    CPPUNIT_ASSERT(!denied.contains("grant"));
    ExpectError(Post("alice", "/v1/grants/" + grant + "/revoke", {}), 409,
                "conflict");
  }

  void LoginDecisionAndExpiry() {
    ApiResponse created = FileRequest("alice", {{"host", "web-*"},
                                                {"kind", "login"},
                                                {"duration", 60},
                                                {"reason", "login"}});
    std::string id = created.body.value("id", "");
    CPPUNIT_ASSERT_EQUAL(
        200, Post("bob", "/v1/requests/" + id + "/approve", {}).status);
    json question = {{"user", "alice"},
                     {"host", "web-7"},
                     {"kind", "login"},
                     {"nonce", kNonce}};
    json claims = Decide(question);
    CPPUNIT_ASSERT_EQUAL(std::string("allow"), claims.value("decision", ""));
    CPPUNIT_ASSERT_EQUAL(std::string(""), claims.value("runas", "x"));
    CPPUNIT_ASSERT_EQUAL(json::array(), claims["argv"]);

    now_ += 60;
    claims = Decide(question);
    CPPUNIT_ASSERT_EQUAL(std::string("expired"), claims.value("code", ""));
    question["argv"] = {"/bin/sh"};
    ExpectError(AskAs("web-7", question), 400, "invalid_request");
  }

  void VisibilityFollowsRoles() {
    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    FileSudoRequest("bob", "/usr/bin/id");
    CPPUNIT_ASSERT_EQUAL(size_t{1}, ListRequests("alice", "").size());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, ListRequests("bob", "").size());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, ListRequests("bob", "1").size());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, ListRequests("carol", "").size());
    CPPUNIT_ASSERT_EQUAL(size_t{0}, ListRequests("dave", "").size());
    ExpectError(api_->Handle(AsPerson("dave", "GET", "/v1/requests/" + id)),
                404, "not_found");
    CPPUNIT_ASSERT_EQUAL(
        200,
        api_->Handle(AsPerson("carol", "GET", "/v1/requests/" + id)).status);

    ApiRequest bad_state = AsPerson("bob", "GET", "/v1/requests");
    bad_state.query["state"] = "open";
    ExpectError(api_->Handle(bad_state), 400, "invalid_request");
    ApiRequest others_grants = AsPerson("alice", "GET", "/v1/grants");
    others_grants.query["user"] = "bob";
    ExpectError(api_->Handle(others_grants), 403, "forbidden");
    ExpectError(Post("bob", "/v1/requests/" + id + "/cancel", {}), 403,
                "forbidden");
    ExpectError(Post("dave", "/v1/requests/" + id + "/cancel", {}), 404,
                "not_found");
    CPPUNIT_ASSERT_EQUAL(
        200, Post("alice", "/v1/requests/" + id + "/cancel", {}).status);
  }

  void RevokeByUserOrAdminOnly() {
    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    std::string grant = Post("bob", "/v1/requests/" + id + "/approve", {})
                            .body.value("grant", "");
    // bob approved it and sees its id, so he is told who may revoke.
    ApiResponse by_approver =
        Post("bob", "/v1/grants/" + grant + "/revoke", {});
    ExpectError(by_approver, 403, "forbidden");
    CPPUNIT_ASSERT_EQUAL(
        std::string("only the grant's user or an admin may revoke it"),
        by_approver.body.value("message", ""));
    ExpectError(Post("carol", "/v1/grants/" + grant + "/revoke", {}), 403,
                "forbidden");
    // A person with no role learns nothing of another user's grant.
    AddPerson("erin", {});
    ExpectError(Post("erin", "/v1/grants/" + grant + "/revoke", {}), 404,
                "not_found");
    ApiResponse revoked = Post("dave", "/v1/grants/" + grant + "/revoke", {});
    CPPUNIT_ASSERT_EQUAL(200, revoked.status);
    CPPUNIT_ASSERT_EQUAL(std::string("dave"),
                         revoked.body.value("revoked_by", ""));
  }

  void WhoamiListsRoles() {
    ApiResponse response = api_->Handle(AsPerson("bob", "GET", "/v1/whoami"));
    CPPUNIT_ASSERT_EQUAL(200, response.status);
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), response.body.value("user", ""));
    CPPUNIT_ASSERT_EQUAL(json({"requester", "approver"}),
                         response.body["roles"]);
  }

  void HostFilesRequestForUser() {
    json body = {{"user", "alice"},
                 {"kind", "sudo"},
                 {"commands", {"/usr/bin/id"}},
                 {"duration", 600},
                 {"reason", "filed by sudo"}};
    ApiResponse response = AsHost("web-1", "POST", "/v1/host/requests", body);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body.dump(), 201, response.status);
    CPPUNIT_ASSERT_EQUAL(std::string("alice"),
                         response.body.value("requester", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"), response.body.value("host", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"),
                         response.body.value("filed_by_host", ""));

    body["host"] = "web-2";
    ExpectError(AsHost("web-1", "POST", "/v1/host/requests", body), 400,
                "invalid_request");
    body.erase("host");
    body["user"] = "../root";
    ExpectError(AsHost("web-1", "POST", "/v1/host/requests", body), 400,
                "invalid_request");
    ExpectError(Post("alice", "/v1/host/requests", body), 403, "forbidden");
  }

  void HostSeesOnlyItsOwnRequests() {
    json body = {{"user", "alice"},
                 {"kind", "login"},
                 {"duration", 600},
                 {"reason", "filed by pam"}};
    ApiResponse filed = AsHost("web-1", "POST", "/v1/host/requests", body);
    std::string id = filed.body.value("id", "");
    CPPUNIT_ASSERT_EQUAL(
        200, AsHost("web-1", "GET", "/v1/host/requests/" + id, {}).status);
    ExpectError(AsHost("web-2", "GET", "/v1/host/requests/" + id, {}), 404,
                "not_found");
    ExpectError(AsHost("web-2", "POST", "/v1/host/requests/" + id + "/cancel",
                       {}),
                404, "not_found");
    std::string person_id = FileSudoRequest("alice", "/usr/bin/id");
    ExpectError(AsHost("web-1", "GET", "/v1/host/requests/" + person_id, {}),
                404, "not_found");

    ApiResponse cancelled =
        AsHost("web-1", "POST", "/v1/host/requests/" + id + "/cancel", {});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(cancelled.body.dump(), 200, cancelled.status);
    CPPUNIT_ASSERT_EQUAL(std::string("cancelled"),
                         cancelled.body.value("state", ""));
    ExpectError(
        AsHost("web-1", "POST", "/v1/host/requests/" + id + "/cancel", {}),
        409, "conflict");
    // Approval still needs a person who is not the requester.
    ExpectError(Post("alice", "/v1/requests/" + id + "/approve", {}), 403,
                "forbidden");
  }

  void HostListsActiveGrantsHere() {
    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    CPPUNIT_ASSERT_EQUAL(
        200, Post("bob", "/v1/requests/" + id + "/approve", {}).status);
    json question = {{"user", "alice"}};
    ApiResponse here = AsHost("web-1", "POST", "/v1/host/grants", question);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(here.body.dump(), 200, here.status);
    CPPUNIT_ASSERT_EQUAL(size_t(1), here.body["grants"].size());
    ApiResponse elsewhere =
        AsHost("web-2", "POST", "/v1/host/grants", question);
    CPPUNIT_ASSERT_EQUAL(size_t(0), elsewhere.body["grants"].size());
    ApiResponse bob = AsHost("web-1", "POST", "/v1/host/grants",
                             {{"user", "bob"}});
    CPPUNIT_ASSERT_EQUAL(size_t(0), bob.body["grants"].size());
    now_ += 3601;
    ApiResponse later = AsHost("web-1", "POST", "/v1/host/grants", question);
    CPPUNIT_ASSERT_EQUAL(size_t(0), later.body["grants"].size());
  }

 private:
  ApiResponse AsHost(const std::string& host, const std::string& method,
                     const std::string& path, const json& body) {
    ApiRequest request{method, path};
    request.has_client_cert = true;
    request.client_host = host;
    if (!body.is_null()) request.body = body.dump();
    return api_->Handle(request);
  }

  static std::string Token(const std::string& name) { return "zsp_" + name; }

  void AdminIssuesAndRevokesTokens() {
    ExpectError(Post("bob", "/v1/users", {{"user", "frank"}}), 403,
                "forbidden");
    ExpectError(Post("dave", "/v1/users", {{"user", "Frank!"}}), 400,
                "invalid_request");
    ExpectError(Post("dave", "/v1/users",
                     {{"user", "frank"}, {"roles", {"root"}}}),
                400, "invalid_request");
    ApiResponse added = Post("dave", "/v1/users",
                             {{"user", "frank"}, {"roles", {"approver"}}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(added.body.dump(), 201, added.status);
    std::string token = added.body.value("token", "");
    CPPUNIT_ASSERT(token.rfind("zsp_", 0) == 0);
    ExpectError(Post("dave", "/v1/users", {{"user", "frank"}}), 409,
                "conflict");
    ApiResponse other_case = Post("dave", "/v1/users", {{"user", "Frank"}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE("a name that differs only in case: " +
                                     other_case.body.dump(),
                                 409, other_case.status);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "the conflict names the existing person",
        std::string("person \"frank\" exists; names that differ only in "
                    "case count as one person"),
        other_case.body.value("message", ""));

    ApiRequest whoami{"GET", "/v1/whoami"};
    whoami.authorization = "Bearer " + token;
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(whoami).status);
    ApiResponse revoked = Post("dave", "/v1/users/frank/revoke", json());
    CPPUNIT_ASSERT_EQUAL(200, revoked.status);
    ExpectError(api_->Handle(whoami), 401, "unauthenticated");

    ApiResponse reissued = Post("dave", "/v1/users/frank/token", json());
    CPPUNIT_ASSERT_EQUAL(200, reissued.status);
    whoami.authorization = "Bearer " + reissued.body.value("token", "");
    CPPUNIT_ASSERT_EQUAL(200, api_->Handle(whoami).status);
    ExpectError(Post("dave", "/v1/users/nobody/revoke", json()), 404,
                "not_found");
  }

  void PolicyRejectsUncoveredRequest() {
    auto policy = zsp::broker::ParsePolicy(
        "[[entitlement]]\nname = \"id-only\"\nhosts = [\"web-*\"]\n"
        "requesters = [\"alice\"]\nrunas = [\"root\"]\n"
        "commands = [\"/usr/bin/id\"]\napprovers = [\"bob\"]\n",
        "policy.toml");
    CPPUNIT_ASSERT(policy.ok());
    policy_->Set(std::move(policy).value());
    json body = {{"host", "web-1"},
                 {"kind", "sudo"},
                 {"commands", {"/usr/bin/uptime"}},
                 {"duration", 600},
                 {"reason", "test"}};
    ApiResponse rejected = FileRequest("alice", body);
    ExpectError(rejected, 403, "no_entitlement");
    CPPUNIT_ASSERT(rejected.body.value("message", "").find("id-only") !=
                   std::string::npos);
    body["commands"] = {"/usr/bin/id"};
    ApiResponse filed = FileRequest("alice", body);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(filed.body.dump(), 201, filed.status);
    CPPUNIT_ASSERT_EQUAL(std::string("id-only"),
                         filed.body.value("entitlement", ""));
    CPPUNIT_ASSERT_EQUAL(kStart + 3600, filed.body.value("pending_until", 0L));
  }

  void EventsFollowVisibility() {
    ApiResponse filed = FileRequest(
        "alice", {{"host", "web-1"},
                  {"kind", "login"},
                  {"duration", 600},
                  {"reason", "test"}});
    std::string id = filed.body.value("id", "");
    ApiResponse events =
        api_->Handle(AsPerson("alice", "GET", "/v1/requests/" + id + "/events"));
    CPPUNIT_ASSERT_EQUAL(200, events.status);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, events.body["events"].size());
    CPPUNIT_ASSERT_EQUAL(std::string("filed"),
                         events.body["events"][0].value("event", ""));
    ExpectError(
        api_->Handle(AsPerson("dave", "GET", "/v1/requests/" + id + "/events")),
        404, "not_found");
  }

  // A vote with an API token is recorded as such in the request's events
  // and in the broker's chain of the audit store.
  void VoteRecordsSignIn() {
    auto audit = AttachAuditStore();
    std::string id = FileSudoRequest("alice", "/usr/bin/id");
    ApiResponse approved = Post("bob", "/v1/requests/" + id + "/approve",
                                {{"comment", "ok"}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(approved.body.dump(), 200, approved.status);

    ApiResponse events =
        api_->Handle(AsPerson("carol", "GET", "/v1/requests/" + id + "/events"));
    CPPUNIT_ASSERT_EQUAL(200, events.status);
    const json& list = events.body["events"];
    CPPUNIT_ASSERT(list[0]["sign_in"].is_null());
    bool voted = false;
    for (size_t i = 1; i < list.size(); ++i) {
      CPPUNIT_ASSERT_EQUAL(std::string("api_token"),
                           list[i]["sign_in"].value("method", ""));
      voted = true;
    }
    CPPUNIT_ASSERT(voted);

    zsp::broker::AuditFilter filter;
    filter.host = zsp::broker::kBrokerAuditChain;
    auto rows = audit->ListRecords(filter);
    CPPUNIT_ASSERT(rows.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, rows.value.size());
    json record = json::parse(rows.value[0].line);
    CPPUNIT_ASSERT_EQUAL(id, record.value("ZSP_REQUEST", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), record.value("ZSP_APPROVER", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("approve"), record.value("ZSP_VOTE", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("api_token"),
                         record.value("ZSP_SIGN_IN_METHOD", ""));
    DetachAuditStore();
  }

  // U+202E, U+2066 and U+009B in any free-text field or command entry are
  // rejected with 400, and the message names the field and the character.
  // An accented letter is accepted.
  void TextFieldsRejectHiddenCharacters() {
    const std::string rlo = "\xe2\x80\xae";
    const std::string lri = "\xe2\x81\xa6";
    const std::string csi = "\xc2\x9b";
    auto expect_named = [](const ApiResponse& response,
                           const std::string& field,
                           const std::string& code_point) {
      ExpectError(response, 400, "invalid_request");
      std::string message = response.body.value("message", "");
      CPPUNIT_ASSERT_MESSAGE(message, message.rfind(field + ":", 0) == 0);
      CPPUNIT_ASSERT_MESSAGE(message,
                             message.find(code_point) != std::string::npos);
      CPPUNIT_ASSERT_MESSAGE("no raw U+202E in " + message,
                             message.find("\xe2\x80\xae") == std::string::npos);
    };
    json good = {{"host", "web-1"},
                 {"kind", "sudo"},
                 {"commands", {"/usr/bin/id"}},
                 {"duration", 3600},
                 {"reason", "caf\xc3\xa9 restart"}};
    json body = good;
    body["reason"] = "restart nginx " + rlo + "gnp.exe";
    expect_named(FileRequest("alice", body), "reason", "U+202E");
    body["reason"] = lri + "hidden";
    expect_named(FileRequest("alice", body), "reason", "U+2066");
    body["reason"] = "csi " + csi + "2J";
    expect_named(FileRequest("alice", body), "reason", "U+009B");
    body["reason"] = "esc \x1b[2J";
    expect_named(FileRequest("alice", body), "reason", "U+001B");
    body = good;
    body["commands"] = {"/usr/bin/echo safe" + rlo + lri + " ;id"};
    expect_named(FileRequest("alice", body), "commands", "U+202E");
    body["commands"] = {"/usr/bin/echo " + csi + "2J"};
    expect_named(FileRequest("alice", body), "commands", "U+009B");

    json host_body = {{"user", "alice"},
                      {"kind", "sudo"},
                      {"commands", {"/usr/bin/id"}},
                      {"duration", 600},
                      {"reason", "filed " + rlo}};
    expect_named(AsHost("web-1", "POST", "/v1/host/requests", host_body),
                 "reason", "U+202E");

    ApiResponse created = FileRequest("alice", good);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(created.body.dump(), 201, created.status);
    CPPUNIT_ASSERT_EQUAL(std::string("caf\xc3\xa9 restart"),
                         created.body.value("reason", ""));
    std::string id = created.body.value("id", "");
    expect_named(Post("bob", "/v1/requests/" + id + "/approve",
                      {{"comment", "ok " + rlo}}),
                 "comment", "U+202E");
    expect_named(Post("bob", "/v1/requests/" + id + "/deny",
                      {{"comment", lri + "no"}}),
                 "comment", "U+2066");
    ApiResponse approved = Post("bob", "/v1/requests/" + id + "/approve",
                                {{"comment", "ok"}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(approved.body.dump(), 200, approved.status);
    std::string grant = approved.body.value("grant", "");
    expect_named(Post("alice", "/v1/grants/" + grant + "/revoke",
                      {{"reason", "done " + csi}}),
                 "reason", "U+009B");
    expect_named(Post("dave", "/v1/hosts/web-1/revoke",
                      {{"reason", "lost " + rlo}}),
                 "reason", "U+202E");

    auto audit = AttachAuditStore();
    expect_named(Post("bob", "/v1/audit/reviews",
                      {{"host", "web-1"}, {"seq", 1}, {"comment", "ok " + lri}}),
                 "comment", "U+2066");
    DetachAuditStore();
  }

  // Opens an audit store in the test's directory and gives it to the Api.
  std::unique_ptr<zsp::broker::AuditStore> AttachAuditStore() {
    auto audit_key = zsp::broker::GenerateEd25519Key();
    CPPUNIT_ASSERT(audit_key.ok());
    auto audit = zsp::broker::AuditStore::Open(dir_ + "/audit.db",
                                               std::move(audit_key).value());
    CPPUNIT_ASSERT_MESSAGE(audit.ok() ? "" : audit.error(), audit.ok());
    api_->SetAuditStore(audit.value().get());
    return std::move(audit).value();
  }

  // Takes the audit store away from the Api and removes its files.
  void DetachAuditStore() {
    api_->SetAuditStore(nullptr);
    for (const char* suffix : {"", "-wal", "-shm"}) {
      unlink((dir_ + "/audit.db" + suffix).c_str());
    }
  }

  void AddPerson(const std::string& name,
                 const std::vector<std::string>& roles) {
    CPPUNIT_ASSERT(store_
                       ->AddPerson(name, roles,
                                   zsp::broker::Sha256Hex(Token(name)), kStart)
                       .ok());
  }

  static void ExpectError(const ApiResponse& response, int status,
                          const std::string& code) {
    std::string body_text = response.body.dump();
    CPPUNIT_ASSERT_EQUAL_MESSAGE(body_text, status, response.status);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(body_text, code,
                                 response.body.value("error", ""));
    CPPUNIT_ASSERT_MESSAGE(body_text,
                           !response.body.value("message", "").empty());
  }

  static ApiRequest AsPerson(const std::string& name, const std::string& method,
                             const std::string& path) {
    ApiRequest request{method, path};
    request.authorization = "Bearer " + Token(name);
    return request;
  }

  ApiResponse Post(const std::string& name, const std::string& path,
                   const json& body) {
    ApiRequest request = AsPerson(name, "POST", path);
    // {} converts to null, which stands for an empty body here.
    if (!body.is_null()) request.body = body.dump();
    return api_->Handle(request);
  }

  ApiResponse FileRequest(const std::string& name, const json& body) {
    return Post(name, "/v1/requests", body);
  }

  std::string FileSudoRequest(const std::string& name,
                              const std::string& command) {
    ApiResponse response = FileRequest(name, {{"host", "web-1"},
                                              {"kind", "sudo"},
                                              {"runas", {"root"}},
                                              {"commands", {command}},
                                              {"duration", 3600},
                                              {"reason", "test"}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body.dump(), 201, response.status);
    return response.body.value("id", "");
  }

  json ListRequests(const std::string& name, const std::string& mine) {
    ApiRequest request = AsPerson(name, "GET", "/v1/requests");
    if (!mine.empty()) request.query["mine"] = mine;
    ApiResponse response = api_->Handle(request);
    CPPUNIT_ASSERT_EQUAL(200, response.status);
    return response.body["requests"];
  }

  static json SudoQuestion(const std::string& host,
                           const std::vector<std::string>& argv) {
    return {{"user", "alice"}, {"host", host}, {"kind", "sudo"},
            {"runas", "root"}, {"argv", argv}, {"runas_group", ""},
            {"env", json::array()}, {"nonce", kNonce}};
  }

  ApiResponse AskAs(const std::string& cert_host, const json& question) {
    ApiRequest request{"POST", "/v1/decisions"};
    request.has_client_cert = true;
    request.client_host = cert_host;
    request.body = question.dump();
    return api_->Handle(request);
  }

  // Reads the feed of host after sequence number after, without waiting,
  // and returns the verified page.
  json Feed(const std::string& host, int64_t after) {
    ApiRequest request{"GET", "/v1/host/feed"};
    request.has_client_cert = true;
    request.client_host = host;
    request.query = {{"after", std::to_string(after)}, {"nonce", kNonce}};
    ApiResponse response = api_->Handle(request);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body.dump(), 200, response.status);
    std::vector<zsp::PinnedKey> keys = {zsp::PinnedKeyOf(key_.get()).value()};
    zsp::VerifiedJws verified = zsp::VerifyJws(response.body.value("jws", ""),
                                               keys, zsp::kFeedJwsType);
    CPPUNIT_ASSERT_MESSAGE(verified.detail,
                           verified.status == zsp::JwsStatus::kValid);
    return json::parse(verified.payload);
  }

  // Asks as the question's host and returns the verified claims.
  json Decide(const json& question) {
    ApiResponse response = AskAs(question.value("host", ""), question);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body.dump(), 200, response.status);
    std::vector<zsp::PinnedKey> keys = {zsp::PinnedKeyOf(key_.get()).value()};
    zsp::VerifiedJws verified = zsp::VerifyJws(response.body.value("jws", ""),
                                               keys, zsp::kDecisionJwsType);
    CPPUNIT_ASSERT_MESSAGE(verified.detail,
                           verified.status == zsp::JwsStatus::kValid);
    return json::parse(verified.payload);
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  zsp::EvpPkeyPtr key_;
  int64_t now_ = kStart;
  std::unique_ptr<zsp::broker::PolicyHolder> policy_;
  std::unique_ptr<Api> api_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerApiTest);

}  // namespace

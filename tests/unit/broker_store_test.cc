// Tests for broker/store on a temporary SQLite file, or on PostgreSQL with
// ZSP_TEST_POSTGRES (tests/unit/store_backend.h): people and tokens,
// request state transitions, the own-request rule, grants and revocation.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "broker/store.h"
#include "tests/unit/store_backend.h"

namespace {

using zsp::broker::AccessRequest;
using zsp::broker::SignIn;
using zsp::broker::Store;
using zsp::broker::StoreError;

constexpr int64_t kNow = 1'800'000'000;

AccessRequest SudoRequest(const std::string& requester) {
  AccessRequest request;
  request.requester = requester;
  request.host = "web-1";
  request.kind = "sudo";
  request.runas = {"root"};
  request.commands = {"/usr/bin/id", "/usr/bin/systemctl restart nginx"};
  request.duration = 3600;
  request.reason = "test";
  return request;
}

class BrokerStoreTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerStoreTest);
  CPPUNIT_TEST(PersonTokenLookup);
  CPPUNIT_TEST(DuplicatePersonIsConflict);
  CPPUNIT_TEST(CreateRequestIsPending);
  CPPUNIT_TEST(SelfApprovalRejected);
  CPPUNIT_TEST(ApproveCreatesGrant);
  CPPUNIT_TEST(DecidedRequestCannotChange);
  CPPUNIT_TEST(CancelOnlyByRequester);
  CPPUNIT_TEST(RevokeRecordsWhoAndWhy);
  CPPUNIT_TEST(ExpiredGrantCannotBeRevoked);
  CPPUNIT_TEST(GrantsEndingBetweenReadsTheWindow);
  CPPUNIT_TEST(ActiveGrantsOfSkipsEnded);
  CPPUNIT_TEST(ListFilters);
  CPPUNIT_TEST(UnknownIdsAreNotFound);
  CPPUNIT_TEST(TwoApprovalsNeeded);
  CPPUNIT_TEST(OneDenyEndsRequest);
  CPPUNIT_TEST(SecondVoteIsConflict);
  CPPUNIT_TEST(PendingRequestExpires);
  CPPUNIT_TEST(OverlapWithActiveGrant);
  CPPUNIT_TEST(AutoApprovalCreatesGrant);
  CPPUNIT_TEST(EventsRecordEveryChange);
  CPPUNIT_TEST(ConcurrentVotesCountOnce);
  CPPUNIT_TEST(HostRevocationAndCounts);
  CPPUNIT_TEST(VotesRecordSignIn);
  CPPUNIT_TEST(UpgradeAddsSignInAndSessions);
  CPPUNIT_TEST(WebSessionsFoundUntilExpiry);
  CPPUNIT_TEST(WebSessionsCappedAndPruned);
  CPPUNIT_TEST(WebSessionsCappedPerPerson);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char dir_template[] = "/tmp/zsp-store-test.XXXXXX";
    char* dir = mkdtemp(dir_template);
    CPPUNIT_ASSERT(dir != nullptr);
    dir_ = dir;
    auto store = Store::Open(zsp::test::FreshStoreLocation(dir_ + "/broker.db"),
                             zsp::test::TestStoreOptions());
    CPPUNIT_ASSERT_MESSAGE(store.ok() ? "" : store.error(), store.ok());
    store_ = std::move(store).value();
  }

  void tearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      unlink((dir_ + "/broker.db" + suffix).c_str());
    }
    rmdir(dir_.c_str());
  }

  void PersonTokenLookup() {
    CPPUNIT_ASSERT(store_->AddPerson("alice", {}, "hash-a", kNow).ok());
    CPPUNIT_ASSERT(store_->AddPerson("bob", {"approver"}, "hash-b", kNow).ok());
    auto bob = store_->FindPersonByTokenHash("hash-b");
    CPPUNIT_ASSERT(bob.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), bob.value.name);
    CPPUNIT_ASSERT(bob.value.HasRole("approver"));
    CPPUNIT_ASSERT(!bob.value.HasRole("admin"));

    CPPUNIT_ASSERT(store_->SetTokenHash("bob", "hash-b2").ok());
    CPPUNIT_ASSERT(store_->FindPersonByTokenHash("hash-b").error ==
                   StoreError::kNotFound);
    CPPUNIT_ASSERT(store_->FindPersonByTokenHash("hash-b2").ok());
    CPPUNIT_ASSERT(store_->SetTokenHash("carol", "x").error ==
                   StoreError::kNotFound);
    auto people = store_->ListPersons();
    CPPUNIT_ASSERT(people.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, people.value.size());
  }

  void DuplicatePersonIsConflict() {
    CPPUNIT_ASSERT(store_->AddPerson("alice", {}, "hash-a", kNow).ok());
    CPPUNIT_ASSERT(store_->AddPerson("alice", {}, "hash-x", kNow).error ==
                   StoreError::kConflict);
  }

  void CreateRequestIsPending() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    CPPUNIT_ASSERT(created.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{14}, created.value.id.size());
    CPPUNIT_ASSERT_EQUAL(std::string("r-"), created.value.id.substr(0, 2));
    auto read = store_->GetRequest(created.value.id);
    CPPUNIT_ASSERT(read.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("pending"), read.value.state);
    CPPUNIT_ASSERT_EQUAL(kNow, read.value.created_at);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, read.value.commands.size());
    CPPUNIT_ASSERT_EQUAL(std::string("/usr/bin/systemctl restart nginx"),
                         read.value.commands[1]);
    CPPUNIT_ASSERT(!read.value.grant.has_value());
  }

  void SelfApprovalRejected() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    auto approved =
        store_->ApproveRequest(created.value.id, "alice", std::nullopt, kNow);
    CPPUNIT_ASSERT(approved.error == StoreError::kForbidden);
    CPPUNIT_ASSERT_EQUAL(std::string("you may not approve your own request"),
                         approved.message);
    auto denied =
        store_->DenyRequest(created.value.id, "alice", std::nullopt, kNow);
    CPPUNIT_ASSERT(denied.error == StoreError::kForbidden);
    // An identity provider may spell the same account with capitals.
    auto capitals =
        store_->ApproveRequest(created.value.id, "ALice", std::nullopt, kNow);
    CPPUNIT_ASSERT(capitals.error == StoreError::kForbidden);
    CPPUNIT_ASSERT_EQUAL(std::string("pending"),
                         store_->GetRequest(created.value.id).value.state);
  }

  void ApproveCreatesGrant() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    auto approved = store_->ApproveRequest(created.value.id, "bob",
                                           std::string("ok"), kNow + 10);
    CPPUNIT_ASSERT(approved.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("approved"), approved.value.state);
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), *approved.value.decided_by);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), *approved.value.decision_comment);
    CPPUNIT_ASSERT(approved.value.grant.has_value());

    auto grant = store_->GetGrant(*approved.value.grant);
    CPPUNIT_ASSERT(grant.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), grant.value.user);
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), grant.value.approved_by);
    CPPUNIT_ASSERT_EQUAL(created.value.id, grant.value.request);
    CPPUNIT_ASSERT_EQUAL(kNow + 10, grant.value.starts_at);
    CPPUNIT_ASSERT_EQUAL(kNow + 10 + 3600, grant.value.expires_at);
    CPPUNIT_ASSERT_EQUAL(std::string("active"), grant.value.StateAt(kNow + 20));
    CPPUNIT_ASSERT_EQUAL(std::string("expired"),
                         grant.value.StateAt(kNow + 10 + 3600));
    auto of_alice = store_->GrantsOf("alice", "sudo");
    CPPUNIT_ASSERT_EQUAL(size_t{1}, of_alice.value.size());
    CPPUNIT_ASSERT(store_->GrantsOf("alice", "login").value.empty());
  }

  void DecidedRequestCannotChange() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    const std::string id = created.value.id;
    CPPUNIT_ASSERT(store_->DenyRequest(id, "bob", std::nullopt, kNow).ok());
    CPPUNIT_ASSERT(
        store_->ApproveRequest(id, "bob", std::nullopt, kNow).error ==
        StoreError::kConflict);
    CPPUNIT_ASSERT(store_->DenyRequest(id, "carol", std::nullopt, kNow).error ==
                   StoreError::kConflict);
    CPPUNIT_ASSERT(store_->CancelRequest(id, "alice", kNow).error ==
                   StoreError::kConflict);
    auto read = store_->GetRequest(id);
    CPPUNIT_ASSERT_EQUAL(std::string("denied"), read.value.state);
    CPPUNIT_ASSERT(!read.value.grant.has_value());
  }

  void CancelOnlyByRequester() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    const std::string id = created.value.id;
    CPPUNIT_ASSERT(store_->CancelRequest(id, "bob", kNow).error ==
                   StoreError::kForbidden);
    auto cancelled = store_->CancelRequest(id, "alice", kNow);
    CPPUNIT_ASSERT(cancelled.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), cancelled.value.state);
    CPPUNIT_ASSERT(
        store_->ApproveRequest(id, "bob", std::nullopt, kNow).error ==
        StoreError::kConflict);
  }

  void RevokeRecordsWhoAndWhy() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    auto approved =
        store_->ApproveRequest(created.value.id, "bob", std::nullopt, kNow);
    const std::string grant_id = *approved.value.grant;
    auto revoked =
        store_->RevokeGrant(grant_id, "carol", std::string("done"), kNow + 5);
    CPPUNIT_ASSERT(revoked.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("revoked"),
                         revoked.value.StateAt(kNow + 6));
    CPPUNIT_ASSERT_EQUAL(std::string("carol"), *revoked.value.revoked_by);
    CPPUNIT_ASSERT_EQUAL(kNow + 5, *revoked.value.revoked_at);
    CPPUNIT_ASSERT_EQUAL(std::string("done"), *revoked.value.revoke_reason);
    CPPUNIT_ASSERT(
        store_->RevokeGrant(grant_id, "carol", std::nullopt, kNow + 6).error ==
        StoreError::kConflict);
  }

  // Three sudo grants for alice: one revoked, one expired, one active.
  void ActiveGrantsOfSkipsEnded() {
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      // Each is filed when the one before has ended, since a request that
      // repeats an active grant is refused as an overlap.
      auto created = store_->CreateRequest(SudoRequest("alice"), kNow + i * 3600);
      CPPUNIT_ASSERT(created.ok());
      auto approved = store_->ApproveRequest(created.value.id, "bob",
                                             std::nullopt, kNow + i * 3600);
      CPPUNIT_ASSERT(approved.ok());
      ids.push_back(*approved.value.grant);
    }
    CPPUNIT_ASSERT(
        store_->RevokeGrant(ids[0], "bob", std::nullopt, kNow + 10).ok());
    const int64_t now = kNow + 2 * 3600 + 10;

    auto active = store_->ActiveGrantsOf("alice", "sudo", now);
    CPPUNIT_ASSERT(active.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, active.value.size());
    CPPUNIT_ASSERT_EQUAL(ids[2], active.value[0].id);
    CPPUNIT_ASSERT_EQUAL(size_t{3},
                         store_->GrantsOf("alice", "sudo").value.size());
    CPPUNIT_ASSERT(store_->ActiveGrantsOf("alice", "login", now).value.empty());
    CPPUNIT_ASSERT(store_->ActiveGrantsOf("bob", "sudo", now).value.empty());
    CPPUNIT_ASSERT(
        store_->ActiveGrantsOf("alice", "sudo", kNow + 3 * 3600).value.empty());
  }

  void GrantsEndingBetweenReadsTheWindow() {
    // Grants of 1, 2, 3 and 4 hours for four people, all approved at kNow;
    // the 2-hour one is revoked.
    std::vector<std::string> ids;
    for (int hours = 1; hours <= 4; ++hours) {
      AccessRequest request = SudoRequest("user" + std::to_string(hours));
      request.duration = hours * 3600;
      auto created = store_->CreateRequest(request, kNow);
      CPPUNIT_ASSERT(created.ok());
      auto approved =
          store_->ApproveRequest(created.value.id, "bob", std::nullopt, kNow);
      CPPUNIT_ASSERT(approved.ok());
      ids.push_back(*approved.value.grant);
    }
    CPPUNIT_ASSERT(
        store_->RevokeGrant(ids[1], "bob", std::nullopt, kNow + 10).ok());

    // The window's start is exclusive and its end inclusive.
    auto ending = store_->GrantsEndingBetween(kNow + 3600, kNow + 4 * 3600);
    CPPUNIT_ASSERT(ending.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, ending.value.size());
    CPPUNIT_ASSERT_EQUAL(ids[2], ending.value[0].id);
    CPPUNIT_ASSERT_EQUAL(ids[3], ending.value[1].id);
    auto first = store_->GrantsEndingBetween(kNow, kNow + 3600);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, first.value.size());
    CPPUNIT_ASSERT_EQUAL(ids[0], first.value[0].id);
    CPPUNIT_ASSERT(
        store_->GrantsEndingBetween(kNow + 4 * 3600, kNow + 9 * 3600)
            .value.empty());
  }

  void ExpiredGrantCannotBeRevoked() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    auto approved =
        store_->ApproveRequest(created.value.id, "bob", std::nullopt, kNow);
    auto revoked = store_->RevokeGrant(*approved.value.grant, "alice",
                                       std::nullopt, kNow + 3600);
    CPPUNIT_ASSERT(revoked.error == StoreError::kConflict);
    CPPUNIT_ASSERT(revoked.message.find("expired") != std::string::npos);
  }

  void ListFilters() {
    auto first = store_->CreateRequest(SudoRequest("alice"), kNow);
    auto second = store_->CreateRequest(SudoRequest("carol"), kNow + 1);
    store_->ApproveRequest(first.value.id, "bob", std::nullopt, kNow + 2);

    auto all = store_->ListRequests(std::nullopt, std::nullopt);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, all.value.size());
    CPPUNIT_ASSERT_EQUAL(second.value.id, all.value[0].id);
    auto pending = store_->ListRequests(std::string("pending"), std::nullopt);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, pending.value.size());
    CPPUNIT_ASSERT_EQUAL(second.value.id, pending.value[0].id);
    auto of_alice = store_->ListRequests(std::nullopt, std::string("alice"));
    CPPUNIT_ASSERT_EQUAL(size_t{1}, of_alice.value.size());

    CPPUNIT_ASSERT_EQUAL(
        size_t{1},
        store_->ListGrants(std::nullopt, true, kNow + 3).value.size());
    CPPUNIT_ASSERT_EQUAL(
        size_t{0},
        store_->ListGrants(std::nullopt, true, kNow + 3602).value.size());
    CPPUNIT_ASSERT_EQUAL(
        size_t{1},
        store_->ListGrants(std::nullopt, false, kNow + 3602).value.size());
    CPPUNIT_ASSERT_EQUAL(
        size_t{0},
        store_->ListGrants(std::string("carol"), false, kNow).value.size());
  }

  void UnknownIdsAreNotFound() {
    CPPUNIT_ASSERT(store_->GetRequest("r-000000000000").error ==
                   StoreError::kNotFound);
    CPPUNIT_ASSERT(store_->GetGrant("g-000000000000").error ==
                   StoreError::kNotFound);
    CPPUNIT_ASSERT(
        store_->ApproveRequest("r-000000000000", "bob", std::nullopt, kNow)
            .error == StoreError::kNotFound);
    CPPUNIT_ASSERT(
        store_->RevokeGrant("g-000000000000", "bob", std::nullopt, kNow)
            .error == StoreError::kNotFound);
  }

  AccessRequest CreateTwoOfM() {
    AccessRequest request = SudoRequest("alice");
    request.entitlement = "web";
    request.approvals_required = 2;
    request.pending_until = kNow + 600;
    auto created = store_->CreateRequest(request, kNow);
    CPPUNIT_ASSERT_MESSAGE(created.message, created.ok());
    return created.value;
  }

  void TwoApprovalsNeeded() {
    std::string id = CreateTwoOfM().id;
    auto first = store_->ApproveRequest(id, "bob", std::nullopt, kNow + 1);
    CPPUNIT_ASSERT(first.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("pending"), first.value.state);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, first.value.approvals.size());
    CPPUNIT_ASSERT(!first.value.grant.has_value());
    auto second = store_->ApproveRequest(id, "dave", std::nullopt, kNow + 2);
    CPPUNIT_ASSERT(second.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("approved"), second.value.state);
    CPPUNIT_ASSERT(second.value.grant.has_value());
    auto grant = store_->GetGrant(*second.value.grant);
    CPPUNIT_ASSERT_EQUAL(std::string("bob,dave"), grant.value.approved_by);
    CPPUNIT_ASSERT_EQUAL(kNow + 2, grant.value.starts_at);
  }

  void OneDenyEndsRequest() {
    std::string id = CreateTwoOfM().id;
    CPPUNIT_ASSERT(store_->ApproveRequest(id, "bob", std::nullopt, kNow).ok());
    auto denied = store_->DenyRequest(id, "dave", std::string("no"), kNow + 1);
    CPPUNIT_ASSERT(denied.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("denied"), denied.value.state);
    CPPUNIT_ASSERT(!denied.value.grant.has_value());
    CPPUNIT_ASSERT(store_->ApproveRequest(id, "erin", std::nullopt, kNow + 2)
                       .error == StoreError::kConflict);
  }

  void SecondVoteIsConflict() {
    std::string id = CreateTwoOfM().id;
    CPPUNIT_ASSERT(store_->ApproveRequest(id, "bob", std::nullopt, kNow).ok());
    auto again = store_->ApproveRequest(id, "bob", std::nullopt, kNow + 1);
    CPPUNIT_ASSERT(again.error == StoreError::kConflict);
    auto capitals = store_->ApproveRequest(id, "Bob", std::nullopt, kNow + 1);
    CPPUNIT_ASSERT(capitals.error == StoreError::kConflict);
    auto found = store_->GetRequest(id);
    CPPUNIT_ASSERT_EQUAL(std::string("pending"), found.value.state);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, found.value.approvals.size());
  }

  void PendingRequestExpires() {
    std::string id = CreateTwoOfM().id;
    auto none = store_->ExpirePending(kNow + 599);
    CPPUNIT_ASSERT(none.ok());
    CPPUNIT_ASSERT(none.value.empty());
    // A vote after the deadline expires the request instead of counting.
    auto late = store_->ApproveRequest(id, "bob", std::nullopt, kNow + 600);
    CPPUNIT_ASSERT(late.error == StoreError::kConflict);
    auto found = store_->GetRequest(id);
    CPPUNIT_ASSERT_EQUAL(std::string("expired"), found.value.state);
    CPPUNIT_ASSERT_EQUAL(kNow + 600, found.value.decided_at.value_or(0));

    std::string other = CreateTwoOfM().id;
    auto swept = store_->ExpirePending(kNow + 700);
    CPPUNIT_ASSERT(swept.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, swept.value.size());
    CPPUNIT_ASSERT_EQUAL(other, swept.value[0].id);
    CPPUNIT_ASSERT(store_->CancelRequest(other, "alice", kNow + 701).error ==
                   StoreError::kConflict);
  }

  void OverlapWithActiveGrant() {
    auto created = store_->CreateRequest(SudoRequest("alice"), kNow);
    auto approved =
        store_->ApproveRequest(created.value.id, "bob", std::nullopt, kNow);
    std::string grant = approved.value.grant.value_or("");
    AccessRequest same = SudoRequest("alice");
    same.commands = {"/usr/bin/id"};
    auto overlap = store_->CreateRequest(same, kNow + 10);
    CPPUNIT_ASSERT(overlap.error == StoreError::kConflict);
    CPPUNIT_ASSERT_EQUAL(grant, overlap.value.grant.value_or(""));
    CPPUNIT_ASSERT(overlap.message.find(grant) != std::string::npos);
    // Other commands, or the same after the grant ends, are fine.
    same.commands = {"/usr/bin/uptime"};
    CPPUNIT_ASSERT(store_->CreateRequest(same, kNow + 10).ok());
    same.commands = {"/usr/bin/id"};
    CPPUNIT_ASSERT(store_->CreateRequest(same, kNow + 3600).ok());
  }

  void AutoApprovalCreatesGrant() {
    auto created = store_->CreateRequest(SudoRequest("carol"), kNow,
                                         std::string("auto-approval test"));
    CPPUNIT_ASSERT(created.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("approved"), created.value.state);
    auto grant = store_->GetGrant(created.value.grant.value_or(""));
    CPPUNIT_ASSERT(grant.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("auto-approval test"),
                         grant.value.approved_by);
    auto events = store_->ListEvents(created.value.id);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, events.value.size());
    CPPUNIT_ASSERT_EQUAL(std::string("auto_approved"), events.value[1].event);
  }

  void EventsRecordEveryChange() {
    std::string id = CreateTwoOfM().id;
    store_->ApproveRequest(id, "bob", std::nullopt, kNow + 1);
    auto approved = store_->ApproveRequest(id, "dave", std::nullopt, kNow + 2);
    std::string grant = approved.value.grant.value_or("");
    store_->RevokeGrant(grant, "erin", std::string("done"), kNow + 3);
    auto events = store_->ListEvents(id);
    CPPUNIT_ASSERT(events.ok());
    std::vector<std::string> expected = {"filed", "approval", "approval",
                                         "approved", "revoked"};
    CPPUNIT_ASSERT_EQUAL(expected.size(), events.value.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      CPPUNIT_ASSERT_EQUAL(expected[i], events.value[i].event);
    }
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), events.value[0].actor);
    CPPUNIT_ASSERT_EQUAL(std::string("1 of 2"), events.value[1].detail);
    CPPUNIT_ASSERT_EQUAL(std::string("dave"), events.value[3].actor);
    CPPUNIT_ASSERT_EQUAL(grant, events.value[4].grant.value_or(""));
    CPPUNIT_ASSERT_EQUAL(std::string("erin"), events.value[4].actor);
    CPPUNIT_ASSERT_EQUAL(kNow + 3, events.value[4].at);
  }

  // Each vote's events keep how the voter signed in; other events have
  // no sign-in.
  void VotesRecordSignIn() {
    std::string id = CreateTwoOfM().id;
    SignIn web{"web_session", "id_token", "https://idp.test", "mfa",
               {"pwd", "otp"}, kNow - 30};
    SignIn cli{"zspctl_login", "access_token", "https://idp.test", "",
               {"pwd"}, kNow - 60};
    CPPUNIT_ASSERT(
        store_->ApproveRequest(id, "bob", std::nullopt, kNow + 1, web).ok());
    CPPUNIT_ASSERT(
        store_->ApproveRequest(id, "dave", std::nullopt, kNow + 2, cli).ok());
    auto events = store_->ListEvents(id);
    CPPUNIT_ASSERT(events.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{4}, events.value.size());
    CPPUNIT_ASSERT(events.value[0].sign_in.empty());
    const SignIn& first = events.value[1].sign_in;
    CPPUNIT_ASSERT_EQUAL(std::string("web_session"), first.method);
    CPPUNIT_ASSERT_EQUAL(std::string("id_token"), first.token_type);
    CPPUNIT_ASSERT_EQUAL(std::string("https://idp.test"), first.issuer);
    CPPUNIT_ASSERT_EQUAL(std::string("mfa"), first.acr);
    CPPUNIT_ASSERT(first.amr == web.amr);
    CPPUNIT_ASSERT_EQUAL(kNow - 30, first.auth_time);
    CPPUNIT_ASSERT_EQUAL(std::string("zspctl_login"),
                         events.value[2].sign_in.method);
    CPPUNIT_ASSERT_EQUAL(std::string("approved"), events.value[3].event);
    CPPUNIT_ASSERT_EQUAL(std::string("access_token"),
                         events.value[3].sign_in.token_type);
    CPPUNIT_ASSERT_EQUAL(kNow - 60, events.value[3].sign_in.auth_time);

    std::string denied = store_->CreateRequest(SudoRequest("erin"), kNow).value.id;
    SignIn token{"api_token", "", "", "", {}, 0};
    CPPUNIT_ASSERT(
        store_->DenyRequest(denied, "bob", std::nullopt, kNow + 3, token).ok());
    auto deny_events = store_->ListEvents(denied);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, deny_events.value.size());
    CPPUNIT_ASSERT_EQUAL(std::string("denied"), deny_events.value[1].event);
    CPPUNIT_ASSERT_EQUAL(std::string("api_token"),
                         deny_events.value[1].sign_in.method);
    CPPUNIT_ASSERT(deny_events.value[1].sign_in.amr.empty());
  }

  // A store from before sign-ins, web sessions and the index on grant ends
  // gets the column, the table and the index when opened, keeps its
  // events, and records sign-ins from then on. On PostgreSQL the last four
  // migrations run again: three add those, and the last replaces a function.
  void UpgradeAddsSignInAndSessions() {
    std::string id = store_->CreateRequest(SudoRequest("alice"), kNow).value.id;
    store_.reset();
    std::string location = zsp::test::SameStoreLocation(dir_ + "/broker.db");
    std::string downgrade =
        "ALTER TABLE events DROP COLUMN sign_in; DROP TABLE web_sessions; "
        "DROP INDEX grants_expires";
    if (zsp::test::PostgresUri() != nullptr) {
      downgrade +=
          "; DELETE FROM zsp_migrations WHERE component = 'store' AND "
          "version >= (SELECT max(version) - 3 FROM zsp_migrations WHERE "
          "component = 'store')";
    }
    std::string error =
        zsp::test::ExecOnTestDatabase(dir_ + "/broker.db", downgrade);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(error, std::string(), error);

    auto reopened = Store::Open(location, zsp::test::TestStoreOptions());
    CPPUNIT_ASSERT_MESSAGE(reopened.ok() ? "" : reopened.error(),
                           reopened.ok());
    store_ = std::move(reopened).value();
    SignIn web{"web_session", "id_token", "https://idp.test", "mfa",
               {"otp"}, kNow};
    auto denied = store_->DenyRequest(id, "bob", std::nullopt, kNow + 1, web);
    CPPUNIT_ASSERT_MESSAGE(denied.message, denied.ok());
    auto events = store_->ListEvents(id);
    CPPUNIT_ASSERT(events.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, events.value.size());
    CPPUNIT_ASSERT(events.value[0].sign_in.empty());
    CPPUNIT_ASSERT_EQUAL(std::string("mfa"), events.value[1].sign_in.acr);
    zsp::broker::WebSession session;
    session.id_sha256 = "after-upgrade";
    session.expires_at = kNow + 60;
    CPPUNIT_ASSERT(store_->AddWebSession(session, kNow, 10, 10).ok());
    CPPUNIT_ASSERT(store_->FindWebSession("after-upgrade", kNow).ok());
  }

  static zsp::broker::WebSession MakeWebSession(const std::string& hash,
                                                int64_t expires_at) {
    zsp::broker::WebSession session;
    session.id_sha256 = hash;
    session.person = "carol";
    session.roles = {"approver", "auditor"};
    session.may_request = true;
    session.csrf = "csrf-" + hash;
    session.sign_in = {"web_session", "id_token", "https://idp.test", "mfa",
                       {"pwd", "otp"}, kNow - 5};
    session.created_at = kNow;
    session.expires_at = expires_at;
    return session;
  }

  // A session reads back with every fact, from a second connection too,
  // until it expires or is deleted.
  void WebSessionsFoundUntilExpiry() {
    CPPUNIT_ASSERT(
        store_->AddWebSession(MakeWebSession("aa11", kNow + 600), kNow, 10, 10)
            .ok());
    auto other = Store::Open(zsp::test::SameStoreLocation(dir_ + "/broker.db"),
                             zsp::test::TestStoreOptions());
    CPPUNIT_ASSERT(other.ok());
    auto found = other.value()->FindWebSession("aa11", kNow + 599);
    CPPUNIT_ASSERT_MESSAGE(found.message, found.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("carol"), found.value.person);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, found.value.roles.size());
    CPPUNIT_ASSERT_EQUAL(std::string("auditor"), found.value.roles[1]);
    CPPUNIT_ASSERT(found.value.may_request);
    CPPUNIT_ASSERT_EQUAL(std::string("csrf-aa11"), found.value.csrf);
    CPPUNIT_ASSERT_EQUAL(std::string("web_session"),
                         found.value.sign_in.method);
    CPPUNIT_ASSERT_EQUAL(std::string("mfa"), found.value.sign_in.acr);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, found.value.sign_in.amr.size());
    CPPUNIT_ASSERT_EQUAL(kNow - 5, found.value.sign_in.auth_time);
    CPPUNIT_ASSERT_EQUAL(kNow + 600, found.value.expires_at);

    CPPUNIT_ASSERT(store_->FindWebSession("aa11", kNow + 600).error ==
                   StoreError::kNotFound);
    CPPUNIT_ASSERT(store_->FindWebSession("bb22", kNow).error ==
                   StoreError::kNotFound);
    CPPUNIT_ASSERT(store_->DeleteWebSession("aa11").ok());
    CPPUNIT_ASSERT(store_->FindWebSession("aa11", kNow).error ==
                   StoreError::kNotFound);
    CPPUNIT_ASSERT(store_->DeleteWebSession("aa11").ok());
  }

  // Adding a session removes expired rows first; unexpired ones count
  // against the cap.
  void WebSessionsCappedAndPruned() {
    auto add = [this](const std::string& hash, int64_t expires_at,
                      int64_t now) {
      return store_->AddWebSession(MakeWebSession(hash, expires_at), now, 2,
                                   10);
    };
    CPPUNIT_ASSERT(add("s1", kNow + 10, kNow).ok());
    CPPUNIT_ASSERT(add("s2", kNow + 600, kNow).ok());
    CPPUNIT_ASSERT(add("s3", kNow + 600, kNow).error == StoreError::kConflict);
    CPPUNIT_ASSERT(add("s3", kNow + 600, kNow + 10).ok());
    // The primary key rejects this insert unless the expired row is gone.
    std::string error = zsp::test::ExecOnTestDatabase(
        dir_ + "/broker.db",
        "INSERT INTO web_sessions (id_sha256, person, roles, may_request, "
        "csrf, sign_in, created_at, expires_at) VALUES ('s1', 'x', '[]', 0, "
        "'c', '', 0, 0)");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(error, std::string(), error);
    CPPUNIT_ASSERT(store_->FindWebSession("s2", kNow + 10).ok());
    CPPUNIT_ASSERT(store_->FindWebSession("s3", kNow + 10).ok());
  }

  // A third sign-in of carol with a cap of two per person ends her oldest
  // session and leaves dave's alone.
  void WebSessionsCappedPerPerson() {
    auto at = [this](const std::string& hash, const std::string& person,
                     int64_t created) {
      zsp::broker::WebSession session = MakeWebSession(hash, kNow + 3600);
      session.person = person;
      session.created_at = created;
      return store_->AddWebSession(session, created, 100, 2);
    };
    CPPUNIT_ASSERT(at("c1", "carol", kNow).ok());
    CPPUNIT_ASSERT(at("d1", "dave", kNow + 1).ok());
    CPPUNIT_ASSERT(at("c2", "carol", kNow + 2).ok());
    CPPUNIT_ASSERT(at("c3", "carol", kNow + 3).ok());

    CPPUNIT_ASSERT(store_->FindWebSession("c1", kNow + 4).error ==
                   StoreError::kNotFound);
    CPPUNIT_ASSERT(store_->FindWebSession("c2", kNow + 4).ok());
    CPPUNIT_ASSERT(store_->FindWebSession("c3", kNow + 4).ok());
    CPPUNIT_ASSERT(store_->FindWebSession("d1", kNow + 4).ok());
  }

  // Eight threads on two connections vote at once: the same approver
  // counts once, and exactly one grant comes from two approvals.
  void HostRevocationAndCounts() {
    auto unknown = store_->HostRevokedAt("web-1");
    CPPUNIT_ASSERT(unknown.error == StoreError::kNotFound);
    CPPUNIT_ASSERT(store_->RevokeHost("web-1", "admin", std::nullopt, kNow)
                       .ok());
    CPPUNIT_ASSERT(
        store_->RevokeHost("web-1", "admin", std::string("again"), kNow + 5)
            .ok());
    auto revoked = store_->HostRevokedAt("web-1");
    CPPUNIT_ASSERT(revoked.ok());
    CPPUNIT_ASSERT_EQUAL(kNow + 5, revoked.value);

    CPPUNIT_ASSERT(store_->CreateRequest(SudoRequest("alice"), kNow).ok());
    auto pending = store_->CountRequests("pending");
    CPPUNIT_ASSERT(pending.ok());
    CPPUNIT_ASSERT_EQUAL(int64_t{1}, pending.value);
    CPPUNIT_ASSERT_EQUAL(int64_t{0}, store_->CountRequests("approved").value);
  }

  void ConcurrentVotesCountOnce() {
    auto second_store =
        Store::Open(zsp::test::SameStoreLocation(dir_ + "/broker.db"),
                    zsp::test::TestStoreOptions());
    CPPUNIT_ASSERT(second_store.ok());
    Store* stores[] = {store_.get(), second_store.value().get()};

    std::string same_voter = CreateTwoOfM().id;
    std::string many_voters = CreateTwoOfM().id;
    std::atomic<int> same_ok{0};
    std::atomic<int> many_ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        Store* store = stores[i % 2];
        if (store->ApproveRequest(same_voter, "bob", std::nullopt, kNow).ok()) {
          ++same_ok;
        }
        std::string voter = "approver" + std::to_string(i);
        if (store->ApproveRequest(many_voters, voter, std::nullopt, kNow)
                .ok()) {
          ++many_ok;
        }
      });
    }
    for (auto& thread : threads) thread.join();

    CPPUNIT_ASSERT_EQUAL(1, same_ok.load());
    CPPUNIT_ASSERT_EQUAL(2, many_ok.load());
    auto request = store_->GetRequest(many_voters);
    CPPUNIT_ASSERT_EQUAL(std::string("approved"), request.value.state);
    auto grants = store_->ListGrants(std::string("alice"), false, kNow);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, grants.value.size());
  }

 private:
  std::string dir_;
  std::unique_ptr<Store> store_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerStoreTest);

}  // namespace

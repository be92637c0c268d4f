// Tests for the break-glass part of broker/audit_store: the break_glass and
// unreviewed filters of ListRecords, and the rules of AddReview.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "broker/audit_store.h"
#include "common/audit_spool.h"
#include "common/journal.h"

namespace {

using nlohmann::json;
using zsp::AuditEvent;
using zsp::broker::AuditStore;
using zsp::broker::StoreError;

constexpr int64_t kNow = 1'800'000'000;

// Records 1 sudo-allow (alice), 2 break-glass allow (alice), 3 break-glass
// deny (bob), chained as a host's spool would chain them.
std::vector<std::string> MakeChain() {
  const std::pair<AuditEvent, const char*> events[] = {
      {AuditEvent::kSudoAllow, "alice"},
      {AuditEvent::kBreakGlassAllow, "alice"},
      {AuditEvent::kBreakGlassDeny, "bob"},
  };
  std::vector<std::string> lines;
  std::string prev = zsp::kGenesisHash;
  int seq = 0;
  for (const auto& [event, user] : events) {
    ++seq;
    json record = {{"ZSP_USER", user},
                   {"MESSAGE_ID", zsp::MessageId(event)},
                   {"seq", seq},
                   {"prev", prev},
                   {"time", kNow + seq}};
    lines.push_back(record.dump());
    prev = zsp::Sha256Hex(lines.back());
  }
  return lines;
}

}  // namespace

class AuditReviewTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AuditReviewTest);
  CPPUNIT_TEST(FilterSelectsBreakGlassRecords);
  CPPUNIT_TEST(ReviewRemovesFromUnreviewed);
  CPPUNIT_TEST(ReviewRules);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char dir_template[] = "/tmp/zsp-audit-review-test.XXXXXX";
    dir_ = mkdtemp(dir_template);
    auto key = zsp::broker::LoadOrCreateAuditKey(dir_);
    CPPUNIT_ASSERT_MESSAGE(key.ok() ? "" : key.error(), key.ok());
    auto store = AuditStore::Open(dir_ + "/audit.db", std::move(key.value()));
    CPPUNIT_ASSERT_MESSAGE(store.ok() ? "" : store.error(), store.ok());
    audit_ = std::move(store.value());
    auto appended = audit_->Append("db-1", MakeChain(), kNow);
    CPPUNIT_ASSERT(appended.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t{3}, appended.value.stored);
  }

  void tearDown() override {
    audit_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::vector<uint64_t> ListedSeqs(bool break_glass, bool unreviewed) {
    zsp::broker::AuditFilter filter;
    filter.break_glass = break_glass;
    filter.unreviewed = unreviewed;
    auto rows = audit_->ListRecords(filter);
    CPPUNIT_ASSERT(rows.ok());
    std::vector<uint64_t> seqs;
    for (const auto& row : rows.value) seqs.push_back(row.seq);
    return seqs;
  }

  void FilterSelectsBreakGlassRecords() {
    CPPUNIT_ASSERT((ListedSeqs(false, false) == std::vector<uint64_t>{1, 2, 3}));
    CPPUNIT_ASSERT((ListedSeqs(true, false) == std::vector<uint64_t>{2, 3}));
    CPPUNIT_ASSERT((ListedSeqs(true, true) == std::vector<uint64_t>{2, 3}));
  }

  void ReviewRemovesFromUnreviewed() {
    auto review = audit_->AddReview("db-1", 2, "bob", "ticket checked", kNow);
    CPPUNIT_ASSERT_MESSAGE(review.message, review.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), review.value.reviewer);
    CPPUNIT_ASSERT((ListedSeqs(true, true) == std::vector<uint64_t>{3}));
    CPPUNIT_ASSERT((ListedSeqs(true, false) == std::vector<uint64_t>{2, 3}));

    zsp::broker::AuditFilter filter;
    filter.break_glass = true;
    auto rows = audit_->ListRecords(filter);
    CPPUNIT_ASSERT(rows.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), rows.value[0].reviewed_by);
    CPPUNIT_ASSERT_EQUAL(std::string(""), rows.value[1].reviewed_by);
  }

  void ReviewRules() {
    auto ordinary = audit_->AddReview("db-1", 1, "bob", "x", kNow);
    CPPUNIT_ASSERT(ordinary.error == StoreError::kConflict);
    auto missing = audit_->AddReview("db-1", 9, "bob", "x", kNow);
    CPPUNIT_ASSERT(missing.error == StoreError::kNotFound);
    auto other_host = audit_->AddReview("db-2", 2, "bob", "x", kNow);
    CPPUNIT_ASSERT(other_host.error == StoreError::kNotFound);
    auto own = audit_->AddReview("db-1", 2, "alice", "x", kNow);
    CPPUNIT_ASSERT(own.error == StoreError::kForbidden);
    auto first = audit_->AddReview("db-1", 2, "carol", "x", kNow);
    CPPUNIT_ASSERT(first.ok());
    auto second = audit_->AddReview("db-1", 2, "dave", "y", kNow);
    CPPUNIT_ASSERT(second.error == StoreError::kConflict);
  }

 private:
  std::string dir_;
  std::unique_ptr<AuditStore> audit_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(AuditReviewTest);

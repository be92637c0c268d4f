// Tests for common/audit_verify: each kind of damage to a chain is found
// and pinned to the right record.
#include "common/audit_verify.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/audit_spool.h"

namespace {

using nlohmann::json;

// A valid chain of n records, as the spool writes them.
std::vector<std::string> MakeChain(int n) {
  std::vector<std::string> lines;
  std::string prev = zsp::kGenesisHash;
  for (int i = 1; i <= n; ++i) {
    json record = {{"ZSP_USER", "alice"}, {"seq", i}, {"prev", prev},
                   {"time", 1800000000 + i}};
    lines.push_back(record.dump());
    prev = zsp::Sha256Hex(lines.back());
  }
  return lines;
}

std::string Describe(const zsp::ChainReport& report) {
  std::string text;
  for (const auto& f : report.findings) {
    text += std::to_string(f.seq) + ": " + f.problem + "\n";
  }
  return text;
}

}  // namespace

class AuditVerifyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AuditVerifyTest);
  CPPUNIT_TEST(IntactChainHasNoFindings);
  CPPUNIT_TEST(EditedRecordNamed);
  CPPUNIT_TEST(EditedPrevNamesThatRecord);
  CPPUNIT_TEST(DeletedRecordsNamed);
  CPPUNIT_TEST(TruncationFoundByAnchor);
  CPPUNIT_TEST(EditedLastRecordFoundByAnchor);
  CPPUNIT_TEST(ReorderedRecordNamed);
  CPPUNIT_TEST(GarbageLineNamed);
  CPPUNIT_TEST_SUITE_END();

 public:
  void IntactChainHasNoFindings() {
    auto lines = MakeChain(5);
    auto report = zsp::VerifyAuditChain(
        lines, {{5, zsp::Sha256Hex(lines[4]), "test anchor"}});
    CPPUNIT_ASSERT_MESSAGE(Describe(report), report.findings.empty());
    CPPUNIT_ASSERT_EQUAL(uint64_t(5), report.records);
    CPPUNIT_ASSERT_EQUAL(uint64_t(5), report.last_seq);
  }

  void EditedRecordNamed() {
    auto lines = MakeChain(5);
    size_t at = lines[2].find("alice");
    lines[2].replace(at, 5, "mallo");
    auto report = zsp::VerifyAuditChain(lines, {});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(Describe(report), size_t(1),
                                 report.findings.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), report.findings[0].seq);
    CPPUNIT_ASSERT(report.findings[0].problem.find("altered") == 0);
  }

  void EditedPrevNamesThatRecord() {
    auto lines = MakeChain(5);
    json record = json::parse(lines[2]);
    record["prev"] = std::string(64, 'a');
    lines[2] = record.dump();
    auto report = zsp::VerifyAuditChain(lines, {});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(Describe(report), size_t(1),
                                 report.findings.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), report.findings[0].seq);
  }

  void DeletedRecordsNamed() {
    auto lines = MakeChain(6);
    lines.erase(lines.begin() + 2, lines.begin() + 4);  // records 3 and 4
    auto report = zsp::VerifyAuditChain(lines, {});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(Describe(report), size_t(1),
                                 report.findings.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), report.findings[0].seq);
    CPPUNIT_ASSERT_MESSAGE(
        Describe(report),
        report.findings[0].problem.find("records 3 to 4") != std::string::npos);
  }

  void TruncationFoundByAnchor() {
    auto lines = MakeChain(6);
    std::string last_hash = zsp::Sha256Hex(lines[5]);
    lines.resize(4);
    auto report = zsp::VerifyAuditChain(lines, {{6, last_hash, "anchor"}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(Describe(report), size_t(1),
                                 report.findings.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(5), report.findings[0].seq);
    CPPUNIT_ASSERT(report.findings[0].problem.find("missing") == 0);
  }

  void EditedLastRecordFoundByAnchor() {
    auto lines = MakeChain(4);
    std::string last_hash = zsp::Sha256Hex(lines[3]);
    lines[3].replace(lines[3].find("alice"), 5, "mallo");
    auto unanchored = zsp::VerifyAuditChain(lines, {});
    CPPUNIT_ASSERT_MESSAGE("no successor, no anchor: undetectable",
                           unanchored.findings.empty());
    auto report = zsp::VerifyAuditChain(lines, {{4, last_hash, "anchor"}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(Describe(report), size_t(1),
                                 report.findings.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(4), report.findings[0].seq);
  }

  void ReorderedRecordNamed() {
    auto lines = MakeChain(5);
    std::swap(lines[1], lines[2]);
    auto report = zsp::VerifyAuditChain(lines, {});
    CPPUNIT_ASSERT_MESSAGE(Describe(report), !report.findings.empty());
    bool names_two = false;
    for (const auto& f : report.findings) names_two |= f.seq == 2;
    CPPUNIT_ASSERT_MESSAGE(Describe(report), names_two);
  }

  void GarbageLineNamed() {
    auto lines = MakeChain(4);
    lines[1] = "{not json";
    auto report = zsp::VerifyAuditChain(lines, {});
    CPPUNIT_ASSERT_MESSAGE(Describe(report), !report.findings.empty());
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), report.findings[0].seq);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AuditVerifyTest);

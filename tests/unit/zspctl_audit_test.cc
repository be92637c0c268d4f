// Tests for `zspctl audit query`: filters become the store's query string,
// and hostile record values come out escaped in the table and quoted
// safely in CSV. The store is a fake BrokerGet that records each path.
#include "broker/zspctl_audit.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using zsp::zspctl::BrokerGet;
using zsp::zspctl::RunAudit;
using zsp::zspctl::UsageException;

// Redirects std::cout and std::cerr into strings while it lives.
class CapturedOutput {
 public:
  CapturedOutput()
      : old_out_(std::cout.rdbuf(out_.rdbuf())),
        old_err_(std::cerr.rdbuf(err_.rdbuf())) {}
  ~CapturedOutput() {
    std::cout.rdbuf(old_out_);
    std::cerr.rdbuf(old_err_);
  }
  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

 private:
  std::ostringstream out_;
  std::ostringstream err_;
  std::streambuf* old_out_;
  std::streambuf* old_err_;
};

// A stored row whose spool line has the given ZSP_* fields.
json Row(uint64_t seq, const json& fields) {
  json line = fields;
  line["seq"] = seq;
  line["prev"] = std::string(64, '0');
  line["time"] = 1800000000;
  line["MESSAGE_ID"] = "e4fcdd60972f4768ace9012fa6cef4f7";
  return {{"host", "web-1"}, {"seq", seq}, {"hash", std::string(64, 'a')},
          {"received_at", 1800000001}, {"line", line.dump()}};
}

struct FakeStore {
  std::vector<std::string> paths;
  std::vector<json> pages;  // responses, in call order

  std::function<BrokerGet()> Connect() {
    return [this]() -> BrokerGet {
      return [this](const std::string& path) {
        paths.push_back(path);
        size_t i = paths.size() - 1;
        return i < pages.size() ? pages[i]
                                : json{{"records", json::array()},
                                       {"more", false}};
      };
    };
  }
};

// Splits CSV output into lines at CRLF.
std::vector<std::string> CsvLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = text.find("\r\n", start)) != std::string::npos;
       start = end + 2) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

const json kHostile = {
    {"ZSP_USER", "=HYPERLINK(\"http://x\")"},
    {"ZSP_DECISION", "deny"},
    {"ZSP_COMMAND", "/bin/echo \"a,b\"\n\x1b[2Jforged"},
    {"ZSP_REASON", "@SUM(1+1)"},
    {"ZSP_GRANT", "-2+3"},
};

}  // namespace

class ZspctlAuditTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ZspctlAuditTest);
  CPPUNIT_TEST(QueryPassesEveryFilter);
  CPPUNIT_TEST(QueryWithoutFiltersHasNoQueryString);
  CPPUNIT_TEST(QueryRejectsBadTime);
  CPPUNIT_TEST(QueryRejectsBadFormat);
  CPPUNIT_TEST(CsvQuotesHostileValues);
  CPPUNIT_TEST(CsvDefusesFormulas);
  CPPUNIT_TEST(CsvKeepsMissingValueDash);
  CPPUNIT_TEST(TableEscapesControlCharacters);
  CPPUNIT_TEST(JsonKeepsRecordsIntact);
  CPPUNIT_TEST(QueryPagesThroughOneHost);
  CPPUNIT_TEST(QueryWarnsWhenTruncated);
  CPPUNIT_TEST_SUITE_END();

 public:
  void QueryPassesEveryFilter() {
    FakeStore store;
    CapturedOutput captured;
    RunAudit({"query", "--host", "web-1", "--user", "al ice", "--decision",
              "deny", "--grant", "g-1", "--since", "2026-12-01", "--until",
              "2026-12-01T10:30Z", "--limit", "10"},
             false, store.Connect());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, store.paths.size());
    CPPUNIT_ASSERT_EQUAL(
        std::string("/v1/audit/records?host=web-1&user=al%20ice"
                    "&decision=deny&grant=g-1&since=1796083200"
                    "&until=1796121000&limit=10"),
        store.paths[0]);
  }

  void QueryWithoutFiltersHasNoQueryString() {
    FakeStore store;
    CapturedOutput captured;
    RunAudit({"query"}, false, store.Connect());
    CPPUNIT_ASSERT_EQUAL(std::string("/v1/audit/records"), store.paths[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("no records\n"), captured.out());
  }

  void QueryRejectsBadTime() {
    FakeStore store;
    CPPUNIT_ASSERT_THROW(
        RunAudit({"query", "--since", "yesterday"}, false, store.Connect()),
        UsageException);
    CPPUNIT_ASSERT(store.paths.empty());
  }

  void QueryRejectsBadFormat() {
    FakeStore store;
    CPPUNIT_ASSERT_THROW(
        RunAudit({"query", "--format", "xml"}, false, store.Connect()),
        UsageException);
  }

  void CsvQuotesHostileValues() {
    FakeStore store;
    store.pages = {{{"records", json::array({Row(7, kHostile)})},
                    {"more", false}}};
    CapturedOutput captured;
    RunAudit({"query", "--format", "csv"}, false, store.Connect());
    std::vector<std::string> lines = CsvLines(captured.out());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, lines.size());
    CPPUNIT_ASSERT_EQUAL(
        std::string("\"TIME\",\"HOST\",\"SEQ\",\"EVENT\",\"USER\",\"RUNAS\","
                    "\"DECISION\",\"GRANT\",\"COMMAND\",\"REASON\""),
        lines[0]);
    // The newline and ESC are escaped, so the record stays on one line,
    // and the quotes inside the command are doubled.
    CPPUNIT_ASSERT(lines[1].find(
                       "\"/bin/echo \"\"a,b\"\"\\x0a\\x1b[2Jforged\"") !=
                   std::string::npos);
    CPPUNIT_ASSERT(lines[1].find('\x1b') == std::string::npos);
    CPPUNIT_ASSERT(lines[1].find('\n') == std::string::npos);
  }

  void CsvDefusesFormulas() {
    FakeStore store;
    store.pages = {{{"records", json::array({Row(7, kHostile)})},
                    {"more", false}}};
    CapturedOutput captured;
    RunAudit({"query", "--format", "csv"}, false, store.Connect());
    std::string row = CsvLines(captured.out()).at(1);
    CPPUNIT_ASSERT(row.find(",\"'=HYPERLINK(\"\"http://x\"\")\",") !=
                   std::string::npos);
    CPPUNIT_ASSERT(row.find(",\"'@SUM(1+1)\"") != std::string::npos);
    CPPUNIT_ASSERT(row.find(",\"'-2+3\",") != std::string::npos);
  }

  void CsvKeepsMissingValueDash() {
    FakeStore store;
    json row = Row(3, {{"ZSP_USER", "bob"}});
    row["line"] = "not json";
    store.pages = {{{"records", json::array({row})}, {"more", false}}};
    CapturedOutput captured;
    RunAudit({"query", "--format", "csv"}, false, store.Connect());
    std::string line = CsvLines(captured.out()).at(1);
    std::string expected = "\"-\",\"web-1\",\"3\",\"-\",";
    CPPUNIT_ASSERT_EQUAL(expected, line.substr(0, expected.size()));
  }

  void TableEscapesControlCharacters() {
    FakeStore store;
    store.pages = {{{"records", json::array({Row(7, kHostile)})},
                    {"more", false}}};
    CapturedOutput captured;
    RunAudit({"query"}, false, store.Connect());
    std::string out = captured.out();
    CPPUNIT_ASSERT(out.find("\\x0a\\x1b[2Jforged") != std::string::npos);
    CPPUNIT_ASSERT(out.find('\x1b') == std::string::npos);
    // Header and one row: no line was forged.
    CPPUNIT_ASSERT_EQUAL(2L, static_cast<long>(std::count(
                                 out.begin(), out.end(), '\n')));
    CPPUNIT_ASSERT(out.find("sudo-deny") != std::string::npos);
  }

  void JsonKeepsRecordsIntact() {
    FakeStore store;
    store.pages = {{{"records", json::array({Row(7, kHostile)})},
                    {"more", false}}};
    CapturedOutput captured;
    RunAudit({"query", "--format", "json"}, false, store.Connect());
    json list = json::parse(captured.out());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, list.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t{7}, list[0]["seq"].get<uint64_t>());
    CPPUNIT_ASSERT_EQUAL(kHostile["ZSP_COMMAND"].get<std::string>(),
                         list[0]["record"]["ZSP_COMMAND"].get<std::string>());
  }

  void QueryPagesThroughOneHost() {
    FakeStore store;
    store.pages = {
        {{"records", json::array({Row(1, {}), Row(2, {})})}, {"more", true}},
        {{"records", json::array({Row(3, {})})}, {"more", false}}};
    CapturedOutput captured;
    RunAudit({"query", "--host", "web-1", "--format", "json"}, false,
             store.Connect());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, store.paths.size());
    CPPUNIT_ASSERT_EQUAL(std::string("/v1/audit/records?host=web-1&after=2"),
                         store.paths[1]);
    CPPUNIT_ASSERT_EQUAL(size_t{3}, json::parse(captured.out()).size());
    CPPUNIT_ASSERT_EQUAL(std::string(), captured.err());
  }

  void QueryWarnsWhenTruncated() {
    FakeStore store;
    store.pages = {
        {{"records", json::array({Row(1, {}), Row(2, {})})}, {"more", true}}};
    CapturedOutput captured;
    RunAudit({"query", "--user", "alice"}, false, store.Connect());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, store.paths.size());
    CPPUNIT_ASSERT(captured.err().find("only the first 2 matching records") !=
                   std::string::npos);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ZspctlAuditTest);

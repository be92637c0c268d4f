// Tests for the parsers of the broker's host answers in
// common/host_requests: request status and grant list, with well-formed,
// error and hostile bodies.
#include "common/host_requests.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>

class HostRequestsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HostRequestsTest);
  CPPUNIT_TEST(ParseRequestStatusReadsFields);
  CPPUNIT_TEST(ParseRequestStatusNeedsIdAndState);
  CPPUNIT_TEST(ErrorStatusCarriesBrokerMessage);
  CPPUNIT_TEST(ErrorMessageOfWrongTypeIgnored);
  CPPUNIT_TEST(ParseRequestStatusRejectsNonObjects);
  CPPUNIT_TEST(ParseGrantListReadsGrants);
  CPPUNIT_TEST(ParseGrantListSkipsWrongTypes);
  CPPUNIT_TEST(ParseGrantListNeedsList);
  CPPUNIT_TEST_SUITE_END();

 public:
  void ParseRequestStatusReadsFields() {
    auto status = zsp::ParseRequestStatus(
        200,
        R"({"id":"r-1","state":"denied","decided_by":"bob",)"
        R"("decision_comment":"not now"})");
    CPPUNIT_ASSERT(status.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("r-1"), status.value().id);
    CPPUNIT_ASSERT_EQUAL(std::string("denied"), status.value().state);
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), status.value().decided_by);
    CPPUNIT_ASSERT_EQUAL(std::string("not now"), status.value().comment);
  }

  void ParseRequestStatusNeedsIdAndState() {
    CPPUNIT_ASSERT(!zsp::ParseRequestStatus(200, R"({"state":"pending"})").ok());
    CPPUNIT_ASSERT(!zsp::ParseRequestStatus(200, R"({"id":"r-1"})").ok());
    CPPUNIT_ASSERT(
        !zsp::ParseRequestStatus(200, R"({"id":1,"state":"pending"})").ok());
  }

  void ErrorStatusCarriesBrokerMessage() {
    auto status = zsp::ParseRequestStatus(
        403, R"({"id":"r-1","state":"pending","message":"not your host"})");
    CPPUNIT_ASSERT(!status.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("broker answered HTTP 403: not your host"),
                         status.error());
  }

  // json::value("message", "") throws on a number; a broker answer must
  // never raise an exception inside sudo or a PAM module.
  void ErrorMessageOfWrongTypeIgnored() {
    auto status = zsp::ParseRequestStatus(400, R"({"message":5})");
    CPPUNIT_ASSERT(!status.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("broker answered HTTP 400"),
                         status.error());
    auto grants = zsp::ParseGrantList(500, R"({"message":["x"]})");
    CPPUNIT_ASSERT(!grants.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("broker answered HTTP 500"),
                         grants.error());
  }

  void ParseRequestStatusRejectsNonObjects() {
    for (const char* body : {"", "[]", "\"x\"", "{", "null", "{\"id\":\"r\"}x"}) {
      CPPUNIT_ASSERT_MESSAGE(body, !zsp::ParseRequestStatus(200, body).ok());
    }
  }

  void ParseGrantListReadsGrants() {
    auto grants = zsp::ParseGrantList(
        200,
        R"({"grants":[{"id":"g-1","kind":"sudo","runas":["root"],)"
        R"("commands":["/usr/bin/id"],"approved_by":"bob",)"
        R"("expires_at":1800003600}]})");
    CPPUNIT_ASSERT(grants.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), grants.value().size());
    const zsp::GrantSummary& g = grants.value()[0];
    CPPUNIT_ASSERT_EQUAL(std::string("g-1"), g.id);
    CPPUNIT_ASSERT_EQUAL(std::string("root"), g.runas.at(0));
    CPPUNIT_ASSERT_EQUAL(std::string("/usr/bin/id"), g.commands.at(0));
    CPPUNIT_ASSERT_EQUAL(int64_t(1800003600), g.expires_at);
  }

  void ParseGrantListSkipsWrongTypes() {
    auto grants = zsp::ParseGrantList(
        200, R"({"grants":[5,{"id":7,"runas":"root","commands":[1,"/bin/x"],)"
             R"("expires_at":"soon"}]})");
    CPPUNIT_ASSERT(grants.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), grants.value().size());
    const zsp::GrantSummary& g = grants.value()[0];
    CPPUNIT_ASSERT_EQUAL(std::string(""), g.id);
    CPPUNIT_ASSERT(g.runas.empty());
    CPPUNIT_ASSERT_EQUAL(size_t(1), g.commands.size());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), g.expires_at);
  }

  void ParseGrantListNeedsList() {
    CPPUNIT_ASSERT(!zsp::ParseGrantList(200, R"({"grants":{}})").ok());
    CPPUNIT_ASSERT(!zsp::ParseGrantList(200, R"({})").ok());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HostRequestsTest);

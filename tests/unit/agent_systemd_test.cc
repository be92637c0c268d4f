// Tests for the unit names that zsp-agent gives grants on systemd hosts:
// EscapeUnitNamePart against what systemd-escape 252 prints, and the
// round trip through GrantSliceName and GrantOfSliceName.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>

#include "agent/systemd.h"

namespace {

using zsp::agent::EscapeUnitNamePart;
using zsp::agent::GrantOfSliceName;
using zsp::agent::GrantSliceName;
using zsp::agent::UnescapeUnitNamePart;

class AgentSystemdTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentSystemdTest);
  CPPUNIT_TEST(EscapeMatchesSystemdEscape);
  CPPUNIT_TEST(UnescapeReversesEscape);
  CPPUNIT_TEST(UnescapeRejectsMalformed);
  CPPUNIT_TEST(GrantSliceRoundTrip);
  CPPUNIT_TEST(GrantOfSliceRejectsOthers);
  CPPUNIT_TEST_SUITE_END();

 public:
  void EscapeMatchesSystemdEscape() {
    // Expected values from `systemd-escape TEXT`.
    CPPUNIT_ASSERT_EQUAL(std::string("g\\x2d0123abcd"),
                         EscapeUnitNamePart("g-0123abcd"));
    CPPUNIT_ASSERT_EQUAL(std::string("a\\x20b"), EscapeUnitNamePart("a b"));
    CPPUNIT_ASSERT_EQUAL(std::string("\\x2ehidden"),
                         EscapeUnitNamePart(".hidden"));
    CPPUNIT_ASSERT_EQUAL(std::string("a.b:c_d"), EscapeUnitNamePart("a.b:c_d"));
    CPPUNIT_ASSERT_EQUAL(std::string("\\x5c"), EscapeUnitNamePart("\\"));
  }

  void UnescapeReversesEscape() {
    for (const char* text : {"g-0123abcd", "a b", ".hidden", "\\", "x"}) {
      auto back = UnescapeUnitNamePart(EscapeUnitNamePart(text));
      CPPUNIT_ASSERT_MESSAGE(text, back.ok());
      CPPUNIT_ASSERT_EQUAL(std::string(text), back.value());
    }
  }

  void UnescapeRejectsMalformed() {
    for (const char* text : {"\\", "\\x", "\\x2", "\\y2d", "\\x2g"}) {
      CPPUNIT_ASSERT_MESSAGE(text, !UnescapeUnitNamePart(text).ok());
    }
  }

  void GrantSliceRoundTrip() {
    std::string slice = GrantSliceName("g-0123abcd");
    CPPUNIT_ASSERT_EQUAL(std::string("zsp-g\\x2d0123abcd.slice"), slice);
    auto grant = GrantOfSliceName(slice);
    CPPUNIT_ASSERT_MESSAGE(grant.ok() ? "" : grant.error(), grant.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("g-0123abcd"), grant.value());
  }

  void GrantOfSliceRejectsOthers() {
    // A '-' in the middle would be one more slice level.
    for (const char* name : {"zsp.slice", "zsp-.slice", "zsp-g-1.slice",
                             "user-1000.slice", "zsp-g\\x2d1.scope",
                             "zsp-g\\x2.slice"}) {
      CPPUNIT_ASSERT_MESSAGE(name, !GrantOfSliceName(name).ok());
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentSystemdTest);

}  // namespace

// Tests for the sudo.conf edits of zspctl host enable-sudo and
// disable-sudo: the old policy plugin is commented out, sudo_zsp is
// appended, and disabling restores the original text.
#include "broker/zspctl_host.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>

using zsp::zspctl::DisableSudoZsp;
using zsp::zspctl::EnableSudoZsp;
using zsp::zspctl::SudoZspEnabled;

namespace {

constexpr char kPlugin[] = "/usr/libexec/sudo/sudo_zsp.so";
constexpr char kConf[] = "/etc/zsp/zsp.conf";

// A sudo.conf as Debian 12's sudo package ships it, shortened, with the
// sudoers policy and I/O plugins enabled.
constexpr char kDebianSudoConf[] =
    "# Default /etc/sudo.conf file\n"
    "#\n"
    "#Plugin sudoers_policy sudoers.so\n"
    "Plugin sudoers_policy sudoers.so\n"
    "Plugin sudoers_io sudoers.so\n"
    "Set disable_coredump false\n";

}  // namespace

class ZspctlHostTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ZspctlHostTest);
  CPPUNIT_TEST(EnableCommentsOutOldPolicy);
  CPPUNIT_TEST(EnableAppendsPluginLine);
  CPPUNIT_TEST(EnableKeepsIoPlugin);
  CPPUNIT_TEST(EnableTwiceChangesNothing);
  CPPUNIT_TEST(DisableRestoresOriginal);
  CPPUNIT_TEST(DisableOfEmptyFileGivesEmpty);
  CPPUNIT_TEST(DisableLeavesForeignLines);
  CPPUNIT_TEST(CommentedPluginNotEnabled);
  CPPUNIT_TEST_SUITE_END();

 public:
  void EnableCommentsOutOldPolicy() {
    std::string out = EnableSudoZsp(kDebianSudoConf, kPlugin, kConf);
    CPPUNIT_ASSERT(out.find("#zsp-disabled# Plugin sudoers_policy sudoers.so\n") !=
                   std::string::npos);
    CPPUNIT_ASSERT(out.find("\nPlugin sudoers_policy") == std::string::npos);
  }

  void EnableAppendsPluginLine() {
    std::string out = EnableSudoZsp(kDebianSudoConf, kPlugin, kConf);
    std::string line = std::string("Plugin sudo_zsp_policy ") + kPlugin +
                       " conf=" + kConf + "\n";
    CPPUNIT_ASSERT_EQUAL(out.size() - line.size(), out.rfind(line));
    CPPUNIT_ASSERT(SudoZspEnabled(out));
  }

  void EnableKeepsIoPlugin() {
    std::string out = EnableSudoZsp(kDebianSudoConf, kPlugin, kConf);
    CPPUNIT_ASSERT(out.find("\nPlugin sudoers_io sudoers.so\n") !=
                   std::string::npos);
  }

  void EnableTwiceChangesNothing() {
    std::string once = EnableSudoZsp(kDebianSudoConf, kPlugin, kConf);
    CPPUNIT_ASSERT_EQUAL(once, EnableSudoZsp(once, kPlugin, kConf));
  }

  void DisableRestoresOriginal() {
    std::string out = EnableSudoZsp(kDebianSudoConf, kPlugin, kConf);
    CPPUNIT_ASSERT_EQUAL(std::string(kDebianSudoConf), DisableSudoZsp(out));
    CPPUNIT_ASSERT(!SudoZspEnabled(DisableSudoZsp(out)));
  }

  void DisableOfEmptyFileGivesEmpty() {
    std::string out = EnableSudoZsp("", kPlugin, kConf);
    CPPUNIT_ASSERT(SudoZspEnabled(out));
    CPPUNIT_ASSERT_EQUAL(std::string(), DisableSudoZsp(out));
  }

  void DisableLeavesForeignLines() {
    // A sudo_zsp line an administrator wrote by hand is theirs to remove.
    std::string manual = "Plugin sudo_zsp_policy /opt/sudo_zsp.so\n";
    CPPUNIT_ASSERT_EQUAL(manual, DisableSudoZsp(manual));
  }

  void CommentedPluginNotEnabled() {
    CPPUNIT_ASSERT(!SudoZspEnabled("#Plugin sudo_zsp_policy sudo_zsp.so\n"));
    CPPUNIT_ASSERT(!SudoZspEnabled("  # Plugin sudo_zsp_policy x.so\n"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ZspctlHostTest);

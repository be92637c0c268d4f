// Tests for common/sudo_env: which user environment variables sudo_zsp
// passes to a command, and the names it sends to the broker.
#include "common/sudo_env.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

namespace {

using Names = std::vector<std::string>;

}  // namespace

class SudoEnvTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SudoEnvTest);
  CPPUNIT_TEST(DeniedNames);
  CPPUNIT_TEST(ReservedNames);
  CPPUNIT_TEST(EntriesAccepted);
  CPPUNIT_TEST(EntriesRejected);
  CPPUNIT_TEST(CheckedNamesNeedHarmlessValues);
  CPPUNIT_TEST(RequestedNamesSortedUnique);
  CPPUNIT_TEST(RequestedNamesWithPreserve);
  CPPUNIT_TEST(RequestedNamesRejectDenied);
  CPPUNIT_TEST_SUITE_END();

 public:
  void DeniedNames() {
    for (const char* name :
         {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "_RLD_ROOT",
          "BASH_FUNC_ls%%", "BASH_ENV", "ENV", "IFS", "PS4", "SHELLOPTS",
          "PYTHONPATH", "PERL5OPT", "RUBYOPT", "JAVA_TOOL_OPTIONS",
          "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_CHECK_", "TMPDIR",
          "SSLKEYLOGFILE", "OPENSSL_CONF"}) {
      CPPUNIT_ASSERT_MESSAGE(name, zsp::IsDeniedEnvName(name));
    }
    for (const char* name : {"FOO", "EDITOR", "http_proxy", "LDX", "LANG"}) {
      CPPUNIT_ASSERT_MESSAGE(name, !zsp::IsDeniedEnvName(name));
    }
  }

  void ReservedNames() {
    for (const char* name : {"PATH", "HOME", "SHELL", "LOGNAME", "USER",
                             "MAIL", "SUDO_USER", "SUDO_COMMAND",
                             "ZSP_GRANT_ID"}) {
      CPPUNIT_ASSERT_MESSAGE(name, zsp::IsReservedEnvName(name));
    }
    CPPUNIT_ASSERT(!zsp::IsReservedEnvName("PATHS"));
    CPPUNIT_ASSERT(!zsp::IsReservedEnvName("FOO"));
  }

  void EntriesAccepted() {
    for (const char* entry : {"FOO=bar", "FOO=", "EDITOR=/usr/bin/vi",
                              "X=a=b", "MSG=two\nlines", "LANG=C.UTF-8",
                              "TERM=xterm-256color", "LC_ALL=en_US.UTF-8"}) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(entry, std::string(),
                                   zsp::CheckUserEnvEntry(entry));
    }
  }

  void EntriesRejected() {
    const std::vector<std::string> entries = {
        "FOO",
        "=bar",
        "1FOO=bar",
        "FO-O=bar",
        "LD_PRELOAD=/tmp/x.so",
        "BASH_FUNC_id%%=() { echo pwned; }",
        "PATH=/tmp",
        "SUDO_USER=root",
        "ZSP_GRANT_ID=g-1",
        "FOO=() { echo pwned; }",
        "FOO=()",
        "FOO=" + std::string(zsp::kMaxUserEnvEntryBytes, 'a'),
    };
    for (const auto& entry : entries) {
      CPPUNIT_ASSERT_MESSAGE(entry.substr(0, 40),
                             !zsp::CheckUserEnvEntry(entry).empty());
    }
  }

  void CheckedNamesNeedHarmlessValues() {
    for (const char* entry :
         {"LANG=../../tmp/x", "LC_ALL=%n%n", "TERM=../x", "TZ=/etc/passwd",
          "LANGUAGE=a\x01", "COLORTERM=a/b", "LINGUAS=%s"}) {
      CPPUNIT_ASSERT_MESSAGE(entry, !zsp::CheckUserEnvEntry(entry).empty());
    }
    CPPUNIT_ASSERT_MESSAGE(
        "TZ of 257 bytes",
        !zsp::CheckUserEnvEntry("TZ=" + std::string(257, 'a')).empty());
  }

  void RequestedNamesSortedUnique() {
    std::string problem = "stale";
    Names names = zsp::RequestedEnvNames({"B=1", "A=2", "B=3"}, false,
                                         &problem);
    CPPUNIT_ASSERT_EQUAL(std::string(), problem);
    CPPUNIT_ASSERT_EQUAL(size_t(2), names.size());
    CPPUNIT_ASSERT_EQUAL(std::string("A"), names[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("B"), names[1]);
  }

  void RequestedNamesWithPreserve() {
    std::string problem;
    Names names = zsp::RequestedEnvNames({"Z=1"}, true, &problem);
    CPPUNIT_ASSERT_EQUAL(size_t(2), names.size());
    CPPUNIT_ASSERT_EQUAL(std::string("Z"), names[0]);
    CPPUNIT_ASSERT_EQUAL(std::string(zsp::kWholeEnvironment), names[1]);
    CPPUNIT_ASSERT(zsp::RequestedEnvNames({}, false, &problem).empty());
  }

  void RequestedNamesRejectDenied() {
    std::string problem;
    Names names =
        zsp::RequestedEnvNames({"FOO=1", "LD_PRELOAD=/x.so"}, false, &problem);
    CPPUNIT_ASSERT(names.empty());
    CPPUNIT_ASSERT_MESSAGE(problem, problem.rfind("LD_PRELOAD ", 0) == 0);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SudoEnvTest);

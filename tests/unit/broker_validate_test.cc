// Tests for broker/validate and broker/settings: names, nonces, command
// entries, free text, broker.conf and listen addresses.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "broker/log.h"
#include "broker/settings.h"
#include "broker/validate.h"
#include "common/text.h"

namespace {

using zsp::broker::CheckCommandEntry;
using zsp::broker::FormatLogLine;
using zsp::broker::IsValidHostName;
using zsp::broker::IsValidHostPattern;
using zsp::broker::IsValidNonce;
using zsp::broker::IsValidText;
using zsp::broker::IsValidUserName;
using zsp::broker::kMaxReasonChars;
using zsp::broker::ParseListenAddress;
using zsp::broker::ParseSettings;

class BrokerValidateTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerValidateTest);
  CPPUNIT_TEST(UserNames);
  CPPUNIT_TEST(HostNamesAndPatterns);
  CPPUNIT_TEST(Nonces);
  CPPUNIT_TEST(CommandEntries);
  CPPUNIT_TEST(CommandEntriesResolved);
  CPPUNIT_TEST(FreeText);
  CPPUNIT_TEST(DurationsForRequests);
  CPPUNIT_TEST(SettingsDefaultsAndValues);
  CPPUNIT_TEST(SettingsErrorsNameLineAndKey);
  CPPUNIT_TEST(ListenAddresses);
  CPPUNIT_TEST(LogLinesEscapeAndCap);
  CPPUNIT_TEST(GroupNames);
  CPPUNIT_TEST(EnvGrantEntries);
  CPPUNIT_TEST_SUITE_END();

 public:
  void GroupNames() {
    for (const char* name : {"adm", "_ssh", "systemd-journal", "Domain.Users"}) {
      CPPUNIT_ASSERT_MESSAGE(name, zsp::broker::IsValidGroupName(name));
    }
    for (const char* name : {"", "-adm", "123", "a b", "#0", "adm\n", "a/b"}) {
      CPPUNIT_ASSERT_MESSAGE(name, !zsp::broker::IsValidGroupName(name));
    }
  }

  void EnvGrantEntries() {
    for (const char* entry : {"*", "FOO", "_x1", "http_proxy", "EDITOR"}) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(entry, std::string(),
                                   zsp::broker::CheckEnvGrantEntry(entry));
    }
    for (const char* entry :
         {"", "1X", "A-B", "A=B", "**", "LD_PRELOAD", "LD_LIBRARY_PATH",
          "BASH_FUNC_ls%%", "BASH_ENV", "IFS", "PATH", "SUDO_USER",
          "ZSP_GRANT_ID", "GLIBC_TUNABLES", "SSLKEYLOGFILE"}) {
      CPPUNIT_ASSERT_MESSAGE(entry,
                             !zsp::broker::CheckEnvGrantEntry(entry).empty());
    }
    CPPUNIT_ASSERT_MESSAGE(
        "128-byte name",
        zsp::broker::CheckEnvGrantEntry(std::string(128, 'A')).empty());
    CPPUNIT_ASSERT_MESSAGE(
        "129-byte name",
        !zsp::broker::CheckEnvGrantEntry(std::string(129, 'A')).empty());
  }

  void UserNames() {
    for (const char* name : {"alice", "_svc", "a1-b_c", "machine$",
                             "abcdefghijklmnopqrstuvwxyz012345", "john.doe",
                             "Alice", "1abc", ".hidden"}) {
      CPPUNIT_ASSERT_MESSAGE(name, IsValidUserName(name));
    }
    for (const char* name : {"", "-a", "a b", "a$b", "123", "$", ".", "..",
                             "abcdefghijklmnopqrstuvwxyz0123456", "a/b",
                             "a:b", "a\nb"}) {
      CPPUNIT_ASSERT_MESSAGE(name, !IsValidUserName(name));
    }
  }

  void HostNamesAndPatterns() {
    CPPUNIT_ASSERT(IsValidHostName("web-1"));
    CPPUNIT_ASSERT(IsValidHostName("db.prod.example.org"));
    CPPUNIT_ASSERT(IsValidHostName(std::string(253, 'a')));
    CPPUNIT_ASSERT(!IsValidHostName(std::string(254, 'a')));
    CPPUNIT_ASSERT(!IsValidHostName(""));
    CPPUNIT_ASSERT(!IsValidHostName("-web"));
    CPPUNIT_ASSERT(!IsValidHostName("web 1"));
    CPPUNIT_ASSERT(!IsValidHostName("web_1"));
    CPPUNIT_ASSERT(!IsValidHostName("web-*"));
    CPPUNIT_ASSERT(IsValidHostPattern("web-*"));
    CPPUNIT_ASSERT(IsValidHostPattern("web-[!12]?"));
    CPPUNIT_ASSERT(!IsValidHostPattern("web\\*"));
    CPPUNIT_ASSERT(!IsValidHostPattern("web/1"));
  }

  void Nonces() {
    CPPUNIT_ASSERT(IsValidNonce("mF3k2p0xq8Zr1YbVn7Qw2A"));
    CPPUNIT_ASSERT(IsValidNonce(std::string(16, 'a')));
    CPPUNIT_ASSERT(IsValidNonce(std::string(128, '_')));
    CPPUNIT_ASSERT(!IsValidNonce(std::string(15, 'a')));
    CPPUNIT_ASSERT(!IsValidNonce(std::string(129, 'a')));
    CPPUNIT_ASSERT(!IsValidNonce("mF3k2p0xq8Zr1YbVn7Qw2A=="));
    CPPUNIT_ASSERT(!IsValidNonce("mF3k2p0xq8Zr1YbV+7Qw2A"));
  }

  void CommandEntriesResolved() {
    for (const char* entry : {"/usr/bin/../bin/true", "/usr//bin/true",
                              "/usr/bin/./true", "/usr/bin/", "/usr/bin/..",
                              "/usr/bin/."}) {
      CPPUNIT_ASSERT_MESSAGE(entry, !CheckCommandEntry(entry).empty());
    }
    CPPUNIT_ASSERT_EQUAL(std::string(), CheckCommandEntry("/usr/bin/true"));
    CPPUNIT_ASSERT_EQUAL(std::string(), CheckCommandEntry("/usr/bin/.hidden"));
  }

  void CommandEntries() {
    for (const char* entry : {"/usr/bin/id", "/usr/bin/systemctl restart nginx",
                              "/usr/bin/systemctl \"\""}) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(entry, std::string(),
                                   CheckCommandEntry(entry));
    }
    for (const char* entry :
         {"", "id", "usr/bin/id", "/usr/bin/id  -u", "/usr/bin/id -u ",
          "/usr/bin/id\t-u", "/usr/bin/id \"\" -u", "/usr/bin/id\n"}) {
      CPPUNIT_ASSERT_MESSAGE(entry, !CheckCommandEntry(entry).empty());
    }
    CPPUNIT_ASSERT(!CheckCommandEntry("/" + std::string(4096, 'a')).empty());
  }

  void FreeText() {
    CPPUNIT_ASSERT(IsValidText("restart nginx", kMaxReasonChars));
    CPPUNIT_ASSERT(IsValidText("caf\xc3\xa9", 4));
    CPPUNIT_ASSERT(IsValidText(std::string(1024, 'x'), kMaxReasonChars));
    CPPUNIT_ASSERT(!IsValidText(std::string(1025, 'x'), kMaxReasonChars));
    CPPUNIT_ASSERT(!IsValidText("", kMaxReasonChars));
    CPPUNIT_ASSERT(!IsValidText("line\nforged", kMaxReasonChars));
    CPPUNIT_ASSERT(!IsValidText("\x1b[2J", kMaxReasonChars));
    CPPUNIT_ASSERT(!IsValidText("\xff", kMaxReasonChars));
  }

  // zspctl request --duration uses common ParseDurationSeconds.
  void DurationsForRequests() {
    const std::vector<std::pair<std::string, int64_t>> cases = {{"90s", 90},
                                                                {"15m", 900},
                                                                {"1h", 3600},
                                                                {"2h30m", 9000},
                                                                {"3600", 3600}};
    for (const auto& [text, seconds] : cases) {
      int64_t value = 0;
      CPPUNIT_ASSERT_MESSAGE(text, zsp::ParseDurationSeconds(text, &value));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(text, seconds, value);
    }
    for (const char* text : {"", "1x", "h", "-5m", "1.5h"}) {
      int64_t value = 0;
      CPPUNIT_ASSERT_MESSAGE(text, !zsp::ParseDurationSeconds(text, &value));
    }
  }

  void SettingsDefaultsAndValues() {
    auto defaults = ParseSettings("# nothing\n\n", "broker.conf");
    CPPUNIT_ASSERT(defaults.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:8443"),
                         defaults.value().listen);
    CPPUNIT_ASSERT_EQUAL(int64_t{28800}, defaults.value().max_duration);
    CPPUNIT_ASSERT_EQUAL(int64_t{60}, defaults.value().decision_ttl);

    auto set = ParseSettings(
        "listen = [::1]:0\nmax_duration=3600\n  decision_ttl = 30  \n",
        "broker.conf");
    CPPUNIT_ASSERT(set.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("[::1]:0"), set.value().listen);
    CPPUNIT_ASSERT_EQUAL(int64_t{3600}, set.value().max_duration);
    CPPUNIT_ASSERT_EQUAL(int64_t{30}, set.value().decision_ttl);
  }

  void SettingsErrorsNameLineAndKey() {
    auto unknown = ParseSettings("listen = 127.0.0.1:1\nport = 5\n", "b.conf");
    CPPUNIT_ASSERT(!unknown.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("b.conf:2: port: unknown setting"),
                         unknown.error());
    auto bad = ParseSettings("max_duration = 0\n", "b.conf");
    CPPUNIT_ASSERT(!bad.ok());
    CPPUNIT_ASSERT(bad.error().rfind("b.conf:1: max_duration:", 0) == 0);
    CPPUNIT_ASSERT(!ParseSettings("decision_ttl = 1m\n", "b.conf").ok());
    CPPUNIT_ASSERT(!ParseSettings("listen\n", "b.conf").ok());
  }

  void ListenAddresses() {
    auto v4 = ParseListenAddress("127.0.0.1:8443");
    CPPUNIT_ASSERT(v4.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), v4.value().host);
    CPPUNIT_ASSERT_EQUAL(8443, v4.value().port);
    auto v6 = ParseListenAddress("[::1]:0");
    CPPUNIT_ASSERT(v6.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("::1"), v6.value().host);
    CPPUNIT_ASSERT_EQUAL(0, v6.value().port);
    CPPUNIT_ASSERT(ParseListenAddress("localhost:1").ok());
    for (const char* bad : {"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:x",
                            "[::1]8443", ":8443", "a b:1"}) {
      CPPUNIT_ASSERT_MESSAGE(bad, !ParseListenAddress(bad).ok());
    }
  }

  void LogLinesEscapeAndCap() {
    CPPUNIT_ASSERT_EQUAL(
        std::string("allow user=alice command=\"/usr/bin/id -u\" note=\"\""),
        FormatLogLine(
            "allow",
            {{"user", "alice"}, {"command", "/usr/bin/id -u"}, {"note", ""}}));
    std::string forged =
        FormatLogLine("deny", {{"user", "x\nallow user=root"}});
    CPPUNIT_ASSERT(forged.find('\n') == std::string::npos);
    CPPUNIT_ASSERT_EQUAL(std::string("deny user=\"x\\x0aallow user=root\""),
                         forged);
    CPPUNIT_ASSERT_EQUAL(std::string("deny q=\"a\\x22b\""),
                         FormatLogLine("deny", {{"q", "a\"b"}}));
    std::string capped =
        FormatLogLine("deny", {{"argv", std::string(10000, 'a')}});
    CPPUNIT_ASSERT(capped.size() < 300);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerValidateTest);

}  // namespace

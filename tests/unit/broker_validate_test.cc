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
using zsp::broker::CheckText;
using zsp::broker::FormatLogLine;
using zsp::broker::IsValidHostName;
using zsp::broker::IsValidHostPattern;
using zsp::broker::IsValidNonce;
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
  CPPUNIT_TEST(FreeTextNamesRejectedCharacter);
  CPPUNIT_TEST(CommandEntriesRejectHiddenCharacters);
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
    CPPUNIT_ASSERT_EQUAL(std::string(),
                         CheckText("restart nginx", kMaxReasonChars));
    CPPUNIT_ASSERT_EQUAL(std::string(), CheckText("caf\xc3\xa9", 4));
    CPPUNIT_ASSERT_EQUAL(std::string(), CheckText("a\tb", kMaxReasonChars));
    CPPUNIT_ASSERT_EQUAL(std::string(),
                         CheckText(std::string(1024, 'x'), kMaxReasonChars));
    CPPUNIT_ASSERT_EQUAL(std::string("must be 1 to 1024 characters"),
                         CheckText(std::string(1025, 'x'), kMaxReasonChars));
    CPPUNIT_ASSERT_EQUAL(std::string("must be 1 to 1024 characters"),
                         CheckText("", kMaxReasonChars));
    CPPUNIT_ASSERT(!CheckText("caf\xc3\xa9", 3).empty());
    CPPUNIT_ASSERT(!CheckText("line\nforged", kMaxReasonChars).empty());
    CPPUNIT_ASSERT(!CheckText("\x1b[2J", kMaxReasonChars).empty());
    CPPUNIT_ASSERT_EQUAL(std::string("is not valid UTF-8"),
                         CheckText("\xff", kMaxReasonChars));
    CPPUNIT_ASSERT_EQUAL(std::string("is not valid UTF-8"),
                         CheckText("ok \xe2\x80", kMaxReasonChars));
  }

  // Control characters (C0, DEL, C1) and the bidirectional formatting
  // characters are rejected with their code point, and the characters next
  // to those ranges are accepted.
  void FreeTextNamesRejectedCharacter() {
    const std::vector<std::pair<std::string, std::string>> rejected = {
        {"a\nb", "control character U+000A"},
        {"\x1b[2J", "control character U+001B"},
        {"del\x7f", "control character U+007F"},
        {"csi\xc2\x9b" "31m", "control character U+009B"},
        {"\xc2\x80", "control character U+0080"},
        {"\xc2\x9f", "control character U+009F"},
        {"\xd8\x9c", "U+061C (ARABIC LETTER MARK)"},
        {"\xe2\x80\x8e", "U+200E (LEFT-TO-RIGHT MARK)"},
        {"\xe2\x80\x8f", "U+200F (RIGHT-TO-LEFT MARK)"},
        {"\xe2\x80\xaa", "U+202A (LEFT-TO-RIGHT EMBEDDING)"},
        {"\xe2\x80\xab", "U+202B (RIGHT-TO-LEFT EMBEDDING)"},
        {"\xe2\x80\xac", "U+202C (POP DIRECTIONAL FORMATTING)"},
        {"\xe2\x80\xad", "U+202D (LEFT-TO-RIGHT OVERRIDE)"},
        {"restart nginx \xe2\x80\xae" "txt.exe",
         "U+202E (RIGHT-TO-LEFT OVERRIDE)"},
        {"\xe2\x81\xa6" "hidden\xe2\x81\xa9", "U+2066 (LEFT-TO-RIGHT ISOLATE)"},
        {"\xe2\x81\xa7", "U+2067 (RIGHT-TO-LEFT ISOLATE)"},
        {"\xe2\x81\xa8", "U+2068 (FIRST STRONG ISOLATE)"},
        {"\xe2\x81\xa9", "U+2069 (POP DIRECTIONAL ISOLATE)"},
        {"first line\xe2\x80\xa8" "second line",
         "invisible or line-separating character U+2028"},
        {"\xe2\x80\xa9", "invisible or line-separating character U+2029"},
        {"rm\xe2\x80\x8b -rf", "invisible or line-separating character U+200B"},
        {"\xe2\x81\xa0", "invisible or line-separating character U+2060"},
        {"\xe2\x81\xa4", "invisible or line-separating character U+2064"},
        {"\xef\xbb\xbf", "invisible or line-separating character U+FEFF"},
        {"ok\xf3\xa0\x81\x81", "invisible or line-separating character U+E0041"},
        {"\xf3\xa0\x81\xbf", "invisible or line-separating character U+E007F"},
        {"ta\xc2\xadil", "invisible or line-separating character U+00AD"},
        {"\xe2\x81\xaa", "invisible or line-separating character U+206A"},
        {"\xe3\x85\xa4", "invisible or line-separating character U+3164"},
    };
    for (const auto& [text, named] : rejected) {
      std::string problem = CheckText(text, kMaxReasonChars);
      CPPUNIT_ASSERT_MESSAGE("names " + named + ": " + problem,
                             problem.find(named) != std::string::npos);
    }
    for (const char* text :
         {"caf\xc3\xa9", "\xc2\xa0", "\xd8\x9b", "\xe2\x80\x8c", "\xe2\x80\x8d",
          "\xe2\x80\xaf", "\xe2\x9d\xa4\xef\xb8\x8f"}) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("accept ") + text,
                                   std::string(),
                                   CheckText(text, kMaxReasonChars));
    }
  }

  void CommandEntriesRejectHiddenCharacters() {
    CPPUNIT_ASSERT_EQUAL(std::string(),
                         CheckCommandEntry("/usr/bin/touch caf\xc3\xa9"));
    const std::vector<std::pair<std::string, std::string>> rejected = {
        {"/usr/bin/echo \xe2\x80\xae" "fdp.exe", "U+202E"},
        {"/usr/bin/echo \xe2\x81\xa6" "x", "U+2066"},
        {"/usr/bin/echo \xc2\x9b" "2J", "U+009B"},
        {"/usr/bin/echo\t-n", "U+0009"},
        {"/usr/bin/echo \x1b[2J", "U+001B"},
        {"/usr/bin/echo \xff", "not valid UTF-8"},
        {"/usr/bin/echo \xe2\x80", "not valid UTF-8"},
    };
    for (const auto& [entry, named] : rejected) {
      std::string problem = CheckCommandEntry(entry);
      CPPUNIT_ASSERT_MESSAGE("names " + named + ": " + problem,
                             problem.find(named) != std::string::npos);
    }
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

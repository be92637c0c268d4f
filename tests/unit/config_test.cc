// Tests for common/config: parsing of zsp.conf text, and the ownership and
// mode checks that LoadHostConfig makes on the file. The Load tests create
// files in a temporary directory and need root, as they chown to root.
#include "common/config.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using zsp::ParseHostConfig;

constexpr char kOrigin[] = "/etc/zsp/test.conf";

// One line per setting, so that a test can drop or replace one of them.
const std::vector<std::string> kRequiredLines = {
    "broker_url = https://broker.example:8443",
    "ca_file = /etc/zsp/ca.pem",
    "client_cert = /etc/zsp/host.pem",
    "client_key = /etc/zsp/host.key",
    "decision_key = /etc/zsp/decision.pub",
};

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

std::string MinimalConfig() { return JoinLines(kRequiredLines); }

// The minimal configuration with one more line at the end.
std::string MinimalConfigWith(const std::string& line) {
  return MinimalConfig() + line + "\n";
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

class ConfigTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ConfigTest);
  CPPUNIT_TEST(ParseFullFile);
  CPPUNIT_TEST(ParseDefaults);
  CPPUNIT_TEST(ParseCommentsAndBlankLines);
  CPPUNIT_TEST(ParseMissingRequiredKey);
  CPPUNIT_TEST(ParseUnknownKeyNamesLine);
  CPPUNIT_TEST(ParseLineWithoutEquals);
  CPPUNIT_TEST(ParseEmptyValue);
  CPPUNIT_TEST(ParseBrokerUrl);
  CPPUNIT_TEST(ParseBrokerUrlWithoutHost);
  CPPUNIT_TEST(ParseRelativePaths);
  CPPUNIT_TEST(ParseTimeoutRange);
  CPPUNIT_TEST(ParseConnectTimeoutAboveTotal);
  CPPUNIT_TEST(ParseClockSkewRange);
  CPPUNIT_TEST(ParseExpiryWarning);
  CPPUNIT_TEST(ParseHostName);
  CPPUNIT_TEST(ParseSecurePath);
  CPPUNIT_TEST(ParseDebug);
  CPPUNIT_TEST(ParseDecisionKeysAccumulate);
  CPPUNIT_TEST(ParseAgentDefaults);
  CPPUNIT_TEST(ParseAgentSettings);
  CPPUNIT_TEST(ParseAgentSettingsRejected);
  CPPUNIT_TEST(ParseDecisionRelay);
  CPPUNIT_TEST(ModuleOptionsDefaults);
  CPPUNIT_TEST(ModuleOptionsAccepted);
  CPPUNIT_TEST(ModuleOptionsRejected);
  CPPUNIT_TEST(LoadValidFile);
  CPPUNIT_TEST(LoadMissingFile);
  CPPUNIT_TEST(LoadDirectory);
  CPPUNIT_TEST(LoadGroupWritable);
  CPPUNIT_TEST(LoadOtherWritable);
  CPPUNIT_TEST(LoadNotOwnedByRoot);
  CPPUNIT_TEST(LoadSymlink);
  CPPUNIT_TEST(LoadSizeLimit);
  CPPUNIT_TEST(LoadReportsParseError);
  CPPUNIT_TEST(ExampleFileParses);
  CPPUNIT_TEST_SUITE_END();

 public:
  // packaging/zsp.conf.example parses as shipped, and with every
  // commented-out "#key = value" line switched on (the unit tests run from
  // the repository root).
  void ExampleFileParses() {
    std::ifstream in("packaging/zsp.conf.example");
    CPPUNIT_ASSERT_MESSAGE("packaging/zsp.conf.example readable", in.good());
    std::string shipped, enabled, line;
    while (std::getline(in, line)) {
      shipped += line + "\n";
      bool setting = line.size() > 1 && line[0] == '#' && line[1] != ' ' &&
                     line.find(" = ") != std::string::npos;
      enabled += (setting ? line.substr(1) : line) + "\n";
    }
    auto as_shipped = zsp::ParseHostConfig(shipped, "example");
    CPPUNIT_ASSERT_MESSAGE(as_shipped.ok() ? "" : as_shipped.error(),
                           as_shipped.ok());
    auto all_on = zsp::ParseHostConfig(enabled, "example");
    CPPUNIT_ASSERT_MESSAGE(all_on.ok() ? "" : all_on.error(), all_on.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{3}, all_on.value().breakglass_keys.size());
  }

  void setUp() override {
    char pattern[] = "/tmp/zsp-config-test.XXXXXX";
    CPPUNIT_ASSERT_MESSAGE("mkdtemp", mkdtemp(pattern) != nullptr);
    dir_ = pattern;
  }

  void tearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void ParseFullFile() {
    std::string text =
        "broker_url = https://broker.example:8443\n"
        "ca_file = /etc/zsp/ca.pem\n"
        "client_cert = /etc/zsp/host.pem\n"
        "client_key = /etc/zsp/host.key\n"
        "decision_key = /etc/zsp/decision.pub\n"
        "host = web-1.example.com\n"
        "connect_timeout_ms = 1500\n"
        "timeout_ms = 4000\n"
        "clock_skew = 45\n"
        "secure_path = /usr/sbin:/usr/bin\n"
        "debug = true\n";
    auto result = ParseHostConfig(text, kOrigin);
    CPPUNIT_ASSERT_MESSAGE("parse succeeds", result.ok());

    const zsp::HostConfig& c = result.value();
    CPPUNIT_ASSERT_EQUAL_MESSAGE("path", std::string(kOrigin), c.path);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "broker_url", std::string("https://broker.example:8443"), c.broker_url);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("ca_file", std::string("/etc/zsp/ca.pem"),
                                 c.ca_file);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "client_cert", std::string("/etc/zsp/host.pem"), c.client_cert);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("client_key", std::string("/etc/zsp/host.key"),
                                 c.client_key);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("decision key count", size_t{1},
                                 c.decision_keys.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("decision_key",
                                 std::string("/etc/zsp/decision.pub"),
                                 c.decision_keys[0]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("host", std::string("web-1.example.com"),
                                 c.host);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("connect_timeout_ms", 1500L,
                                 c.connect_timeout_ms);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("timeout_ms", 4000L, c.timeout_ms);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("clock_skew", 45L, c.clock_skew_sec);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "secure_path", std::string("/usr/sbin:/usr/bin"), c.secure_path);
    CPPUNIT_ASSERT_MESSAGE("debug", c.debug);
  }

  void ParseDefaults() {
    auto result = ParseHostConfig(MinimalConfig(), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("parse succeeds", result.ok());
    const zsp::HostConfig& c = result.value();
    CPPUNIT_ASSERT_EQUAL_MESSAGE("host", std::string(""), c.host);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("connect_timeout_ms", 2000L,
                                 c.connect_timeout_ms);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("timeout_ms", 5000L, c.timeout_ms);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("clock_skew", 30L, c.clock_skew_sec);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "secure_path", std::string(zsp::kDefaultSecurePath), c.secure_path);
    CPPUNIT_ASSERT_MESSAGE("debug", !c.debug);
  }

  void ParseCommentsAndBlankLines() {
    std::string text =
        "# zsp host configuration\n"
        "\n"
        "   # indented comment\n"
        "broker_url=https://broker.example\r\n"
        "\t\n"
        "  ca_file   =\t/etc/zsp/ca.pem  \n"
        "client_cert = /etc/zsp/host.pem\n"
        "client_key = /etc/zsp/host.key\n"
        "decision_key = /etc/zsp/decision.pub";  // no final newline
    auto result = ParseHostConfig(text, kOrigin);
    CPPUNIT_ASSERT_MESSAGE(
        "parse succeeds: " + (result.ok() ? "" : result.error()), result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("CR and spaces trimmed from broker_url",
                                 std::string("https://broker.example"),
                                 result.value().broker_url);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("tabs and spaces trimmed from ca_file",
                                 std::string("/etc/zsp/ca.pem"),
                                 result.value().ca_file);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("last line without newline",
                                 std::string("/etc/zsp/decision.pub"),
                                 result.value().decision_keys.at(0));
  }

  void ParseMissingRequiredKey() {
    const char* names[] = {"broker_url", "ca_file", "client_cert", "client_key",
                           "decision_key"};
    for (size_t skip = 0; skip < kRequiredLines.size(); ++skip) {
      std::vector<std::string> lines = kRequiredLines;
      lines.erase(lines.begin() + skip);
      auto result = ParseHostConfig(JoinLines(lines), kOrigin);
      std::string name = names[skip];
      CPPUNIT_ASSERT_MESSAGE("without " + name + ": rejected", !result.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          "without " + name + ": message",
          std::string(kOrigin) + ": missing setting " + name, result.error());
    }
    auto empty = ParseHostConfig("", kOrigin);
    CPPUNIT_ASSERT_MESSAGE("empty file rejected", !empty.ok());
  }

  void ParseUnknownKeyNamesLine() {
    std::string text = "# comment\n\nbroker_uri = https://broker\n";
    auto result = ParseHostConfig(text, kOrigin);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "message", std::string(kOrigin) + ":3: broker_uri: unknown setting",
        result.error());
  }

  void ParseLineWithoutEquals() {
    auto result = ParseHostConfig(MinimalConfigWith("debug true"), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "message names file and line 6: " + result.error(),
        result.error().rfind(std::string(kOrigin) + ":6: ", 0) == 0);
  }

  void ParseEmptyValue() {
    auto result = ParseHostConfig(MinimalConfigWith("host ="), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("message",
                                 std::string(kOrigin) + ":6: host: empty value",
                                 result.error());
  }

  void ParseBrokerUrl() {
    for (const char* url : {"http://broker.example", "broker.example",
                            "https://", "https:", "ftp://broker.example"}) {
      std::string line = std::string("broker_url = ") + url;
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE(std::string("reject ") + url, !result.ok());
      CPPUNIT_ASSERT_MESSAGE(
          std::string("message for ") + url +
              " names line 6: " + result.error(),
          Contains(result.error(), std::string(kOrigin) + ":6: broker_url"));
    }
    auto slashes = ParseHostConfig(
        MinimalConfigWith("broker_url = https://broker.example:8443//"),
        kOrigin);
    CPPUNIT_ASSERT_MESSAGE("trailing slashes accepted", slashes.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("trailing slashes removed",
                                 std::string("https://broker.example:8443"),
                                 slashes.value().broker_url);
  }

  // NOTE: fails while ApplySetting accepts "https:///", strips the slash and
  // stores "https://", a URL with no host.
  void ParseBrokerUrlWithoutHost() {
    auto result =
        ParseHostConfig(MinimalConfigWith("broker_url = https:///"), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("reject https:/// (no host), got broker_url \"" +
                               (result.ok() ? result.value().broker_url : "") +
                               "\"",
                           !result.ok());
  }

  void ParseRelativePaths() {
    for (const char* key :
         {"ca_file", "client_cert", "client_key", "decision_key"}) {
      for (const char* value : {"etc/zsp/x.pem", "./x.pem", "~/x.pem"}) {
        std::string line = std::string(key) + " = " + value;
        auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
        CPPUNIT_ASSERT_MESSAGE("reject " + line, !result.ok());
        CPPUNIT_ASSERT_MESSAGE(
            "message for " + line + ": " + result.error(),
            Contains(result.error(),
                     std::string(key) + ": value must be an absolute path"));
      }
    }
  }

  void ParseTimeoutRange() {
    for (const char* key : {"connect_timeout_ms", "timeout_ms"}) {
      for (const char* value : {"99", "60001", "0", "-100", "abc", "1e3",
                                "1000ms", "1 000", "99999999999999999999"}) {
        std::string line = std::string(key) + " = " + value;
        auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
        CPPUNIT_ASSERT_MESSAGE("reject " + line, !result.ok());
        CPPUNIT_ASSERT_MESSAGE(
            "message for " + line + ": " + result.error(),
            Contains(result.error(), ":6: " + std::string(key)));
      }
    }
    std::string bounds =
        MinimalConfig() + "connect_timeout_ms = 100\ntimeout_ms = 60000\n";
    auto result = ParseHostConfig(bounds, kOrigin);
    CPPUNIT_ASSERT_MESSAGE("accept 100 and 60000", result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("connect_timeout_ms", 100L,
                                 result.value().connect_timeout_ms);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("timeout_ms", 60000L,
                                 result.value().timeout_ms);
  }

  void ParseConnectTimeoutAboveTotal() {
    std::string text =
        MinimalConfig() + "connect_timeout_ms = 3000\ntimeout_ms = 2000\n";
    auto result = ParseHostConfig(text, kOrigin);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "message",
        std::string(kOrigin) + ": connect_timeout_ms is larger than timeout_ms",
        result.error());

    // The default connect timeout (2000) is above this total as well.
    auto below_default =
        ParseHostConfig(MinimalConfigWith("timeout_ms = 1000"), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("total below the default connect timeout",
                           !below_default.ok());

    auto equal = ParseHostConfig(
        MinimalConfig() + "connect_timeout_ms = 2000\ntimeout_ms = 2000\n",
        kOrigin);
    CPPUNIT_ASSERT_MESSAGE("equal timeouts accepted", equal.ok());
  }

  void ParseClockSkewRange() {
    for (const char* value : {"-1", "601", "30s", "x"}) {
      std::string line = std::string("clock_skew = ") + value;
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("reject " + line, !result.ok());
    }
    for (long value : {0L, 600L}) {
      std::string line = "clock_skew = " + std::to_string(value);
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("accept " + line, result.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE("value of " + line, value,
                                   result.value().clock_skew_sec);
    }
  }

  void ParseExpiryWarning() {
    auto defaults = ParseHostConfig(MinimalConfig(), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("minimal config parses", defaults.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("default", 60L,
                                 defaults.value().expiry_warning_sec);
    for (const char* value : {"-1s", "61m", "2h", "soon", ""}) {
      std::string line = std::string("expiry_warning = ") + value;
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("reject " + line, !result.ok());
    }
    const std::pair<const char*, long> accepted[] = {
        {"0", 0L}, {"0s", 0L}, {"90s", 90L}, {"5m", 300L}, {"1h", 3600L}};
    for (const auto& [value, seconds] : accepted) {
      std::string line = std::string("expiry_warning = ") + value;
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("accept " + line, result.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE("value of " + line, seconds,
                                   result.value().expiry_warning_sec);
    }
  }

  void ParseHostName() {
    for (const std::string& host :
         {std::string("bad_host"), std::string("web 1"), std::string("web/1"),
          std::string("web1;id"), std::string("h\xc3\xa9te"),
          std::string(254, 'a')}) {
      auto result =
          ParseHostConfig(MinimalConfigWith("host = " + host), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("reject host " + host, !result.ok());
      CPPUNIT_ASSERT_MESSAGE(
          "message for host " + host + ": " + result.error(),
          Contains(result.error(), ":6: host: value is not a valid host name"));
    }
    for (const std::string& host :
         {std::string("web1"), std::string("Web-1.Example.COM"),
          std::string(253, 'a')}) {
      auto result =
          ParseHostConfig(MinimalConfigWith("host = " + host), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("accept host " + host, result.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE("value of host", host, result.value().host);
    }
  }

  void ParseSecurePath() {
    for (const char* value : {"/usr/bin:bin", "bin", "/usr/bin:", ":/usr/bin",
                              "/usr/bin::/bin", "/usr/bin:./bin"}) {
      std::string line = std::string("secure_path = ") + value;
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("reject " + line, !result.ok());
      CPPUNIT_ASSERT_MESSAGE(
          "message for " + line + ": " + result.error(),
          Contains(result.error(),
                   "every directory in secure_path must be absolute"));
    }
    auto result =
        ParseHostConfig(MinimalConfigWith("secure_path = /opt/bin"), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("accept one directory", result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("value", std::string("/opt/bin"),
                                 result.value().secure_path);
  }

  void ParseDebug() {
    auto off = ParseHostConfig(MinimalConfigWith("debug = false"), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("accept false", off.ok());
    CPPUNIT_ASSERT_MESSAGE("debug off", !off.value().debug);
    for (const char* value : {"yes", "1", "TRUE", "on"}) {
      std::string line = std::string("debug = ") + value;
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE("reject " + line, !result.ok());
    }
  }

  void ParseAgentDefaults() {
    auto result = ParseHostConfig(MinimalConfig(), kOrigin);
    CPPUNIT_ASSERT_MESSAGE("parse succeeds", result.ok());
    const zsp::HostConfig& c = result.value();
    CPPUNIT_ASSERT_MESSAGE("agent required by default",
                           c.agent == zsp::AgentMode::kRequired);
    CPPUNIT_ASSERT_EQUAL(std::string("/run/zsp/agent.sock"), c.agent_socket);
    CPPUNIT_ASSERT_EQUAL(std::string("zsp"), c.agent_cgroup);
    CPPUNIT_ASSERT_EQUAL(60L, c.feed_stale_after_sec);
    CPPUNIT_ASSERT_MESSAGE("stale feed ends work by default",
                           c.feed_stale_action == zsp::StaleAction::kEnd);
    CPPUNIT_ASSERT_MESSAGE("kill method auto by default",
                           c.kill_method == zsp::KillMethod::kAuto);
  }

  void ParseAgentSettings() {
    std::string text = MinimalConfig() +
                       "agent = optional\n"
                       "agent_socket = /run/other/agent.sock\n"
                       "agent_cgroup = zsp-web.1\n"
                       "feed_stale_after = 2m\n"
                       "feed_stale_action = keep\n";
    auto result = ParseHostConfig(text, kOrigin);
    CPPUNIT_ASSERT_MESSAGE(result.ok() ? "" : result.error(), result.ok());
    const zsp::HostConfig& c = result.value();
    CPPUNIT_ASSERT_MESSAGE("optional", c.agent == zsp::AgentMode::kOptional);
    CPPUNIT_ASSERT_EQUAL(std::string("/run/other/agent.sock"),
                         c.agent_socket);
    CPPUNIT_ASSERT_EQUAL(std::string("zsp-web.1"), c.agent_cgroup);
    CPPUNIT_ASSERT_EQUAL(120L, c.feed_stale_after_sec);
    CPPUNIT_ASSERT_MESSAGE("keep", c.feed_stale_action == zsp::StaleAction::kKeep);
    auto off = ParseHostConfig(MinimalConfigWith("agent = off"), kOrigin);
    CPPUNIT_ASSERT(off.ok());
    CPPUNIT_ASSERT_MESSAGE("off", off.value().agent == zsp::AgentMode::kOff);

    auto freeze =
        ParseHostConfig(MinimalConfigWith("kill_method = freeze"), kOrigin);
    CPPUNIT_ASSERT(freeze.ok());
    CPPUNIT_ASSERT_MESSAGE("freeze",
                           freeze.value().kill_method ==
                               zsp::KillMethod::kFreeze);
    auto cgroup_kill = ParseHostConfig(
        MinimalConfigWith("kill_method = cgroup.kill"), kOrigin);
    CPPUNIT_ASSERT(cgroup_kill.ok());
    CPPUNIT_ASSERT_MESSAGE("cgroup.kill",
                           cgroup_kill.value().kill_method ==
                               zsp::KillMethod::kCgroupKill);
    auto automatic =
        ParseHostConfig(MinimalConfigWith("kill_method = auto"), kOrigin);
    CPPUNIT_ASSERT(automatic.ok());
    CPPUNIT_ASSERT_MESSAGE("auto", automatic.value().kill_method ==
                                       zsp::KillMethod::kAuto);
  }

  void ParseAgentSettingsRejected() {
    const char* lines[] = {
        "agent = yes",
        "agent = Required",
        "agent_socket = run/zsp/agent.sock",
        "agent_cgroup = ../escape",
        "agent_cgroup = a/b",
        "agent_cgroup = .hidden",
        "agent_cgroup = cgroup.procs",
        "feed_stale_after = 1s",
        "feed_stale_after = 2h",
        "feed_stale_after = soon",
        "feed_stale_action = kill",
        "kill_method = kill",
        "kill_method = Freeze",
        "kill_method = ",
    };
    for (const char* line : lines) {
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE(std::string("accepted: ") + line, !result.ok());
      CPPUNIT_ASSERT_MESSAGE(result.error(), Contains(result.error(), ":6: "));
    }
  }

  void ParseDecisionRelay() {
    auto plain = ParseHostConfig(MinimalConfig(), kOrigin);
    CPPUNIT_ASSERT(plain.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "agent by default while agent is on",
        plain.value().decision_relay == zsp::DecisionRelay::kAgent);

    auto off = ParseHostConfig(MinimalConfigWith("agent = off"), kOrigin);
    CPPUNIT_ASSERT(off.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "direct by default with agent = off",
        off.value().decision_relay == zsp::DecisionRelay::kDirect);

    // The explicit line wins, before or after the agent line.
    auto relay_first = ParseHostConfig(
        MinimalConfig() + "decision_relay = agent\nagent = off\n", kOrigin);
    CPPUNIT_ASSERT(relay_first.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "agent kept with agent = off after it",
        relay_first.value().decision_relay == zsp::DecisionRelay::kAgent);
    auto direct = ParseHostConfig(MinimalConfigWith("decision_relay = direct"),
                                  kOrigin);
    CPPUNIT_ASSERT(direct.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "direct", direct.value().decision_relay == zsp::DecisionRelay::kDirect);

    for (const char* line : {"decision_relay = Agent", "decision_relay = yes",
                             "decision_relay = agent direct"}) {
      auto result = ParseHostConfig(MinimalConfigWith(line), kOrigin);
      CPPUNIT_ASSERT_MESSAGE(std::string("accepted: ") + line, !result.ok());
      CPPUNIT_ASSERT_MESSAGE(result.error(),
                             Contains(result.error(), ":6: decision_relay: "));
    }
  }

  void ParseDecisionKeysAccumulate() {
    std::string text = MinimalConfig() +
                       "decision_key = /etc/zsp/next.pub\n"
                       "decision_key = /etc/zsp/old.pub\n";
    auto result = ParseHostConfig(text, kOrigin);
    CPPUNIT_ASSERT_MESSAGE("parse succeeds", result.ok());
    const auto& keys = result.value().decision_keys;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("three keys", size_t{3}, keys.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("first key",
                                 std::string("/etc/zsp/decision.pub"), keys[0]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("second key", std::string("/etc/zsp/next.pub"),
                                 keys[1]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("third key", std::string("/etc/zsp/old.pub"),
                                 keys[2]);
  }

  void ModuleOptionsDefaults() {
    auto result = zsp::ParseModuleOptions({});
    CPPUNIT_ASSERT_MESSAGE("no arguments accepted", result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("default path",
                                 std::string(zsp::kDefaultConfigPath),
                                 result.value().config_path);
    CPPUNIT_ASSERT_MESSAGE("debug off", !result.value().debug);
  }

  void ModuleOptionsAccepted() {
    auto result = zsp::ParseModuleOptions({"debug", "conf=/opt/zsp/zsp.conf"});
    CPPUNIT_ASSERT_MESSAGE("accepted", result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("conf= path", std::string("/opt/zsp/zsp.conf"),
                                 result.value().config_path);
    CPPUNIT_ASSERT_MESSAGE("debug on", result.value().debug);
  }

  void ModuleOptionsRejected() {
    for (const char* arg : {"conf=zsp.conf", "conf=", "config=/etc/x.conf",
                            "debug=1", "Debug", ""}) {
      auto result = zsp::ParseModuleOptions({arg});
      CPPUNIT_ASSERT_MESSAGE(std::string("reject \"") + arg + "\"",
                             !result.ok());
    }
    auto unknown = zsp::ParseModuleOptions({"debug", "verbose"});
    CPPUNIT_ASSERT_MESSAGE("unknown argument rejected", !unknown.ok());
    CPPUNIT_ASSERT_MESSAGE("message names the argument: " + unknown.error(),
                           Contains(unknown.error(), "verbose"));
  }

  void LoadValidFile() {
    std::string path = WriteFile("zsp.conf", MinimalConfig(), 0644);
    auto result = zsp::LoadHostConfig(path);
    CPPUNIT_ASSERT_MESSAGE(
        "load succeeds: " + (result.ok() ? "" : result.error()), result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("path", path, result.value().path);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("broker_url",
                                 std::string("https://broker.example:8443"),
                                 result.value().broker_url);

    std::string private_path = WriteFile("private.conf", MinimalConfig(), 0600);
    CPPUNIT_ASSERT_MESSAGE("mode 0600 accepted",
                           zsp::LoadHostConfig(private_path).ok());
  }

  void LoadMissingFile() {
    std::string path = dir_ + "/absent.conf";
    auto result = zsp::LoadHostConfig(path);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_MESSAGE("message names the path: " + result.error(),
                           Contains(result.error(), path));
  }

  void LoadDirectory() {
    std::string path = dir_ + "/conf.d";
    CPPUNIT_ASSERT_EQUAL_MESSAGE("mkdir", 0, mkdir(path.c_str(), 0755));
    auto result = zsp::LoadHostConfig(path);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("message", path + " is not a regular file",
                                 result.error());
  }

  void LoadGroupWritable() {
    std::string path = WriteFile("zsp.conf", MinimalConfig(), 0664);
    auto result = zsp::LoadHostConfig(path);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "message", path + " is writable by group or others", result.error());
  }

  void LoadOtherWritable() {
    std::string path = WriteFile("zsp.conf", MinimalConfig(), 0646);
    auto result = zsp::LoadHostConfig(path);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "message", path + " is writable by group or others", result.error());
  }

  void LoadNotOwnedByRoot() {
    std::string path = WriteFile("zsp.conf", MinimalConfig(), 0644);
    // 65534 is "nobody" on Debian, but any uid other than 0 would do.
    CPPUNIT_ASSERT_EQUAL_MESSAGE("chown", 0, chown(path.c_str(), 65534, 0));
    auto result = zsp::LoadHostConfig(path);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("message", path + " is not owned by root",
                                 result.error());
  }

  void LoadSymlink() {
    std::string target = WriteFile("real.conf", MinimalConfig(), 0644);
    std::string link = dir_ + "/zsp.conf";
    CPPUNIT_ASSERT_EQUAL_MESSAGE("symlink", 0,
                                 symlink(target.c_str(), link.c_str()));
    auto result = zsp::LoadHostConfig(link);
    CPPUNIT_ASSERT_MESSAGE("symlink rejected", !result.ok());
    CPPUNIT_ASSERT_MESSAGE("message names the link: " + result.error(),
                           Contains(result.error(), link));
  }

  void LoadSizeLimit() {
    // Pads a valid file with one comment line to exactly `size` bytes.
    auto padded = [](size_t size) {
      std::string text = MinimalConfig();
      std::string comment = "#" + std::string(size - text.size() - 2, 'x');
      return text + comment + "\n";
    };
    std::string at_limit = WriteFile("limit.conf", padded(64 * 1024), 0644);
    auto ok = zsp::LoadHostConfig(at_limit);
    CPPUNIT_ASSERT_MESSAGE("64 KiB accepted: " + (ok.ok() ? "" : ok.error()),
                           ok.ok());

    std::string over = WriteFile("over.conf", padded(64 * 1024 + 1), 0644);
    auto result = zsp::LoadHostConfig(over);
    CPPUNIT_ASSERT_MESSAGE("64 KiB + 1 rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("message", over + " is larger than 64 KiB",
                                 result.error());
  }

  void LoadReportsParseError() {
    std::string path =
        WriteFile("zsp.conf", MinimalConfigWith("timeout = 5"), 0644);
    auto result = zsp::LoadHostConfig(path);
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "message", path + ":6: timeout: unknown setting", result.error());
  }

 private:
  // Writes a root-owned file with the given mode and returns its path.
  std::string WriteFile(const std::string& name, const std::string& text,
                        mode_t mode) {
    std::string path = dir_ + "/" + name;
    {
      std::ofstream out(path, std::ios::binary);
      out << text;
    }
    CPPUNIT_ASSERT_EQUAL_MESSAGE("chown " + path, 0, chown(path.c_str(), 0, 0));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("chmod " + path, 0, chmod(path.c_str(), mode));
    return path;
  }

  std::string dir_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConfigTest);

// Tests for broker/policy_file: parsing and validation of policy.toml with
// file, line and field in errors, and matching requests to entitlements.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>

#include "broker/notify.h"
#include "broker/policy_file.h"

namespace {

using zsp::broker::AccessRequest;
using zsp::broker::ArgumentMatches;
using zsp::broker::CheckRequestAgainstPolicy;
using zsp::broker::CommandPatternCovers;
using zsp::broker::HostWithinPattern;
using zsp::broker::IsFullRootCommand;
using zsp::broker::ParsePolicy;
using zsp::broker::Policy;

// Monday 2027-01-04 10:00:00 UTC.
constexpr int64_t kMondayTen = 1'799'056'800;

constexpr char kPolicy[] = R"(
[groups]
ops = ["alice", "carol"]
leads = ["bob", "dave", "erin"]
oncall = ["carol"]

[host_groups]
web = ["web-*", "www.example.com"]

[[entitlement]]
name = "web-restart"
hosts = ["@web"]
requesters = ["@ops"]
runas = ["root"]
commands = ["/usr/bin/systemctl restart *", "/usr/bin/cat /var/log/*"]
approvers = ["@leads"]
approvals = 2
max_duration = "2h"
pending_lifetime = "10m"
reason_pattern = "^(INC|CHG)-[0-9]+"

[[entitlement.auto_approve]]
requesters = ["@oncall"]
hours = "08:00-18:00"
days = ["mon", "tue", "wed", "thu", "fri"]

[[entitlement]]
name = "db-login"
hosts = ["db-?"]
requesters = ["alice"]
login = true
approvers = ["bob"]
reason_required = false
)";

Policy MustParse(const std::string& text) {
  auto policy = ParsePolicy(text, "policy.toml");
  CPPUNIT_ASSERT_MESSAGE(policy.ok() ? "" : policy.error(), policy.ok());
  return std::move(policy).value();
}

std::string ParseError(const std::string& text) {
  auto policy = ParsePolicy(text, "policy.toml");
  CPPUNIT_ASSERT(!policy.ok());
  return policy.error();
}

AccessRequest Restart(const std::string& who, const std::string& command) {
  AccessRequest r;
  r.requester = who;
  r.host = "web-3";
  r.kind = "sudo";
  r.runas = {"root"};
  r.commands = {command};
  r.duration = 3600;
  r.reason = "INC-42 nginx hangs";
  return r;
}

void AssertContains(const std::string& text, const std::string& part) {
  CPPUNIT_ASSERT_MESSAGE("\"" + text + "\" lacks \"" + part + "\"",
                         text.find(part) != std::string::npos);
}

class BrokerPolicyFileTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerPolicyFileTest);
  CPPUNIT_TEST(ParsesGroupsAndEntitlements);
  CPPUNIT_TEST(DefaultPolicyParses);
  CPPUNIT_TEST(ErrorsNameLineAndField);
  CPPUNIT_TEST(RequesterNotCountedAsApprover);
  CPPUNIT_TEST(SyntaxErrorNamesLine);
  CPPUNIT_TEST(ArgumentWildcardStaysInArgument);
  CPPUNIT_TEST(ArgumentWildcardRejectsDotDot);
  CPPUNIT_TEST(CommandPatternCoverage);
  CPPUNIT_TEST(ShellIsFullRoot);
  CPPUNIT_TEST(HostPatternCoverage);
  CPPUNIT_TEST(RequestMatchesEntitlement);
  CPPUNIT_TEST(UnmatchedRequestSaysWhy);
  CPPUNIT_TEST(ReasonRulesApply);
  CPPUNIT_TEST(AutoApprovalFollowsHours);
  CPPUNIT_TEST(WebhookNeedsSecretAndUrl);
  CPPUNIT_TEST(GroupsAndEnvValidated);
  CPPUNIT_TEST(GroupsAndEnvEnforced);
  CPPUNIT_TEST(WebhookSignatureKnownAnswer);
  CPPUNIT_TEST(NotifierKnowsSubscriptionsAndForgets);
  CPPUNIT_TEST(AuditAlertOnlyWhenNamed);
  CPPUNIT_TEST(AlertNoticesLimitedPerHost);
  CPPUNIT_TEST_SUITE_END();

 public:
  void ParsesGroupsAndEntitlements() {
    Policy policy = MustParse(kPolicy);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, policy.entitlements.size());
    const auto& e = policy.entitlements[0];
    CPPUNIT_ASSERT_EQUAL(std::string("web-restart"), e.name);
    CPPUNIT_ASSERT_EQUAL(10, e.line);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, e.hosts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("www.example.com"), e.hosts[1]);
    CPPUNIT_ASSERT_EQUAL(size_t{3}, e.approvers.size());
    CPPUNIT_ASSERT_EQUAL(2, e.approvals);
    CPPUNIT_ASSERT_EQUAL(int64_t{7200}, e.max_duration);
    CPPUNIT_ASSERT_EQUAL(int64_t{600}, e.pending_lifetime);
    CPPUNIT_ASSERT(e.reason_required);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, e.auto_approve.size());
    CPPUNIT_ASSERT(!e.GrantsFullRoot());
    CPPUNIT_ASSERT(!policy.entitlements[1].reason_required);
    CPPUNIT_ASSERT(policy.Find("db-login") != nullptr);
    CPPUNIT_ASSERT(policy.Find("nothing") == nullptr);
  }

  void DefaultPolicyParses() {
    Policy policy = MustParse(zsp::broker::DefaultPolicyText());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, policy.entitlements.size());
    CPPUNIT_ASSERT(policy.entitlements[0].GrantsFullRoot());
  }

  void ErrorsNameLineAndField() {
    const std::string head =
        "[[entitlement]]\nname = \"x\"\nhosts = [\"h\"]\n"
        "requesters = [\"*\"]\nlogin = true\n";
    AssertContains(ParseError(head + "approvers = [\"bob\"]\nfrobnicate = 1\n"),
                   "policy.toml:7: entitlement \"x\".frobnicate: unknown field");
    AssertContains(ParseError(head + "approvers = [\"@nobody\"]\n"),
                   "policy.toml:6: entitlement \"x\".approvers:");
    AssertContains(ParseError(head + "approvers = [\"bob\"]\napprovals = 2\n"),
                   "policy.toml:7: entitlement \"x\".approvals: needs 2");
    AssertContains(ParseError(head + "approvers = [\"bob\"]\n"
                                     "max_duration = \"forever\"\n"),
                   "policy.toml:7: entitlement \"x\".max_duration:");
    AssertContains(ParseError(head + "approvers = [\"bob\"]\n"
                                     "reason_pattern = \"(\"\n"),
                   "policy.toml:7: entitlement \"x\".reason_pattern:");
    AssertContains(ParseError(head + "approvers = [\"Bad User\"]\n"),
                   "policy.toml:6: entitlement \"x\".approvers: \"Bad User\"");

    AssertContains(ParseError(head),
                   "policy.toml:1: entitlement \"x\".approvers: missing");


    AssertContains(ParseError("[groups]\nops = [\"alice\"]\n"),
                   "at least one [[entitlement]]");
    AssertContains(ParseError(head + "approvers = [\"bob\"]\n" + head +
                              "approvers = [\"bob\"]\n"),
                   "policy.toml:7: entitlement \"x\": name is used");

    AssertContains(
        ParseError("[[entitlement]]\nname = \"x\"\nhosts = [\"h\"]\n"
                   "requesters = [\"*\"]\nrunas = [\"root\"]\n"
                   "commands = [\"bin/ls\"]\napprovers = [\"bob\"]\n"),
        "policy.toml:6: entitlement \"x\".commands:");
    AssertContains(
        ParseError("[[entitlement]]\nname = \"x\"\nhosts = [\"h\"]\n"
                   "requesters = [\"*\"]\napprovers = [\"bob\"]\n"),
        "grants nothing");
  }

  void GroupsAndEnvValidated() {
    const std::string head =
        "[[entitlement]]\nname = \"x\"\nhosts = [\"h\"]\n"
        "requesters = [\"*\"]\napprovers = [\"bob\"]\n";
    const std::string sudo = head + "runas = [\"root\"]\ncommands = [\"*\"]\n";
    AssertContains(ParseError(sudo + "runas_groups = [\"adm\", \"-bad\"]\n"),
                   "policy.toml:8: entitlement \"x\".runas_groups: \"-bad\" "
                   "is not a valid group name");
    AssertContains(ParseError(sudo + "env = [\"LD_PRELOAD\"]\n"),
                   "policy.toml:8: entitlement \"x\".env: \"LD_PRELOAD\"");
    AssertContains(ParseError(sudo + "env = \"FOO\"\n"),
                   "policy.toml:8: entitlement \"x\".env: must be a list");
    AssertContains(
        ParseError(head + "login = true\nenv = [\"FOO\"]\n"),
        "policy.toml:7: entitlement \"x\".env: applies to sudo only");
    AssertContains(
        ParseError(head + "login = true\nrunas_groups = [\"adm\"]\n"),
        "policy.toml:7: entitlement \"x\".runas_groups: applies to sudo only");

    Policy policy = MustParse(sudo + "runas_groups = [\"adm\", \"*\"]\n"
                                     "env = [\"FOO\", \"*\"]\n");
    CPPUNIT_ASSERT_EQUAL(size_t{2}, policy.entitlements[0].runas_groups.size());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, policy.entitlements[0].env.size());
  }

  void GroupsAndEnvEnforced() {
    Policy policy = MustParse(
        "[[entitlement]]\nname = \"x\"\nhosts = [\"web-*\"]\n"
        "requesters = [\"*\"]\napprovers = [\"bob\"]\nrunas = [\"root\"]\n"
        "commands = [\"/usr/bin/id\"]\nrunas_groups = [\"adm\"]\n"
        "env = [\"FOO\"]\n"
        "[[entitlement]]\nname = \"plain\"\nhosts = [\"web-*\"]\n"
        "requesters = [\"*\"]\napprovers = [\"bob\"]\nrunas = [\"root\"]\n"
        "commands = [\"/usr/bin/uptime\"]\n");
    AccessRequest request = Restart("alice", "/usr/bin/id");
    request.runas_groups = {"adm"};
    request.env = {"FOO"};
    auto verdict = CheckRequestAgainstPolicy(policy, request, kMondayTen);
    CPPUNIT_ASSERT_MESSAGE(verdict.message, verdict.entitlement != nullptr);

    request.runas_groups = {"adm", "shadow"};
    verdict = CheckRequestAgainstPolicy(policy, request, kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
    AssertContains(verdict.message,
                   "x: run-as group shadow is not in its runas_groups");

    request.runas_groups = {};
    request.env = {"BAR"};
    verdict = CheckRequestAgainstPolicy(policy, request, kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
    AssertContains(verdict.message,
                   "x: environment variable BAR is not in its env");

    request.env = {"*"};
    verdict = CheckRequestAgainstPolicy(policy, request, kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
    AssertContains(verdict.message, "sudo -E");

    // Without the fields an entitlement allows no groups and no variables.
    AccessRequest uptime = Restart("alice", "/usr/bin/uptime");
    uptime.runas_groups = {"adm"};
    verdict = CheckRequestAgainstPolicy(policy, uptime, kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
    AssertContains(verdict.message,
                   "plain: run-as group adm is not in its runas_groups");
    uptime.runas_groups = {};
    uptime.env = {"FOO"};
    verdict = CheckRequestAgainstPolicy(policy, uptime, kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
  }

  // The requester never counts as one of the approvers, whatever the case
  // of the name in approvers.
  void RequesterNotCountedAsApprover() {
    Policy policy = MustParse(
        "[[entitlement]]\nname = \"x\"\nhosts = [\"web-*\"]\n"
        "requesters = [\"*\"]\napprovers = [\"Alice\", \"bob\"]\n"
        "approvals = 2\nrunas = [\"root\"]\ncommands = [\"/usr/bin/id\"]\n");
    auto verdict = CheckRequestAgainstPolicy(
        policy, Restart("alice", "/usr/bin/id"), kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
    AssertContains(verdict.message,
                   "it needs 2 approvals from people other than alice and "
                   "lists only 1");
    verdict = CheckRequestAgainstPolicy(
        policy, Restart("carol", "/usr/bin/id"), kMondayTen);
    CPPUNIT_ASSERT_MESSAGE(verdict.message, verdict.entitlement != nullptr);

    // One person listed twice would count as two approvers.
    AssertContains(
        ParseError("[[entitlement]]\nname = \"x\"\nhosts = [\"web-*\"]\n"
                   "requesters = [\"*\"]\napprovers = [\"bob\", \"Bob\"]\n"
                   "approvals = 2\nrunas = [\"root\"]\n"
                   "commands = [\"/usr/bin/id\"]\n"),
        "approvers: \"bob\" and \"Bob\" name one person");
  }

  void SyntaxErrorNamesLine() {
    std::string error = ParseError("[groups]\nops = [\"alice\"\n\nx = \n");
    AssertContains(error, "policy.toml:");
    AssertContains(error, "invalid TOML");
  }

  void ArgumentWildcardStaysInArgument() {
    CPPUNIT_ASSERT(ArgumentMatches("nginx", "nginx"));
    CPPUNIT_ASSERT(!ArgumentMatches("nginx", "nginx2"));
    CPPUNIT_ASSERT(ArgumentMatches("nginx*", "nginx.service"));
    CPPUNIT_ASSERT(ArgumentMatches("/var/log/*", "/var/log/syslog"));
    // One argument pattern never covers two arguments.
    CPPUNIT_ASSERT(!CommandPatternCovers("/usr/bin/systemctl restart *",
                                         "/usr/bin/systemctl restart a b"));
    CPPUNIT_ASSERT(CommandPatternCovers("/usr/bin/systemctl restart *",
                                        "/usr/bin/systemctl restart a"));
  }

  void ArgumentWildcardRejectsDotDot() {
    CPPUNIT_ASSERT(!ArgumentMatches("/var/log/*", "/var/log/../../etc/shadow"));
    CPPUNIT_ASSERT(!ArgumentMatches("/var/log/*", "/var/log/.."));
    CPPUNIT_ASSERT(!ArgumentMatches("*", ".."));
    CPPUNIT_ASSERT(ArgumentMatches("/var/log/*", "/var/log/a..b"));
  }

  void CommandPatternCoverage() {
    CPPUNIT_ASSERT(CommandPatternCovers("*", "/bin/anything at all"));
    CPPUNIT_ASSERT(CommandPatternCovers("/usr/bin/id", "/usr/bin/id"));
    CPPUNIT_ASSERT(CommandPatternCovers("/usr/bin/id", "/usr/bin/id -u"));
    CPPUNIT_ASSERT(!CommandPatternCovers("/usr/bin/id", "/usr/bin/idx"));
    // A request for any arguments needs a pattern of the path alone.
    CPPUNIT_ASSERT(!CommandPatternCovers("/usr/bin/systemctl restart *",
                                         "/usr/bin/systemctl"));
    CPPUNIT_ASSERT(CommandPatternCovers("/usr/bin/id \"\"", "/usr/bin/id \"\""));
  }

  void ShellIsFullRoot() {
    CPPUNIT_ASSERT(IsFullRootCommand("*"));
    CPPUNIT_ASSERT(IsFullRootCommand("/bin/bash"));
    CPPUNIT_ASSERT(IsFullRootCommand("/usr/bin/sh -c id"));
    CPPUNIT_ASSERT(!IsFullRootCommand("/usr/bin/id"));
  }

  void HostPatternCoverage() {
    CPPUNIT_ASSERT(HostWithinPattern("web-*", "web-1"));
    CPPUNIT_ASSERT(!HostWithinPattern("web-*", "db-1"));
    CPPUNIT_ASSERT(HostWithinPattern("web-*", "web-*"));
    CPPUNIT_ASSERT(HostWithinPattern("web-*", "web-1*"));
    CPPUNIT_ASSERT(HostWithinPattern("*", "db-*"));
    // "web-?" matches the text "web-*" but not every host that it names.
    CPPUNIT_ASSERT(!HostWithinPattern("web-?", "web-*"));
    CPPUNIT_ASSERT(!HostWithinPattern("web-*", "w*"));
  }

  void RequestMatchesEntitlement() {
    Policy policy = MustParse(kPolicy);
    auto verdict = CheckRequestAgainstPolicy(
        policy, Restart("alice", "/usr/bin/systemctl restart nginx"),
        kMondayTen);
    CPPUNIT_ASSERT_MESSAGE(verdict.message, verdict.entitlement != nullptr);
    CPPUNIT_ASSERT_EQUAL(std::string("web-restart"), verdict.entitlement->name);
    CPPUNIT_ASSERT(!verdict.full_root);
    CPPUNIT_ASSERT(!verdict.auto_approved_by.has_value());

    AccessRequest login;
    login.requester = "alice";
    login.host = "db-1";
    login.kind = "login";
    login.duration = 600;
    verdict = CheckRequestAgainstPolicy(policy, login, kMondayTen);
    CPPUNIT_ASSERT_MESSAGE(verdict.message, verdict.entitlement != nullptr);
    CPPUNIT_ASSERT_EQUAL(std::string("db-login"), verdict.entitlement->name);
  }

  void UnmatchedRequestSaysWhy() {
    Policy policy = MustParse(kPolicy);
    auto verdict = CheckRequestAgainstPolicy(
        policy, Restart("mallory", "/usr/bin/systemctl restart nginx"),
        kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
    AssertContains(verdict.message,
                   "web-restart: mallory is not among its requesters");

    verdict = CheckRequestAgainstPolicy(
        policy, Restart("alice", "/bin/bash"), kMondayTen);
    CPPUNIT_ASSERT(verdict.entitlement == nullptr);
    CPPUNIT_ASSERT(verdict.full_root);
    AssertContains(verdict.message, "command \"/bin/bash\" is not covered");

    AccessRequest r = Restart("alice", "/usr/bin/systemctl restart nginx");
    r.duration = 7201;
    verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen);
    AssertContains(verdict.message, "over its max_duration of 7200s");
    r = Restart("alice", "/usr/bin/systemctl restart nginx");
    r.runas = {"postgres"};
    verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen);
    AssertContains(verdict.message, "run-as user postgres is not in its runas");
    r = Restart("alice", "/usr/bin/systemctl restart nginx");
    r.host = "db-1";
    verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen);
    AssertContains(verdict.message, "host db-1 is not in its hosts");
    AssertContains(verdict.message, "db-login: it does not grant sudo");
  }

  void ReasonRulesApply() {
    Policy policy = MustParse(kPolicy);
    AccessRequest r = Restart("alice", "/usr/bin/systemctl restart nginx");
    r.reason = "";
    auto verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen);
    AssertContains(verdict.message, "it requires a reason");
    r.reason = "because";
    verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen);
    AssertContains(verdict.message, "does not match its reason_pattern");
  }

  void AutoApprovalFollowsHours() {
    Policy policy = MustParse(kPolicy);
    AccessRequest r = Restart("carol", "/usr/bin/systemctl restart nginx");
    auto verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen);
    CPPUNIT_ASSERT(verdict.auto_approved_by.has_value());
    AssertContains(*verdict.auto_approved_by, "web-restart");
    // Monday 19:00 is after hours, Saturday 10:00 is not a listed day.
    verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen + 9 * 3600);
    CPPUNIT_ASSERT(!verdict.auto_approved_by.has_value());
    verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen + 5 * 86400);
    CPPUNIT_ASSERT(!verdict.auto_approved_by.has_value());
    // alice is not on call.
    r.requester = "alice";
    verdict = CheckRequestAgainstPolicy(policy, r, kMondayTen);
    CPPUNIT_ASSERT(!verdict.auto_approved_by.has_value());
  }

  void WebhookNeedsSecretAndUrl() {
    const std::string entitlement =
        "[[entitlement]]\nname = \"x\"\nhosts = [\"h\"]\n"
        "requesters = [\"*\"]\nlogin = true\napprovers = [\"bob\"]\n";
    AssertContains(ParseError(entitlement +
                              "[[webhook]]\nname = \"w\"\n"
                              "url = \"http://example.com/hook\"\n"
                              "secret_file = \"/nonexistent\"\n"),
                   "policy.toml:9: webhook[1].url:");
    AssertContains(ParseError(entitlement +
                              "[[webhook]]\nname = \"w\"\n"
                              "url = \"https://example.com/hook\"\n"
                              "secret_file = \"/nonexistent\"\n"),
                   "policy.toml:10: webhook[1].secret_file:");
  }

  // The maintenance pass reads grants about to end only when a webhook
  // wants grant_expiring, and the notifier keeps the ids it announced only
  // until those grants have ended.
  void NotifierKnowsSubscriptionsAndForgets() {
    Policy policy;
    policy.webhooks.push_back(zsp::broker::Webhook{
        "filed", "http://127.0.0.1:9/hook", "secret", false,
        {"request_filed"}});
    zsp::broker::PolicyHolder holder(policy);
    zsp::broker::Notifier notifier(&holder);
    CPPUNIT_ASSERT(notifier.Subscribed("request_filed"));
    CPPUNIT_ASSERT(!notifier.Subscribed("grant_expiring"));

    policy.webhooks[0].events.clear();  // every event
    holder.Set(policy);
    CPPUNIT_ASSERT(notifier.Subscribed("grant_expiring"));

    CPPUNIT_ASSERT(notifier.FirstTime("g-1", 100));
    CPPUNIT_ASSERT(notifier.FirstTime("g-2", 200));
    CPPUNIT_ASSERT(!notifier.FirstTime("g-1", 100));
    notifier.ForgetEnded(100);  // g-1 ends at 100: not yet before now
    CPPUNIT_ASSERT(!notifier.FirstTime("g-1", 100));
    notifier.ForgetEnded(101);
    CPPUNIT_ASSERT(notifier.FirstTime("g-1", 100));
    CPPUNIT_ASSERT(!notifier.FirstTime("g-2", 200));
  }

  // Audit alerts are for auditors, so a webhook without an events list
  // does not get them.
  void AuditAlertOnlyWhenNamed() {
    Policy policy;
    policy.webhooks.push_back(zsp::broker::Webhook{
        "all", "http://127.0.0.1:9/hook", "secret", false, {}});
    zsp::broker::PolicyHolder holder(policy);
    zsp::broker::Notifier notifier(&holder);
    CPPUNIT_ASSERT(notifier.Subscribed("request_filed"));
    CPPUNIT_ASSERT(!notifier.Subscribed("audit_alert"));

    policy.webhooks[0].events = {"audit_alert"};
    holder.Set(policy);
    CPPUNIT_ASSERT(notifier.Subscribed("audit_alert"));
    CPPUNIT_ASSERT(!notifier.Subscribed("request_filed"));
  }

  void AlertNoticesLimitedPerHost() {
    zsp::broker::AlertNoticeLimiter limiter;
    const int64_t start = 1000;
    for (int i = 0; i < zsp::broker::kAlertNoticesPerWindow; ++i) {
      CPPUNIT_ASSERT(limiter.Admit("web-1", start + i));
    }
    CPPUNIT_ASSERT(!limiter.Admit("web-1", start + 20));
    CPPUNIT_ASSERT(!limiter.Admit("web-1", start + 30));
    // Another host has its own window.
    CPPUNIT_ASSERT(limiter.Admit("web-2", start + 30));

    const int64_t end = start + zsp::broker::kAlertNoticeWindowSeconds;
    CPPUNIT_ASSERT(limiter.TakeEnded(end - 1).empty());
    auto ended = limiter.TakeEnded(end);
    CPPUNIT_ASSERT_EQUAL(size_t(1), ended.size());
    CPPUNIT_ASSERT_EQUAL(std::string("web-1"), ended[0].host);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), ended[0].count);
    CPPUNIT_ASSERT_EQUAL(start, ended[0].since);

    // web-1's next window starts with its next alert.
    CPPUNIT_ASSERT(limiter.Admit("web-1", end + 5));
    CPPUNIT_ASSERT(limiter.TakeEnded(end + 5).empty());
    // web-2's window ended with nothing held back, so it reports nothing.
    CPPUNIT_ASSERT(limiter.TakeEnded(start + 30 + zsp::broker::kAlertNoticeWindowSeconds).empty());
  }

  void WebhookSignatureKnownAnswer() {
    // openssl dgst -sha256 -hmac 0123456789abcdef of '1700000000.{"a":1}'.
    CPPUNIT_ASSERT_EQUAL(
        std::string("sha256=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a"
                    "7437c1cd8c3a23"),
        zsp::broker::WebhookSignature("0123456789abcdef", "1700000000",
                                      "{\"a\":1}"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerPolicyFileTest);

}  // namespace

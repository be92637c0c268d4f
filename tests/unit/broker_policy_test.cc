// Tests for broker/policy: command entries, host patterns, run-as users and
// the choice between allow, no_grant, expired and revoked.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

#include "broker/policy.h"

namespace {

using zsp::broker::CommandEntryMatches;
using zsp::broker::DecisionQuestion;
using zsp::broker::Grant;
using zsp::broker::HostPatternMatches;
using Argv = std::vector<std::string>;

constexpr int64_t kNow = 1'800'000'000;

Grant SudoGrant(const std::string& id, const std::string& host,
                const std::vector<std::string>& commands) {
  Grant grant;
  grant.id = id;
  grant.request = "r-000000000001";
  grant.user = "alice";
  grant.host = host;
  grant.kind = "sudo";
  grant.runas = {"root"};
  grant.commands = commands;
  grant.approved_by = "bob";
  grant.starts_at = kNow - 60;
  grant.expires_at = kNow + 3600;
  return grant;
}

DecisionQuestion SudoQuestion(const Argv& argv) {
  return DecisionQuestion{"alice", "web-1", "sudo", "root", argv};
}

class BrokerPolicyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerPolicyTest);
  CPPUNIT_TEST(PathOnlyEntryMatchesAnyArguments);
  CPPUNIT_TEST(EntryWithArgumentsMatchesExactly);
  CPPUNIT_TEST(EmptyQuotesEntryMatchesNoArguments);
  CPPUNIT_TEST(HostPatterns);
  CPPUNIT_TEST(ScopeChecksUserKindAndRunas);
  CPPUNIT_TEST(LoginGrantIgnoresCommands);
  CPPUNIT_TEST(DecideAllowsLatestEndingGrant);
  CPPUNIT_TEST(DecideWithoutGrantIsNoGrant);
  CPPUNIT_TEST(DecideAfterEndIsExpired);
  CPPUNIT_TEST(DecideAfterRevocationIsRevoked);
  CPPUNIT_TEST(DecideReportsMostRecentEnd);
  CPPUNIT_TEST(DenyMessageSuggestsRequestCommand);
  CPPUNIT_TEST(ShellQuoteQuotesUnsafeWords);
  CPPUNIT_TEST(ScopeChecksRunasGroup);
  CPPUNIT_TEST(ScopeChecksEnvNames);
  CPPUNIT_TEST(DenyMessageSuggestsGroupAndEnv);
  CPPUNIT_TEST_SUITE_END();

 public:
  void PathOnlyEntryMatchesAnyArguments() {
    CPPUNIT_ASSERT(CommandEntryMatches("/usr/bin/id", {"/usr/bin/id"}));
    CPPUNIT_ASSERT(CommandEntryMatches("/usr/bin/id", {"/usr/bin/id", "-u"}));
    CPPUNIT_ASSERT(!CommandEntryMatches("/usr/bin/id", {"/usr/bin/idx"}));
    CPPUNIT_ASSERT(!CommandEntryMatches("/usr/bin/id", {"/bin/id"}));
    CPPUNIT_ASSERT(!CommandEntryMatches("/usr/bin/id", {}));
  }

  void EntryWithArgumentsMatchesExactly() {
    const std::string entry = "/usr/bin/systemctl restart nginx";
    CPPUNIT_ASSERT(
        CommandEntryMatches(entry, {"/usr/bin/systemctl", "restart", "nginx"}));
    CPPUNIT_ASSERT(!CommandEntryMatches(entry, {"/usr/bin/systemctl"}));
    CPPUNIT_ASSERT(
        !CommandEntryMatches(entry, {"/usr/bin/systemctl", "restart"}));
    CPPUNIT_ASSERT(!CommandEntryMatches(
        entry, {"/usr/bin/systemctl", "restart", "nginx", "sshd"}));
    CPPUNIT_ASSERT(
        !CommandEntryMatches(entry, {"/usr/bin/systemctl", "stop", "nginx"}));
    CPPUNIT_ASSERT(
        !CommandEntryMatches(entry, {"/usr/bin/systemctl", "restart nginx"}));
  }

  void EmptyQuotesEntryMatchesNoArguments() {
    const std::string entry = "/usr/bin/systemctl \"\"";
    CPPUNIT_ASSERT(CommandEntryMatches(entry, {"/usr/bin/systemctl"}));
    CPPUNIT_ASSERT(!CommandEntryMatches(entry, {"/usr/bin/systemctl", ""}));
    CPPUNIT_ASSERT(!CommandEntryMatches(entry, {"/usr/bin/systemctl", "\"\""}));
    CPPUNIT_ASSERT(
        !CommandEntryMatches(entry, {"/usr/bin/systemctl", "status"}));
  }

  void HostPatterns() {
    CPPUNIT_ASSERT(HostPatternMatches("web-1", "web-1"));
    CPPUNIT_ASSERT(!HostPatternMatches("web-1", "web-10"));
    CPPUNIT_ASSERT(!HostPatternMatches("web-1", "WEB-1"));
    CPPUNIT_ASSERT(HostPatternMatches("web-*", "web-10"));
    CPPUNIT_ASSERT(HostPatternMatches("web-?", "web-1"));
    CPPUNIT_ASSERT(!HostPatternMatches("web-?", "web-10"));
    CPPUNIT_ASSERT(HostPatternMatches("web-[12]", "web-2"));
    CPPUNIT_ASSERT(!HostPatternMatches("web-[12]", "web-3"));
    CPPUNIT_ASSERT(HostPatternMatches("web-[!12]", "web-3"));
    CPPUNIT_ASSERT(!HostPatternMatches("*.prod", "db.staging"));
    CPPUNIT_ASSERT(HostPatternMatches("*", "anything.example"));
  }

  void ScopeChecksUserKindAndRunas() {
    Grant grant = SudoGrant("g-1", "web-*", {"/usr/bin/id"});
    DecisionQuestion question = SudoQuestion({"/usr/bin/id"});
    CPPUNIT_ASSERT(zsp::broker::GrantScopeCovers(grant, question));

    DecisionQuestion other_runas = question;
    other_runas.runas = "bob";
    CPPUNIT_ASSERT(!zsp::broker::GrantScopeCovers(grant, other_runas));
    DecisionQuestion other_user = question;
    other_user.user = "bob";
    CPPUNIT_ASSERT(!zsp::broker::GrantScopeCovers(grant, other_user));
    DecisionQuestion other_host = question;
    other_host.host = "db-1";
    CPPUNIT_ASSERT(!zsp::broker::GrantScopeCovers(grant, other_host));
    DecisionQuestion login = {"alice", "web-1", "login", "", {}};
    CPPUNIT_ASSERT(!zsp::broker::GrantScopeCovers(grant, login));

    grant.runas = {"postgres", "root"};
    CPPUNIT_ASSERT(zsp::broker::GrantScopeCovers(grant, question));
  }

  void LoginGrantIgnoresCommands() {
    Grant grant = SudoGrant("g-1", "web-1", {});
    grant.kind = "login";
    grant.runas = {};
    DecisionQuestion login = {"alice", "web-1", "login", "", {}};
    CPPUNIT_ASSERT(zsp::broker::GrantScopeCovers(grant, login));
  }

  void DecideAllowsLatestEndingGrant() {
    Grant short_grant = SudoGrant("g-short", "web-1", {"/usr/bin/id"});
    Grant long_grant = SudoGrant("g-long", "web-*", {"/usr/bin/id -u"});
    long_grant.expires_at = kNow + 7200;
    std::vector<Grant> grants = {short_grant, long_grant};

    auto outcome =
        zsp::broker::Decide(grants, SudoQuestion({"/usr/bin/id", "-u"}), kNow);
    CPPUNIT_ASSERT(outcome.allow);
    CPPUNIT_ASSERT_EQUAL(std::string("g-long"), outcome.grant->id);

    outcome = zsp::broker::Decide(grants, SudoQuestion({"/usr/bin/id"}), kNow);
    CPPUNIT_ASSERT(outcome.allow);
    CPPUNIT_ASSERT_EQUAL(std::string("g-short"), outcome.grant->id);
  }

  void DecideWithoutGrantIsNoGrant() {
    std::vector<Grant> grants = {SudoGrant("g-1", "web-1", {"/usr/bin/id"})};
    auto outcome =
        zsp::broker::Decide(grants, SudoQuestion({"/usr/bin/whoami"}), kNow);
    CPPUNIT_ASSERT(!outcome.allow);
    CPPUNIT_ASSERT_EQUAL(std::string("no_grant"), outcome.code);
  }

  void DecideAfterEndIsExpired() {
    Grant grant = SudoGrant("g-1", "web-1", {"/usr/bin/id"});
    grant.expires_at = kNow;
    auto outcome =
        zsp::broker::Decide({grant}, SudoQuestion({"/usr/bin/id"}), kNow);
    CPPUNIT_ASSERT(!outcome.allow);
    CPPUNIT_ASSERT_EQUAL(std::string("expired"), outcome.code);
    CPPUNIT_ASSERT(outcome.message.find("expired") != std::string::npos);
  }

  void DecideAfterRevocationIsRevoked() {
    Grant grant = SudoGrant("g-1", "web-1", {"/usr/bin/id"});
    grant.revoked_at = kNow - 10;
    grant.revoked_by = "bob";
    auto outcome =
        zsp::broker::Decide({grant}, SudoQuestion({"/usr/bin/id"}), kNow);
    CPPUNIT_ASSERT(!outcome.allow);
    CPPUNIT_ASSERT_EQUAL(std::string("revoked"), outcome.code);
    CPPUNIT_ASSERT(outcome.message.find("revoked by bob") != std::string::npos);
  }

  void DecideReportsMostRecentEnd() {
    Grant revoked = SudoGrant("g-revoked", "web-1", {"/usr/bin/id"});
    revoked.revoked_at = kNow - 100;
    revoked.revoked_by = "bob";
    Grant expired = SudoGrant("g-expired", "web-1", {"/usr/bin/id"});
    expired.expires_at = kNow - 5;
    auto outcome = zsp::broker::Decide({revoked, expired},
                                       SudoQuestion({"/usr/bin/id"}), kNow);
    CPPUNIT_ASSERT_EQUAL(std::string("expired"), outcome.code);

    revoked.revoked_at = kNow - 1;
    outcome = zsp::broker::Decide({revoked, expired},
                                  SudoQuestion({"/usr/bin/id"}), kNow);
    CPPUNIT_ASSERT_EQUAL(std::string("revoked"), outcome.code);
  }

  void ScopeChecksRunasGroup() {
    Grant grant = SudoGrant("g-1", "web-1", {"/usr/bin/id"});
    DecisionQuestion question = SudoQuestion({"/usr/bin/id"});
    question.runas_group = "adm";
    CPPUNIT_ASSERT_MESSAGE("grant without groups",
                           !zsp::broker::GrantScopeCovers(grant, question));
    grant.runas_groups = {"staff"};
    CPPUNIT_ASSERT_MESSAGE("other group",
                           !zsp::broker::GrantScopeCovers(grant, question));
    grant.runas_groups = {"staff", "adm"};
    CPPUNIT_ASSERT_MESSAGE("listed group",
                           zsp::broker::GrantScopeCovers(grant, question));
    question.runas_group = "";
    CPPUNIT_ASSERT_MESSAGE("no -g under a group grant",
                           zsp::broker::GrantScopeCovers(grant, question));
  }

  void ScopeChecksEnvNames() {
    Grant grant = SudoGrant("g-1", "web-1", {"/usr/bin/env"});
    DecisionQuestion question = SudoQuestion({"/usr/bin/env"});
    question.env = {"FOO"};
    CPPUNIT_ASSERT_MESSAGE("grant without env",
                           !zsp::broker::GrantScopeCovers(grant, question));
    grant.env = {"BAR", "FOO"};
    CPPUNIT_ASSERT_MESSAGE("listed name",
                           zsp::broker::GrantScopeCovers(grant, question));
    question.env = {"BAR", "BAZ"};
    CPPUNIT_ASSERT_MESSAGE("one name not listed",
                           !zsp::broker::GrantScopeCovers(grant, question));
    question.env = {"*"};
    CPPUNIT_ASSERT_MESSAGE("-E under a names-only grant",
                           !zsp::broker::GrantScopeCovers(grant, question));
    grant.env = {"*"};
    CPPUNIT_ASSERT_MESSAGE("-E under a * grant",
                           zsp::broker::GrantScopeCovers(grant, question));
    question.env = {"ANY_NAME", "*"};
    CPPUNIT_ASSERT_MESSAGE("names and -E under a * grant",
                           zsp::broker::GrantScopeCovers(grant, question));
  }

  void DenyMessageSuggestsGroupAndEnv() {
    DecisionQuestion question = SudoQuestion({"/usr/bin/id"});
    question.runas_group = "adm";
    question.env = {"FOO", "*"};
    auto outcome = zsp::broker::Decide({}, question, kNow);
    CPPUNIT_ASSERT_MESSAGE(
        outcome.message,
        outcome.message.find("--runas root --runas-group adm --env FOO "
                             "--env '*' --command '/usr/bin/id \"\"'") !=
            std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(
        outcome.message,
        outcome.message.find("sudo as root with group adm") !=
            std::string::npos);
  }

  void DenyMessageSuggestsRequestCommand() {
    auto outcome = zsp::broker::Decide({}, SudoQuestion({"/usr/bin/id"}), kNow);
    CPPUNIT_ASSERT_EQUAL(
        std::string("no active grant for sudo as root on web-1; request one "
                    "with: zspctl request --host web-1 --sudo --runas root "
                    "--command '/usr/bin/id \"\"' --duration 1h --reason TEXT"),
        outcome.message);

    outcome = zsp::broker::Decide(
        {}, SudoQuestion({"/usr/bin/systemctl", "restart", "nginx"}), kNow);
    CPPUNIT_ASSERT(
        outcome.message.find("--command '/usr/bin/systemctl restart nginx'") !=
        std::string::npos);

    DecisionQuestion login = {"alice", "web-1", "login", "", {}};
    outcome = zsp::broker::Decide({}, login, kNow);
    CPPUNIT_ASSERT(outcome.message.find("no active grant for login on web-1") !=
                   std::string::npos);
    CPPUNIT_ASSERT(outcome.message.find("--login --duration 1h") !=
                   std::string::npos);
  }

  void ShellQuoteQuotesUnsafeWords() {
    CPPUNIT_ASSERT_EQUAL(std::string("/usr/bin/id"),
                         zsp::broker::ShellQuote("/usr/bin/id"));
    CPPUNIT_ASSERT_EQUAL(std::string("'a b'"), zsp::broker::ShellQuote("a b"));
    CPPUNIT_ASSERT_EQUAL(std::string("'it'\\''s'"),
                         zsp::broker::ShellQuote("it's"));
    CPPUNIT_ASSERT_EQUAL(std::string("'$(x)'"),
                         zsp::broker::ShellQuote("$(x)"));
    CPPUNIT_ASSERT_EQUAL(std::string("''"), zsp::broker::ShellQuote(""));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerPolicyTest);

}  // namespace

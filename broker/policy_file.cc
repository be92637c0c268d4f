#include "broker/policy_file.h"

#include <fnmatch.h>

#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <toml.hpp>

#include "broker/toml_reader.h"
#include "broker/validate.h"
#include "common/escape.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

constexpr int64_t kMaxPolicySeconds = 366LL * 24 * 3600;
constexpr int64_t kMaxPendingLifetime = 30LL * 24 * 3600;
constexpr int kMaxApprovals = 16;
constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxReasonPatternBytes = 256;
constexpr size_t kMaxListEntries = 256;
constexpr size_t kMaxListedRejections = 4;

const char* const kDayNames[] = {"mon", "tue", "wed", "thu",
                                 "fri", "sat", "sun"};

// Programs that give the user who runs them a shell or any command.
const char* const kShells[] = {"sh",   "bash", "dash", "zsh",  "ksh",
                               "mksh", "csh",  "tcsh", "fish", "busybox",
                               "su",   "sudo", "env",  "login"};

bool HasWildcard(std::string_view text) {
  return text.find_first_of("*?[") != std::string_view::npos;
}

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  for (const auto& item : list) {
    if (item == value) return true;
  }
  return false;
}

// A TomlTable of the policy file: unknown fields point at docs/policy.md
// and a list holds at most kMaxListEntries strings.
class TableReader : public TomlTable {
 public:
  TableReader(const TomlValue& table, std::string prefix)
      : TomlTable(table, std::move(prefix), "docs/policy.md") {}

  template <typename Check>
  std::vector<std::string> Strings(const std::string& key, Check check) const {
    return TomlTable::Strings(key, kMaxListEntries, check);
  }
};

using GroupMap = std::map<std::string, std::vector<std::string>>;

// Reads [groups] or [host_groups]: name = [members].
template <typename Check>
GroupMap ReadGroups(const TomlValue& root, const std::string& key,
                    Check check) {
  GroupMap groups;
  TableReader top(root, "");
  const TomlValue* table = top.Find(key);
  if (table == nullptr) return groups;
  if (!table->is_table()) top.Fail(*table, key, "must be a table");
  TableReader reader(*table, key);
  for (const auto& [name, members] : table->as_table()) {
    if (!IsValidName(name)) {
      reader.Fail(members, name,
                  "invalid group name; use a-z, 0-9, '-', '_' and '.'");
    }
    groups[name] = reader.Strings(name, check);
  }
  return groups;
}

std::string CheckPersonName(const std::string& name) {
  return IsValidUserName(name) ? "" : "is not a valid user name";
}

std::string CheckHostPatternText(const std::string& pattern) {
  return IsValidHostPattern(pattern) ? "" : "is not a valid host pattern";
}

// Replaces "@group" entries by the group's members. Two names that
// differ only in case are one person to the broker (SameUserName), so a
// list with both is an error, because it would count one person twice.
std::vector<std::string> ExpandGroups(const TableReader& reader,
                                      const std::string& key,
                                      const std::vector<std::string>& list,
                                      const GroupMap& groups,
                                      const char* section) {
  std::vector<std::string> expanded;
  auto add = [&](const std::string& name) {
    for (const auto& listed : expanded) {
      if (listed == name) return;
      if (SameUserName(listed, name)) {
        reader.Fail(*reader.Find(key), key,
                    "\"" + listed + "\" and \"" + name +
                        "\" name one person; keep one of them");
      }
    }
    expanded.push_back(name);
  };
  for (const auto& item : list) {
    if (item.empty() || item[0] != '@') {
      add(item);
      continue;
    }
    auto it = groups.find(item.substr(1));
    if (it == groups.end()) {
      reader.Fail(*reader.Find(key), key,
                  "\"" + item + "\" names no group in [" + section + "]");
    }
    for (const auto& member : it->second) add(member);
  }
  return expanded;
}

// Accepts "*", "@group" or a user name.
std::string CheckPersonEntry(const std::string& entry) {
  if (entry == "*") return "";
  if (!entry.empty() && entry[0] == '@') {
    return IsValidName(entry.substr(1)) ? "" : "is not a valid group name";
  }
  return CheckPersonName(entry);
}

std::string CheckHostEntry(const std::string& entry) {
  if (!entry.empty() && entry[0] == '@') {
    return IsValidName(entry.substr(1)) ? "" : "is not a valid group name";
  }
  return CheckHostPatternText(entry);
}

std::string CheckRunasEntry(const std::string& entry) {
  return entry == "*" ? "" : CheckPersonName(entry);
}

std::string CheckRunasGroupEntry(const std::string& entry) {
  if (entry == "*" || IsValidGroupName(entry)) return "";
  return "is not a valid group name";
}

std::string CheckCommandPattern(const std::string& pattern) {
  if (pattern == "*") return "";
  std::string problem = CheckCommandEntry(pattern);
  if (!problem.empty()) return problem;
  std::string path = pattern.substr(0, pattern.find(' '));
  if (HasWildcard(path)) {
    return "has a wildcard in its path; name the program by its exact "
           "absolute path";
  }
  return "";
}

// "HH:MM" to minutes after midnight, or -1.
int ParseClock(const std::string& text) {
  if (text.size() != 5 || text[2] != ':') return -1;
  unsigned int hours = 0;
  unsigned int minutes = 0;
  if (!ParseUnsigned(text.substr(0, 2), &hours) ||
      !ParseUnsigned(text.substr(3, 2), &minutes) || hours > 24 ||
      minutes > 59 || (hours == 24 && minutes != 0)) {
    return -1;
  }
  return static_cast<int>(hours * 60 + minutes);
}

AutoApproveRule ReadAutoApprove(const TomlValue& table,
                                const std::string& prefix,
                                const GroupMap& groups) {
  TableReader reader(table, prefix);
  reader.RejectUnknown({"requesters", "hours", "days"});
  AutoApproveRule rule;
  reader.Require("requesters");
  rule.requesters =
      ExpandGroups(reader, "requesters",
                   reader.Strings("requesters", CheckPersonEntry), groups,
                   "groups");
  if (rule.requesters.empty()) {
    reader.Fail(*reader.Find("requesters"), "requesters", "must not be empty");
  }
  const TomlValue& hours_value = reader.Require("hours");
  std::string hours = reader.String("hours", "");
  size_t dash = hours.find('-');
  int start = dash == std::string::npos ? -1 : ParseClock(hours.substr(0, dash));
  int end = dash == std::string::npos ? -1 : ParseClock(hours.substr(dash + 1));
  if (start < 0 || end < 0 || start == end) {
    reader.Fail(hours_value, "hours",
                "must be \"HH:MM-HH:MM\" in UTC with different start and "
                "end, for example \"22:00-06:00\"");
  }
  rule.start_minute = start;
  rule.end_minute = end;
  if (reader.Find("days") != nullptr) {
    rule.days = 0;
    auto days = reader.Strings("days", [](const std::string& day) {
      for (const char* name : kDayNames) {
        if (day == name) return std::string();
      }
      return std::string("is not a day; use mon, tue, wed, thu, fri, sat, sun");
    });
    for (const auto& day : days) {
      for (unsigned i = 0; i < 7; ++i) {
        if (day == kDayNames[i]) rule.days |= 1u << i;
      }
    }
    if (rule.days == 0) reader.Fail(*reader.Find("days"), "days", "is empty");
  }
  for (const auto& person : rule.requesters) {
    rule.description += (rule.description.empty() ? "" : ",") + person;
  }
  rule.description += " " + hours;
  return rule;
}

// Reads runas_groups and env, which widen a sudo grant and so need runas.
void ReadSudoExtras(const TableReader& reader, Entitlement* e) {
  e->runas_groups = reader.Strings("runas_groups", CheckRunasGroupEntry);
  e->env = reader.Strings("env", [](const std::string& entry) {
    return CheckEnvGrantEntry(entry);
  });
  for (const char* key : {"runas_groups", "env"}) {
    const TomlValue* value = reader.Find(key);
    if (value != nullptr && e->runas.empty()) {
      reader.Fail(*value, key,
                  "applies to sudo only; list runas and commands too");
    }
  }
}

void ReadScope(const TableReader& reader, const GroupMap& host_groups,
               Entitlement* e) {
  reader.Require("hosts");
  e->hosts = ExpandGroups(reader, "hosts",
                          reader.Strings("hosts", CheckHostEntry),
                          host_groups, "host_groups");
  if (e->hosts.empty()) {
    reader.Fail(*reader.Find("hosts"), "hosts", "must not be empty");
  }
  e->login = reader.Boolean("login", false);
  e->runas = reader.Strings("runas", CheckRunasEntry);
  e->commands = reader.Strings("commands", CheckCommandPattern);
  if (!e->runas.empty() && e->commands.empty()) {
    reader.Fail(reader.table(), "commands",
                "missing; sudo needs at least one command");
  }
  if (e->runas.empty() && !e->commands.empty()) {
    reader.Fail(*reader.Find("commands"), "runas",
                "missing; commands need the users they run as");
  }
  if (!e->login && e->runas.empty()) {
    reader.Fail(reader.table(), "login",
                "the entitlement grants nothing: set login = true or list "
                "runas and commands");
  }
  ReadSudoExtras(reader, e);
}

void ReadApproval(const TableReader& reader, const GroupMap& groups,
                  Entitlement* e) {
  reader.Require("approvers");
  e->approvers = ExpandGroups(reader, "approvers",
                              reader.Strings("approvers", CheckPersonEntry),
                              groups, "groups");
  if (e->approvers.empty()) {
    reader.Fail(*reader.Find("approvers"), "approvers", "must not be empty");
  }
  if (const TomlValue* value = reader.Find("approvals")) {
    if (!value->is_integer() || value->as_integer() < 1 ||
        value->as_integer() > kMaxApprovals) {
      reader.Fail(*value, "approvals", "must be an integer from 1 to 16");
    }
    e->approvals = static_cast<int>(value->as_integer());
    bool anyone = Contains(e->approvers, "*");
    if (!anyone && e->approvals > static_cast<int>(e->approvers.size())) {
      reader.Fail(*value, "approvals",
                  "needs " + std::to_string(e->approvals) +
                      " approvals but approvers has only " +
                      std::to_string(e->approvers.size()) + " entries");
    }
  }
}

void ReadReason(const TableReader& reader, Entitlement* e) {
  e->reason_required = reader.Boolean("reason_required", true);
  auto pattern = reader.OptionalString("reason_pattern");
  if (!pattern.has_value()) return;
  const TomlValue& at = *reader.Find("reason_pattern");
  if (pattern->empty() || pattern->size() > kMaxReasonPatternBytes) {
    reader.Fail(at, "reason_pattern", "must be 1 to 256 bytes");
  }
  try {
    e->reason_regex.emplace(*pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    reader.Fail(at, "reason_pattern",
                std::string("is not a valid regular expression: ") +
                    error.what());
  }
  e->reason_pattern = *pattern;
}

Entitlement ReadEntitlement(const TomlValue& table, size_t index,
                            const GroupMap& groups,
                            const GroupMap& host_groups) {
  std::string prefix = "entitlement[" + std::to_string(index + 1) + "]";
  if (!table.is_table()) {
    throw TomlError{TomlLine(table), prefix + ": must be a table"};
  }
  TableReader reader(table, prefix);
  Entitlement e;
  e.line = TomlLine(table);
  reader.Require("name");
  e.name = reader.String("name", "");
  if (!IsValidName(e.name)) {
    reader.Fail(*reader.Find("name"), "name",
                "must be 1 to 64 characters of a-z, 0-9, '-', '_' and '.'");
  }
  TableReader named(table, "entitlement \"" + e.name + "\"");
  named.RejectUnknown({"name", "hosts", "requesters", "login", "runas",
                       "commands", "runas_groups", "env", "approvers",
                       "approvals", "max_duration",
                       "pending_lifetime", "reason_required", "reason_pattern",
                       "auto_approve"});
  ReadScope(named, host_groups, &e);
  named.Require("requesters");
  e.requesters = ExpandGroups(named, "requesters",
                              named.Strings("requesters", CheckPersonEntry),
                              groups, "groups");
  if (e.requesters.empty()) {
    named.Fail(*named.Find("requesters"), "requesters", "must not be empty");
  }
  ReadApproval(named, groups, &e);
  e.max_duration = named.Seconds("max_duration", 3600, kMaxPolicySeconds);
  e.pending_lifetime =
      named.Seconds("pending_lifetime", 3600, kMaxPendingLifetime);
  ReadReason(named, &e);

  if (const TomlValue* rules = named.Find("auto_approve")) {
    if (!rules->is_array()) {
      named.Fail(*rules, "auto_approve", "must be a list of tables");
    }
    const auto& array = rules->as_array();
    for (size_t i = 0; i < array.size(); ++i) {
      if (!array[i].is_table()) {
        named.Fail(array[i], "auto_approve", "must be a list of tables");
      }
      e.auto_approve.push_back(ReadAutoApprove(
          array[i], named.Field("auto_approve[" + std::to_string(i + 1) + "]"),
          groups));
    }
  }
  return e;
}

const char* const kWebhookEvents[] = {
    "request_filed",  "request_approved", "request_denied", "request_expired",
    "grant_revoked", "grant_expiring", "audit_alert"};

bool IsLoopbackUrl(const std::string& url) {
  for (const char* prefix : {"http://127.0.0.1:", "http://127.0.0.1/",
                             "http://localhost:", "http://localhost/",
                             "http://[::1]:", "http://[::1]/"}) {
    if (url.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// Reads the secret file; relative paths are relative to the policy file.
std::string ReadSecretFile(const TableReader& reader, const std::string& path,
                           const std::string& policy_path) {
  std::string full = path;
  if (!path.empty() && path[0] != '/') {
    size_t slash = policy_path.rfind('/');
    std::string dir =
        slash == std::string::npos ? "." : policy_path.substr(0, slash);
    full = dir + "/" + path;
  }
  std::ifstream file(full, std::ios::binary);
  std::string secret;
  if (file) std::getline(file, secret);
  if (secret.size() < 16 || secret.size() > 1024) {
    reader.Fail(*reader.Find("secret_file"), "secret_file",
                full + " must exist and start with a line of 16 to 1024 "
                       "bytes, the HMAC key");
  }
  return secret;
}

Webhook ReadWebhook(const TomlValue& table, size_t index,
                    const std::string& policy_path) {
  TableReader reader(table, "webhook[" + std::to_string(index + 1) + "]");
  reader.RejectUnknown({"name", "url", "secret_file", "format", "events"});
  Webhook hook;
  reader.Require("name");
  hook.name = reader.String("name", "");
  if (!IsValidName(hook.name)) {
    reader.Fail(*reader.Find("name"), "name",
                "must be 1 to 64 characters of a-z, 0-9, '-', '_' and '.'");
  }
  reader.Require("url");
  hook.url = reader.String("url", "");
  bool https = hook.url.rfind("https://", 0) == 0 && hook.url.size() > 8;
  if (hook.url.size() > 2048 || (!https && !IsLoopbackUrl(hook.url))) {
    reader.Fail(*reader.Find("url"), "url",
                "must be an https:// URL, or http:// to 127.0.0.1, [::1] or "
                "localhost");
  }
  reader.Require("secret_file");
  hook.secret = ReadSecretFile(
      reader, reader.String("secret_file", ""), policy_path);
  std::string format = reader.String("format", "json");
  if (format != "json" && format != "slack") {
    reader.Fail(*reader.Find("format"), "format",
                "must be \"json\" or \"slack\"");
  }
  hook.slack = format == "slack";
  hook.events = reader.Strings("events", [](const std::string& event) {
    for (const char* known : kWebhookEvents) {
      if (event == known) return std::string();
    }
    return std::string(
        "is not an event; use request_filed, request_approved, "
        "request_denied, request_expired, grant_revoked, grant_expiring or "
        "audit_alert");
  });
  return hook;
}

Policy ReadPolicy(const TomlValue& root, const std::string& path) {
  TableReader top(root, "");
  top.RejectUnknown({"groups", "host_groups", "entitlement", "webhook"});
  GroupMap groups = ReadGroups(root, "groups", CheckPersonName);
  GroupMap host_groups = ReadGroups(root, "host_groups", CheckHostPatternText);

  Policy policy;
  policy.path = path;
  const TomlValue* list = top.Find("entitlement");
  if (list == nullptr || !list->is_array() || list->as_array().empty()) {
    throw TomlError{list ? TomlLine(*list) : 1,
                      "entitlement: at least one [[entitlement]] table is "
                      "required, because every grant must come from one"};
  }
  std::set<std::string> names;
  const auto& array = list->as_array();
  for (size_t i = 0; i < array.size(); ++i) {
    Entitlement e = ReadEntitlement(array[i], i, groups, host_groups);
    if (!names.insert(e.name).second) {
      throw TomlError{e.line, "entitlement \"" + e.name +
                                    "\": name is used by an earlier entitlement"};
    }
    policy.entitlements.push_back(std::move(e));
  }

  if (const TomlValue* hooks = top.Find("webhook")) {
    if (!hooks->is_array()) top.Fail(*hooks, "webhook", "must be [[webhook]]");
    const auto& list = hooks->as_array();
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_table()) top.Fail(list[i], "webhook", "must be a table");
      policy.webhooks.push_back(ReadWebhook(list[i], i, path));
    }
  }
  return policy;
}

bool ListAllows(const std::vector<std::string>& list,
                const std::string& name) {
  return Contains(list, "*") || Contains(list, name);
}

bool HasDotDotSegment(const std::string& arg) {
  for (const auto& segment : SplitString(arg, '/')) {
    if (segment == "..") return true;
  }
  return false;
}

bool RuleMatchesTime(const AutoApproveRule& rule, int64_t now) {
  time_t t = static_cast<time_t>(now);
  struct tm utc {};
  if (gmtime_r(&t, &utc) == nullptr) return false;
  int minute = utc.tm_hour * 60 + utc.tm_min;
  // tm_wday counts from Sunday; the rule's bits count from Monday. A window
  // that wraps past midnight belongs to the day it starts on.
  int weekday = (utc.tm_wday + 6) % 7;
  if (rule.start_minute < rule.end_minute) {
    return minute >= rule.start_minute && minute < rule.end_minute &&
           (rule.days & (1u << weekday)) != 0;
  }
  if (minute >= rule.start_minute) return (rule.days & (1u << weekday)) != 0;
  if (minute < rule.end_minute) {
    int previous_day = (weekday + 6) % 7;
    return (rule.days & (1u << previous_day)) != 0;
  }
  return false;
}

// Returns "" when the entitlement allows the request's run-as groups and
// environment names, else why not.
std::string WhySudoExtrasNotCovered(const Entitlement& e,
                                    const AccessRequest& request) {
  for (const auto& group : request.runas_groups) {
    if (!ListAllows(e.runas_groups, group)) {
      return "run-as group " + group + " is not in its runas_groups";
    }
  }
  for (const auto& name : request.env) {
    if (ListAllows(e.env, name)) continue;
    if (name == "*") {
      return "env \"*\" (the whole environment, sudo -E) is not allowed by "
             "its env";
    }
    return "environment variable " + name + " is not in its env";
  }
  return "";
}

// Returns "" when the entitlement's hosts, run-as users and commands cover
// the request, else why not.
std::string WhyScopeNotCovered(const Entitlement& e,
                               const AccessRequest& request) {
  bool host_ok = false;
  for (const auto& pattern : e.hosts) {
    if (HostWithinPattern(pattern, request.host)) host_ok = true;
  }
  if (!host_ok) return "host " + request.host + " is not in its hosts";

  if (request.kind == "login") {
    return e.login ? "" : "it does not grant login";
  }
  if (e.runas.empty()) return "it does not grant sudo";
  for (const auto& user : request.runas) {
    if (!ListAllows(e.runas, user)) {
      return "run-as user " + user + " is not in its runas";
    }
  }
  for (const auto& entry : request.commands) {
    bool covered = false;
    for (const auto& pattern : e.commands) {
      if (CommandPatternCovers(pattern, entry)) covered = true;
    }
    if (!covered) {
      return "command \"" + EscapeForLog(entry, 128) +
             "\" is not covered by its commands";
    }
  }
  return WhySudoExtrasNotCovered(e, request);
}

// Returns "" when the request keeps to the entitlement's duration, reason
// and approver rules, else why not.
std::string WhyLimitsNotMet(const Entitlement& e,
                            const AccessRequest& request) {
  if (request.duration > e.max_duration) {
    return "duration " + std::to_string(request.duration) +
           "s is over its max_duration of " + std::to_string(e.max_duration) +
           "s";
  }
  if (e.reason_required && request.reason.empty()) {
    return "it requires a reason";
  }
  if (e.reason_regex.has_value() && !request.reason.empty() &&
      !std::regex_search(request.reason, *e.reason_regex)) {
    return "the reason does not match its reason_pattern " + e.reason_pattern;
  }

  int other_approvers = 0;
  for (const auto& approver : e.approvers) {
    if (!SameUserName(approver, request.requester)) ++other_approvers;
  }
  if (!Contains(e.approvers, "*") && other_approvers < e.approvals &&
      e.auto_approve.empty()) {
    return "it needs " + std::to_string(e.approvals) +
           " approvals from people other than " + request.requester +
           " and lists only " + std::to_string(other_approvers);
  }
  return "";
}

// Returns "" when the entitlement covers the request, else why not.
std::string WhyNotCovered(const Entitlement& e, const AccessRequest& request) {
  if (!ListAllows(e.requesters, request.requester)) {
    return request.requester + " is not among its requesters";
  }
  std::string why = WhyScopeNotCovered(e, request);
  if (!why.empty()) return why;
  return WhyLimitsNotMet(e, request);
}

}  // namespace

bool Entitlement::GrantsFullRoot() const {
  for (const auto& command : commands) {
    if (IsFullRootCommand(command)) return true;
  }
  return false;
}

const Entitlement* Policy::Find(const std::string& name) const {
  for (const auto& e : entitlements) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<Policy> ParsePolicy(const std::string& text, const std::string& path) {
  return ParseToml<Policy>(text, path, [&](const TomlValue& root) {
    return ReadPolicy(root, path);
  });
}

Result<Policy> LoadPolicy(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Error{path + ": cannot be read; create it (zsp-broker policy "
                        "default prints a starting point) or fix its "
                        "permissions"};
  }
  std::string text;
  text.resize(kMaxPolicyBytes + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(file.gcount()));
  if (text.size() > kMaxPolicyBytes) {
    return Error{path + ": is over 1 MiB"};
  }
  return ParsePolicy(text, path);
}

std::string DefaultPolicyText() {
  return R"(# zsp-broker policy: every request must match an entitlement.
# Reload with SIGHUP; see docs/policy.md for every field.
#
# This default lets anyone request login, or sudo as any user and group
# with any environment variables for any command, on any host, and needs
# one approval from a person with the approver role. Narrow it before
# production use.

[groups]
# oncall = ["alice", "carol"]

[host_groups]
# web = ["web-*", "www.example.com"]

[[entitlement]]
name = "default"
hosts = ["*"]
requesters = ["*"]
login = true
runas = ["*"]
commands = ["*"]
runas_groups = ["*"]
env = ["*"]
approvers = ["*"]
approvals = 1
max_duration = "8h"
pending_lifetime = "1h"
reason_required = true
)";
}

PolicyVerdict CheckRequestAgainstPolicy(const Policy& policy,
                                        const AccessRequest& request,
                                        int64_t now) {
  PolicyVerdict verdict;
  for (const auto& command : request.commands) {
    if (IsFullRootCommand(command)) verdict.full_root = true;
  }
  std::vector<std::string> reasons;
  for (const auto& e : policy.entitlements) {
    std::string why = WhyNotCovered(e, request);
    if (!why.empty()) {
      reasons.push_back(e.name + ": " + why);
      continue;
    }
    verdict.entitlement = &e;
    for (const auto& rule : e.auto_approve) {
      if (ListAllows(rule.requesters, request.requester) &&
          RuleMatchesTime(rule, now)) {
        verdict.auto_approved_by =
            "auto-approval of entitlement " + e.name + " (" +
            rule.description + ")";
        break;
      }
    }
    return verdict;
  }
  verdict.message = "no entitlement in the policy covers this request";
  for (size_t i = 0; i < reasons.size() && i < kMaxListedRejections; ++i) {
    verdict.message += (i == 0 ? ": " : "; ") + reasons[i];
  }
  if (reasons.size() > kMaxListedRejections) {
    verdict.message += "; and " +
                       std::to_string(reasons.size() - kMaxListedRejections) +
                       " more";
  }
  return verdict;
}

bool MayApprove(const Entitlement& entitlement, const std::string& person) {
  return ListAllows(entitlement.approvers, person);
}

bool ArgumentMatches(const std::string& pattern, const std::string& arg) {
  if (!HasWildcard(pattern)) return pattern == arg;
  if (HasDotDotSegment(arg)) return false;
  return fnmatch(pattern.c_str(), arg.c_str(), 0) == 0;
}

bool CommandPatternCovers(const std::string& pattern,
                          const std::string& entry) {
  if (pattern == "*") return true;
  std::vector<std::string> want = SplitString(pattern, ' ');
  std::vector<std::string> have = SplitString(entry, ' ');
  if (want[0] != have[0]) return false;
  // A pattern of the path alone allows any arguments.
  if (want.size() == 1) return true;
  // A request of the path alone asks for any arguments, which only a
  // pattern of the path alone covers.
  if (have.size() == 1) return false;
  if (want.size() != have.size()) return false;
  for (size_t i = 1; i < want.size(); ++i) {
    if (!ArgumentMatches(want[i], have[i])) return false;
  }
  return true;
}

bool IsFullRootCommand(const std::string& entry) {
  if (entry == "*") return true;
  std::string path = entry.substr(0, entry.find(' '));
  std::string base = path.substr(path.rfind('/') + 1);
  for (const char* shell : kShells) {
    if (base == shell) return true;
  }
  return false;
}

bool HostWithinPattern(const std::string& pattern, const std::string& host) {
  if (!HasWildcard(host)) {
    return fnmatch(pattern.c_str(), host.c_str(), 0) == 0;
  }
  // A requested pattern lies within the policy pattern when they are equal,
  // or when the policy pattern is a prefix followed by a single '*' and the
  // requested pattern starts with that prefix.
  if (pattern == host) return true;
  if (pattern.empty() || pattern.back() != '*') return false;
  std::string prefix = pattern.substr(0, pattern.size() - 1);
  if (HasWildcard(prefix)) return false;
  return host.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace zsp::broker

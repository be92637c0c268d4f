#include "broker/policy.h"

#include <fnmatch.h>

#include <ctime>

#include "common/sudo_env.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

// Longest command suggestion with arguments; longer ones fall back to the
// path alone so that the message stays readable.
constexpr size_t kMaxSuggestedCommandBytes = 512;

bool HasWildcard(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

bool IsShellSafe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         std::string_view("_-./=:,@%+").find(c) != std::string_view::npos;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  for (const auto& item : list) {
    if (item == value) return true;
  }
  return false;
}

std::string FormatUtc(int64_t when) {
  time_t t = static_cast<time_t>(when);
  struct tm tm_utc {};
  if (gmtime_r(&t, &tm_utc) == nullptr) return std::to_string(when);
  char text[32];
  if (strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm_utc) == 0) {
    return std::to_string(when);
  }
  return text;
}

// "sudo as root on web-1" or "login on web-1".
std::string DescribeAccess(const DecisionQuestion& question) {
  if (question.kind == "sudo") {
    std::string access = "sudo as " + question.runas;
    if (!question.runas_group.empty()) {
      access += " with group " + question.runas_group;
    }
    if (!question.env.empty()) access += " with environment variables";
    return access + " on " + question.host;
  }
  return question.kind + " on " + question.host;
}

// When a grant stopped covering anything: its revocation or its end.
int64_t EndedAt(const Grant& grant) {
  return grant.revoked_at.has_value() ? *grant.revoked_at : grant.expires_at;
}

std::string DenyMessage(const DecisionQuestion& question, const Grant* ended) {
  std::string access = DescribeAccess(question);
  std::string suggestion = SuggestRequestCommand(question);
  if (ended == nullptr) {
    return "no active grant for " + access +
           "; request one with: " + suggestion;
  }
  std::string sentence = "your grant " + ended->id + " for " + access;
  if (ended->revoked_at.has_value()) {
    sentence += " was revoked by " + ended->revoked_by.value_or("unknown") +
                " at " + FormatUtc(*ended->revoked_at);
  } else {
    sentence += " expired at " + FormatUtc(ended->expires_at);
  }
  return sentence + "; request a new one with: " + suggestion;
}

std::string SuggestCommandOption(const std::vector<std::string>& argv) {
  if (argv.empty()) return "";
  // A bare path would allow every argument, so a command run without
  // arguments is suggested as PATH "", which allows none.
  if (argv.size() == 1) return " --command " + ShellQuote(argv[0] + " \"\"");
  std::string entry = argv[0];
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    bool representable = !arg.empty() && arg != "\"\"" &&
                         arg.find_first_of(" \t\n") == std::string::npos;
    if (!representable) return " --command " + ShellQuote(argv[0]);
    entry += " " + arg;
  }
  if (entry.size() > kMaxSuggestedCommandBytes) {
    return " --command " + ShellQuote(argv[0]);
  }
  return " --command " + ShellQuote(entry);
}

}  // namespace

bool HostPatternMatches(std::string_view pattern, std::string_view host) {
  if (!HasWildcard(pattern)) return pattern == host;
  std::string pattern_z(pattern);
  std::string host_z(host);
  return fnmatch(pattern_z.c_str(), host_z.c_str(), 0) == 0;
}

bool CommandEntryMatches(std::string_view entry,
                         const std::vector<std::string>& argv) {
  if (argv.empty()) return false;
  std::vector<std::string> words = SplitString(entry, ' ');
  if (words[0] != argv[0]) return false;
  if (words.size() == 1) return true;
  if (words.size() == 2 && words[1] == "\"\"") return argv.size() == 1;
  if (words.size() != argv.size()) return false;
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] != argv[i]) return false;
  }
  return true;
}

bool GrantScopeCovers(const Grant& grant, const DecisionQuestion& question) {
  if (grant.user != question.user || grant.kind != question.kind) return false;
  if (!HostPatternMatches(grant.host, question.host)) return false;
  if (question.kind != "sudo") return true;
  if (!Contains(grant.runas, question.runas)) return false;
  if (!question.runas_group.empty() &&
      !Contains(grant.runas_groups, question.runas_group)) {
    return false;
  }
  if (!Contains(grant.env, kWholeEnvironment)) {
    for (const auto& name : question.env) {
      if (!Contains(grant.env, name)) return false;
    }
  }
  for (const auto& entry : grant.commands) {
    if (CommandEntryMatches(entry, question.argv)) return true;
  }
  return false;
}

DecisionOutcome Decide(const std::vector<Grant>& grants,
                       const DecisionQuestion& question, int64_t now) {
  const Grant* best_active = nullptr;
  const Grant* last_ended = nullptr;
  for (const Grant& grant : grants) {
    if (!GrantScopeCovers(grant, question)) continue;
    if (grant.StateAt(now) == "active") {
      if (best_active == nullptr ||
          grant.expires_at > best_active->expires_at) {
        best_active = &grant;
      }
    } else if (last_ended == nullptr || EndedAt(grant) > EndedAt(*last_ended)) {
      last_ended = &grant;
    }
  }

  DecisionOutcome outcome;
  if (best_active != nullptr) {
    outcome.allow = true;
    outcome.grant = best_active;
    return outcome;
  }
  if (last_ended == nullptr) {
    outcome.code = "no_grant";
  } else {
    outcome.code = last_ended->revoked_at.has_value() ? "revoked" : "expired";
  }
  outcome.message = DenyMessage(question, last_ended);
  return outcome;
}

std::string SuggestRequestCommand(const DecisionQuestion& question) {
  std::string command = "zspctl request --host " + ShellQuote(question.host);
  if (question.kind == "sudo") {
    command += " --sudo --runas " + ShellQuote(question.runas);
    if (!question.runas_group.empty()) {
      command += " --runas-group " + ShellQuote(question.runas_group);
    }
    for (const auto& name : question.env) {
      command += " --env " + ShellQuote(name);
    }
    command += SuggestCommandOption(question.argv);
  } else {
    command += " --login";
  }
  return command + " --duration 1h --reason TEXT";
}

std::string ShellQuote(std::string_view word) {
  bool safe = !word.empty();
  for (char c : word) {
    if (!IsShellSafe(c)) safe = false;
  }
  if (safe) return std::string(word);
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace zsp::broker

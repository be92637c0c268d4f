// Decides whether a host's question is covered by a grant. Pure functions
// over grant records, so that the matching rules can be tested directly.
#ifndef ZSP_BROKER_POLICY_H_
#define ZSP_BROKER_POLICY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/model.h"

namespace zsp::broker {

// What a host asks about: may this user do this, now, on this host?
struct DecisionQuestion {
  std::string user;
  std::string host;
  std::string kind;               // "sudo" or "login"
  std::string runas;              // "" for login
  std::vector<std::string> argv;  // empty for login
  // sudo only: the group given with -g ("" without -g), and the variable
  // names the user sets, sorted, with "*" last for -E.
  std::string runas_group;
  std::vector<std::string> env;
};

struct DecisionOutcome {
  bool allow = false;
  const Grant* grant = nullptr;  // allow: the covering grant
  std::string code;              // deny: no_grant, expired or revoked
  std::string message;           // deny: a sentence for the user
};

// fnmatch(3) without flags; a pattern without wildcards matches exactly.
bool HostPatternMatches(std::string_view pattern, std::string_view host);

// A command entry is a path, optionally followed by space-separated
// arguments. A path alone matches any arguments, a path with arguments only
// exactly those, and the single argument "" only no arguments.
bool CommandEntryMatches(std::string_view entry,
                         const std::vector<std::string>& argv);

// True when the grant's user, host pattern, kind, run-as users, commands,
// run-as groups and environment names cover the question. A grant's env
// entry "*" covers -E and every name. Ignores the grant's state and time.
bool GrantScopeCovers(const Grant& grant, const DecisionQuestion& question);

// Picks the active grant that covers the question and ends last. Without
// one, the deny code comes from the covering grant that ended most
// recently: "revoked" or "expired"; with none at all, "no_grant".
DecisionOutcome Decide(const std::vector<Grant>& grants,
                       const DecisionQuestion& question, int64_t now);

// The zspctl command that requests access for this question.
std::string SuggestRequestCommand(const DecisionQuestion& question);

// Quotes a word for a POSIX shell when it holds anything but safe
// characters.
std::string ShellQuote(std::string_view word);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_POLICY_H_

// After a denial, with a person at a terminal: ask for a reason, file a
// request for exactly what was denied, and wait, with a visible countdown,
// until someone else approves or denies it. Shared by sudo_zsp and the
// optional auth phase of pam_zsp. sudo -n, a missing terminal and a failed
// conversation never get here.
#ifndef ZSP_COMMON_INTERACTIVE_REQUEST_H_
#define ZSP_COMMON_INTERACTIVE_REQUEST_H_

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/decision.h"

namespace zsp {

// The user's terminal, as the host program lends it.
class UserTerminal {
 public:
  virtual ~UserTerminal() = default;
  // Shows one line.
  virtual void Show(const std::string& line) = 0;
  // Overwrites the current status line (no newline); "" ends it.
  virtual void Status(const std::string& text) = 0;
  // Asks with echo on; nullopt when the conversation failed or the user
  // interrupted it.
  virtual std::optional<std::string> Ask(const std::string& prompt) = 0;
  // Asks with echo off, for secrets such as a break-glass token; nullopt
  // as for Ask.
  virtual std::optional<std::string> AskHidden(const std::string& prompt) = 0;
  // Waits; false when a signal (Ctrl-C) interrupted the wait, or arrived
  // since BeginWaiting while the flow was not in Wait.
  virtual bool Wait(int milliseconds) = 0;
  // Called around the wait for an approval, where the flow alternates
  // between Wait and calls to the broker. A terminal that can notice a
  // Ctrl-C during those calls starts watching in BeginWaiting and stops in
  // EndWaiting.
  virtual void BeginWaiting() {}
  virtual void EndWaiting() {}
  // Called around a broker call. The user may stop their own setuid
  // process (Ctrl-Z, SIGSTOP) until the call times out, which looks like
  // an outage. A terminal that can notice the SIGCONT that resumed the
  // process starts watching in BeginStopWatch, and EndStopWatch returns
  // true when the process was stopped and resumed since.
  virtual void BeginStopWatch() {}
  virtual bool EndStopWatch() { return false; }
};

struct InteractiveOutcome {
  Decision decision;       // allow after approval, else a denial
  std::string request_id;  // "" when no request was filed
  std::string why;         // for the log, when no allow came of it
};

// Runs the request-and-wait flow for query after `denial`. Every outcome
// except a fresh signed allow is a denial.
InteractiveOutcome RequestAndWait(const HostConfig& config,
                                  const std::vector<PinnedKey>& keys,
                                  const DecisionQuery& query,
                                  const Decision& denial,
                                  UserTerminal* terminal);

}  // namespace zsp

#endif  // ZSP_COMMON_INTERACTIVE_REQUEST_H_

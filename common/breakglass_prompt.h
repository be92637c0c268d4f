// The terminal side of break-glass access, shared by sudo_zsp and the auth
// phase of pam_zsp: ask for a token, verify it offline, spend it, and
// describe the attempt for the audit record. The caller decides when to
// offer it (only when the broker cannot be reached, unless
// breakglass_with_broker is set) and writes the record.
#ifndef ZSP_COMMON_BREAKGLASS_PROMPT_H_
#define ZSP_COMMON_BREAKGLASS_PROMPT_H_

#include <cstring>
#include <string>

#include "common/breakglass.h"
#include "common/config.h"
#include "common/interactive_request.h"
#include "common/journal.h"

namespace zsp {

struct EmergencyOutcome {
  // Copies only, no moves: a moved-from string may keep its bytes in the
  // small-string buffer, and every copy of text is zeroed here.
  EmergencyOutcome() = default;
  EmergencyOutcome(const EmergencyOutcome&) = default;
  EmergencyOutcome& operator=(const EmergencyOutcome&) = default;
  ~EmergencyOutcome() { explicit_bzero(text.data(), text.size()); }

  bool presented = false;  // the user entered a token
  // Valid for this use, and spent on this host unless the caller asked to
  // spend it later with SpendAcceptedToken.
  bool allowed = false;
  BreakGlassToken token;   // decoded fields, when decoding succeeded
  std::string status;      // BreakGlassStatusName, or "spent", "spend-failed"
  std::string log_reason;  // for the log when not allowed
  // The token text when allowed, kept only to place the work with
  // zsp-agent. The token may still open other hosts that its pattern
  // matches, so it is zeroed on destruction.
  std::string text;
};

// True when config lists break-glass keys and the broker's verdict opens
// the emergency path: kUnavailable always, a signed denial only with
// breakglass_with_broker.
bool OffersBreakGlass(const HostConfig& config, bool broker_unavailable,
                      bool broker_denied);

// Asks for a token on terminal and verifies it for use. If it is valid
// and spend is true, records it as spent in config.spool_dir before
// returning allowed. With spend false the caller spends it with
// SpendAcceptedToken once the work is placed, so that a use denied after
// the check leaves the token unspent. An empty reply or a failed
// conversation returns presented == false.
EmergencyOutcome AskForBreakGlassToken(const HostConfig& config,
                                       const BreakGlassUse& use,
                                       UserTerminal* terminal,
                                       bool spend = true);

// Records the accepted token of outcome as spent in config.spool_dir and
// shows the user that emergency access is open. If the token was spent
// already or the spool cannot record it, clears outcome->allowed and sets
// its status and log_reason, and shows the user why.
void SpendAcceptedToken(const HostConfig& config, int64_t now,
                        EmergencyOutcome* outcome, UserTerminal* terminal);

// Adds the ZSP_BREAKGLASS* fields of an attempt to record and makes it a
// break-glass denial at alert priority. A caller that then commits an
// allow switches the event to kBreakGlassAllow.
void MarkBreakGlassRecord(AuditRecord* record, const EmergencyOutcome& outcome);

}  // namespace zsp

#endif  // ZSP_COMMON_BREAKGLASS_PROMPT_H_

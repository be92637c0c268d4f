// The pam_zsp login decision: is there an active login grant for this user
// on this host? The PAM entry file (pam_zsp/pam_zsp.cc) maps the result to
// PAM return codes.
#ifndef ZSP_COMMON_LOGIN_CHECK_H_
#define ZSP_COMMON_LOGIN_CHECK_H_

#include <cstdint>
#include <string>

#include "common/breakglass_prompt.h"
#include "common/journal.h"

namespace zsp {

struct LoginContext {
  std::string user;     // PAM_USER: the account being entered
  std::string service;  // PAM_SERVICE
  std::string rhost;    // PAM_RHOST, untrusted, never resolved
  std::string ruser;    // PAM_RUSER, untrusted
  std::string tty;      // PAM_TTY
  std::string config_path;
  std::string phase;    // "account" or "session"
};

enum class LoginResult {
  kAllow,
  kNoGrant,      // no grant, or a grant that was revoked
  kExpired,      // the matching grant has ended
  kUnavailable,  // broker unreachable, or its answer failed verification
  kConfigError,  // the host configuration or keys are unusable
  kAuditError,   // the decision could not be written to the journal
};

struct LoginOutcome {
  LoginResult result = LoginResult::kNoGrant;
  std::string user_message;  // for the PAM conversation, already escaped
  std::string log_line;      // for pam_syslog, already escaped
  std::string grant;
  int64_t grant_expires = 0;
  std::string spool_dir;     // where this decision was recorded
  // True only when no broker could be reached; an answer that failed
  // verification is kUnavailable too but leaves this false.
  bool broker_unreachable = false;
};

// Asks the broker and writes a login allow or deny record to the journal.
LoginOutcome CheckLogin(const LoginContext& context);

// Records a break-glass attempt in the auth phase (an alert record, allow
// or deny) for the user and host it was presented for. An allow whose
// record fails becomes kAuditError.
LoginOutcome RecordBreakGlassLogin(const LoginContext& context,
                                   const EmergencyOutcome& emergency,
                                   const std::string& host,
                                   const std::string& spool_dir);

// The account or session phase after the auth phase accepted break-glass
// token token_id: allows until expires without asking the broker, and
// records a login allow naming the token. In the session phase it first
// sends token text to zsp-agent to place the session, under the agent
// rule of the configuration.
LoginOutcome CheckBreakGlassLogin(const LoginContext& context,
                                  const std::string& token_id,
                                  int64_t expires, const std::string& text);

// Commits a session open or close record; returns "" or what failed.
std::string RecordSession(const LoginContext& context, AuditEvent event,
                          const std::string& grant, int64_t grant_expires,
                          const std::string& spool_dir);

}  // namespace zsp

#endif  // ZSP_COMMON_LOGIN_CHECK_H_

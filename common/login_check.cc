#include "common/login_check.h"

#include <syslog.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <ctime>

#include "common/audit_spool.h"
#include "common/config.h"
#include "common/agent_protocol.h"
#include "common/decision.h"
#include "common/decision_cache.h"
#include "common/escape.h"

namespace zsp {
namespace {

constexpr char kIdentifier[] = "pam_zsp";

std::string LocalHostName() {
  char name[HOST_NAME_MAX + 1] = "";
  if (gethostname(name, sizeof name) != 0) return "";
  name[HOST_NAME_MAX] = '\0';
  return name;
}

AuditRecord BaseRecord(const LoginContext& c, AuditEvent event, int priority) {
  AuditRecord record(event, priority, kIdentifier);
  record.Add("ZSP_USER", c.user)
      .Add("ZSP_KIND", "login")
      .Add("ZSP_SERVICE", c.service)
      .Add("ZSP_RHOST", c.rhost)
      .Add("ZSP_RUSER", c.ruser)
      .Add("ZSP_TTY", c.tty)
      .Add("ZSP_PHASE", c.phase);
  return record;
}

}  // namespace

LoginOutcome CheckLogin(const LoginContext& context) {
  LoginOutcome out;
  AuditRecord record =
      BaseRecord(context, AuditEvent::kLoginDeny, LOG_NOTICE);
  std::string who = "user=" + EscapeForLog(context.user, 64) +
                    " service=" + EscapeForLog(context.service, 64) +
                    " rhost=" + EscapeForLog(context.rhost, 128);
  std::string spool_dir = kDefaultSpoolDir;
  auto finish = [&](LoginResult result, const std::string& reason,
                    const std::string& user_text) {
    out.result = result;
    out.user_message = user_text;
    out.log_line = "deny " + who + " reason=" + EscapeForLog(reason, 256);
    record.Add("ZSP_DECISION", "deny").Add("ZSP_REASON", reason);
    record.SetMessage(out.log_line);
    record.Commit(spool_dir);  // a failed record cannot weaken a denial
    return out;
  };

  auto config = LoadHostConfig(context.config_path);
  if (!config.ok()) {
    return finish(LoginResult::kConfigError, "configuration: " + config.error(),
                  "zsp: login denied: the host configuration is invalid");
  }
  spool_dir = config.value().spool_dir;
  out.spool_dir = spool_dir;
  auto keys = LoadPinnedKeys(config.value());
  if (!keys.ok()) {
    return finish(LoginResult::kConfigError, "configuration: " + keys.error(),
                  "zsp: login denied: the host configuration is invalid");
  }

  DecisionQuery query;
  query.user = context.user;
  query.host = config.value().host.empty() ? LocalHostName()
                                           : config.value().host;
  query.kind = "login";
  record.Add("ZSP_HOST", query.host)
      .Add("ZSP_BROKER", config.value().broker_url);

  std::string cache_problem;
  Decision decision =
      AskBrokerCached(config.value(), keys.value(), query, &cache_problem);
  if (!cache_problem.empty()) record.Add("ZSP_CACHE_PROBLEM", cache_problem);
  if (decision.cached) record.Add("ZSP_CACHED", "1");
  record.Add("ZSP_PATH", decision.path)
      .Add("ZSP_RELAY_PROBLEM", decision.relay_problem);
  record.Add("ZSP_VERDICT", VerdictName(decision.verdict));
  switch (decision.verdict) {
    case Verdict::kAllow:
      break;
    case Verdict::kDeny:
      record.Add("ZSP_DENY_CODE", decision.code);
      return finish(
          decision.code == "expired" ? LoginResult::kExpired
                                     : LoginResult::kNoGrant,
          decision.code.empty() ? "denied" : decision.code,
          "zsp: login denied: " + EscapeForLog(decision.message, 1024));
    case Verdict::kUnavailable:
      // A rejection is an answer, so break-glass is not offered for it.
      if (decision.rejected) {
        return finish(LoginResult::kUnavailable, decision.detail,
                      "zsp: login denied: the access broker rejected the "
                      "request (" + EscapeForLog(decision.detail, 256) +
                          "); ask an administrator");
      }
      out.broker_unreachable = true;
      return finish(LoginResult::kUnavailable,
                    "broker unavailable: " + decision.detail,
                    "zsp: login denied: the access broker could not be "
                    "reached; try again later");
    case Verdict::kInvalid:
      record.Add("ZSP_ALERT", "invalid-decision");
      return finish(LoginResult::kUnavailable, decision.detail,
                    decision.clock_mismatch
                        ? "zsp: login denied: the broker's answer failed "
                          "verification: its time does not match this "
                          "host's clock"
                        : "zsp: login denied: the broker's answer failed "
                          "verification");
    case Verdict::kError:
      return finish(LoginResult::kConfigError, decision.detail,
                    "zsp: login denied: the check failed on this host; "
                    "try again, or ask an administrator");
  }

  // The session phase runs in the process that starts the user's work
  // (sshd's per-connection process, su), so placing it places the work.
  if (context.phase == "session") {
    Placement placement =
        PlaceUnderGrant(config.value(), decision.token,
                        decision.requested_at);
    record.Add("ZSP_CGROUP", placement.cgroup);
    if (!placement.allowed) {
      return finish(LoginResult::kUnavailable, "agent: " + placement.problem,
                    "zsp: login denied: the session could not be placed "
                    "under its grant (" +
                        EscapeForLog(placement.problem, 256) +
                        "); ask an administrator");
    }
    record.Add("ZSP_AGENT_WARNING", placement.problem);
  }

  out.grant = decision.grant;
  out.grant_expires = decision.grant_expires;
  out.log_line = "allow " + who + " grant=" + decision.grant +
                 " expires=" + std::to_string(decision.grant_expires);
  record.SetEvent(AuditEvent::kLoginAllow, LOG_INFO);
  record.Add("ZSP_DECISION", "allow")
      .Add("ZSP_GRANT", decision.grant)
      .Add("ZSP_REQUEST", decision.request)
      .Add("ZSP_GRANT_EXPIRES", std::to_string(decision.grant_expires));
  record.SetMessage(out.log_line);
  std::string failure = record.Commit(spool_dir);
  if (!failure.empty()) {
    record.CommitCorrection(spool_dir, failure);
    out.result = LoginResult::kAuditError;
    out.log_line = "deny " + who + " reason=audit failure: " +
                   EscapeForLog(failure, 256);
    out.user_message =
        "zsp: login denied: the decision could not be recorded";
    return out;
  }
  out.result = LoginResult::kAllow;
  return out;
}

LoginOutcome RecordBreakGlassLogin(const LoginContext& context,
                                   const EmergencyOutcome& emergency,
                                   const std::string& host,
                                   const std::string& spool_dir) {
  LoginOutcome out;
  out.spool_dir = spool_dir;
  AuditRecord record = BaseRecord(context, AuditEvent::kLoginDeny, LOG_NOTICE);
  record.Add("ZSP_HOST", host);
  MarkBreakGlassRecord(&record, emergency);
  std::string who = "user=" + EscapeForLog(context.user, 64) +
                    " service=" + EscapeForLog(context.service, 64) +
                    " rhost=" + EscapeForLog(context.rhost, 128) +
                    " token=" + EscapeForLog(emergency.token.id, 32);
  if (!emergency.allowed) {
    out.result = LoginResult::kNoGrant;
    out.log_line = "deny-break-glass " + who + " reason=" +
                   EscapeForLog(emergency.log_reason, 256);
    out.user_message = "zsp: login denied: the break-glass token was not "
                       "accepted";
    record.Add("ZSP_DECISION", "deny").Add("ZSP_REASON", emergency.log_reason);
    record.SetMessage(out.log_line);
    record.Commit(spool_dir);  // a failed record cannot weaken a denial
    return out;
  }
  out.grant = emergency.token.id;
  out.grant_expires = emergency.token.expires;
  record.SetEvent(AuditEvent::kBreakGlassAllow, LOG_ALERT);
  out.log_line = "allow-break-glass " + who +
                 " expires=" + std::to_string(emergency.token.expires);
  record.Add("ZSP_DECISION", "allow")
      .Add("ZSP_GRANT", emergency.token.id)
      .Add("ZSP_GRANT_EXPIRES", std::to_string(emergency.token.expires));
  record.SetMessage(out.log_line);
  std::string failure = record.Commit(spool_dir);
  if (!failure.empty()) {
    record.CommitCorrection(spool_dir, failure);
    out.result = LoginResult::kAuditError;
    out.log_line = "deny-break-glass " + who + " reason=audit failure: " +
                   EscapeForLog(failure, 256);
    out.user_message = "zsp: login denied: the decision could not be recorded";
    return out;
  }
  out.result = LoginResult::kAllow;
  return out;
}

LoginOutcome CheckBreakGlassLogin(const LoginContext& context,
                                  const std::string& token_id,
                                  int64_t expires, const std::string& text) {
  LoginOutcome out;
  auto config = LoadHostConfig(context.config_path);
  out.spool_dir = config.ok() ? config.value().spool_dir : kDefaultSpoolDir;
  AuditRecord record = BaseRecord(context, AuditEvent::kLoginDeny, LOG_NOTICE);
  record.Add("ZSP_BREAKGLASS_TOKEN", token_id)
      .Add("ZSP_GRANT", token_id)
      .Add("ZSP_GRANT_EXPIRES", std::to_string(expires));
  std::string who = "user=" + EscapeForLog(context.user, 64) +
                    " service=" + EscapeForLog(context.service, 64) +
                    " token=" + token_id;
  if (static_cast<int64_t>(time(nullptr)) >= expires) {
    out.result = LoginResult::kExpired;
    out.log_line = "deny " + who + " reason=break-glass token expired";
    out.user_message = "zsp: login denied: the break-glass token has expired";
    record.Add("ZSP_DECISION", "deny").Add("ZSP_REASON", "break-glass expired");
    record.SetMessage(out.log_line);
    record.Commit(out.spool_dir);
    return out;
  }
  if (context.phase == "session") {
    // The configuration was read for the auth phase of this handle, so a
    // failure here is new; it denies like any unplaceable work.
    if (!config.ok()) {
      out.result = LoginResult::kConfigError;
      out.log_line = "deny " + who + " reason=configuration: " +
                     EscapeForLog(config.error(), 256);
      out.user_message = "zsp: login denied: the host configuration is "
                         "invalid";
      return out;
    }
    Placement placement = PlaceUnderBreakGlass(config.value(), text);
    record.Add("ZSP_CGROUP", placement.cgroup);
    if (!placement.allowed) {
      out.result = LoginResult::kUnavailable;
      out.log_line = "deny " + who + " reason=agent: " +
                     EscapeForLog(placement.problem, 256);
      out.user_message = "zsp: login denied: the session could not be "
                         "placed under its break-glass token (" +
                         EscapeForLog(placement.problem, 256) +
                         "); ask an administrator";
      record.Add("ZSP_DECISION", "deny")
          .Add("ZSP_REASON", "agent: " + placement.problem);
      record.SetMessage(out.log_line);
      record.Commit(out.spool_dir);
      return out;
    }
    record.Add("ZSP_AGENT_WARNING", placement.problem);
  }
  out.grant = token_id;
  out.grant_expires = expires;
  out.log_line = "allow " + who + " expires=" + std::to_string(expires);
  record.SetEvent(AuditEvent::kLoginAllow, LOG_INFO);
  record.Add("ZSP_DECISION", "allow");
  record.SetMessage(out.log_line);
  std::string failure = record.Commit(out.spool_dir);
  if (!failure.empty()) {
    record.CommitCorrection(out.spool_dir, failure);
    out.result = LoginResult::kAuditError;
    out.log_line = "deny " + who + " reason=audit failure: " +
                   EscapeForLog(failure, 256);
    out.user_message = "zsp: login denied: the decision could not be recorded";
    return out;
  }
  out.result = LoginResult::kAllow;
  return out;
}

std::string RecordSession(const LoginContext& context, AuditEvent event,
                          const std::string& grant, int64_t grant_expires,
                          const std::string& spool_dir) {
  AuditRecord record = BaseRecord(context, event, LOG_INFO);
  bool open = event == AuditEvent::kSessionOpen;
  record.Add("ZSP_GRANT", grant);
  if (grant_expires > 0) {
    record.Add("ZSP_GRANT_EXPIRES", std::to_string(grant_expires));
  }
  record.SetMessage(std::string(open ? "session-open" : "session-close") +
                    " user=" + EscapeForLog(context.user, 64) +
                    " service=" + EscapeForLog(context.service, 64) +
                    " grant=" + grant);
  return record.Commit(spool_dir);
}

}  // namespace zsp

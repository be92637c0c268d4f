// pam_zsp.so: the PAM ABI. Each pam_sm_* function is a noexcept shim around
// zsp::CheckLogin; every error path ends in a denial, never PAM_SUCCESS or
// PAM_IGNORE.
//
// Arguments: conf=PATH (default /etc/zsp/zsp.conf), debug.
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/audit_spool.h"
#include "common/config.h"
#include "common/escape.h"
#include "common/login_check.h"

namespace {

constexpr char kGrantData[] = "zsp.grant";
// pam_systemd(8) applies this PAM data as the session scope's RuntimeMaxSec.
constexpr char kRuntimeMaxData[] = "systemd.runtime_max_sec";

std::string GetItem(pam_handle_t* pamh, int item) {
  const void* value = nullptr;
  if (pam_get_item(pamh, item, &value) != PAM_SUCCESS || value == nullptr) {
    return "";
  }
  return static_cast<const char*>(value);
}

// Parses module arguments; returns false (and logs) on an unknown one.
bool ParseArgs(pam_handle_t* pamh, int argc, const char** argv,
               zsp::LoginContext* context, bool* debug) {
  std::vector<std::string> args(argv, argv + (argc > 0 ? argc : 0));
  auto options = zsp::ParseModuleOptions(args);
  if (!options.ok()) {
    pam_syslog(pamh, LOG_ERR, "invalid module arguments: %s",
               zsp::EscapeForLog(options.error(), 256).c_str());
    return false;
  }
  context->config_path = options.value().config_path;
  *debug = options.value().debug;
  return true;
}

void FreeString(pam_handle_t* /*pamh*/, void* data, int /*error_status*/) {
  std::free(data);
}

// Builds the context for this call; returns a PAM error code or PAM_SUCCESS.
int LoadContext(pam_handle_t* pamh, int argc, const char** argv,
                const char* phase, zsp::LoginContext* context) {
  bool debug = false;
  if (!ParseArgs(pamh, argc, argv, context, &debug)) return PAM_SERVICE_ERR;
  const char* user = nullptr;
  if (pam_get_user(pamh, &user, nullptr) != PAM_SUCCESS || user == nullptr ||
      user[0] == '\0') {
    pam_syslog(pamh, LOG_ERR, "cannot determine the user name");
    return PAM_USER_UNKNOWN;
  }
  context->user = user;
  context->service = GetItem(pamh, PAM_SERVICE);
  context->rhost = GetItem(pamh, PAM_RHOST);
  context->ruser = GetItem(pamh, PAM_RUSER);
  context->tty = GetItem(pamh, PAM_TTY);
  context->phase = phase;
  if (debug) {
    pam_syslog(pamh, LOG_DEBUG, "%s: checking user=%s conf=%s", phase,
               zsp::EscapeForLog(user, 64).c_str(),
               context->config_path.c_str());
  }
  return PAM_SUCCESS;
}

// Logs the outcome once and shows the user why, then maps it to PAM.
int Report(pam_handle_t* pamh, const zsp::LoginOutcome& outcome,
           int deny_code_for_no_grant) {
  int priority = outcome.result == zsp::LoginResult::kAllow ? LOG_INFO
                                                            : LOG_NOTICE;
  pam_syslog(pamh, priority, "%s", outcome.log_line.c_str());
  if (outcome.result != zsp::LoginResult::kAllow &&
      !outcome.user_message.empty()) {
    // The conversation may be unable to show it (sshd account phase); the
    // decision does not depend on it.
    pam_error(pamh, "%s", outcome.user_message.c_str());
  }
  switch (outcome.result) {
    case zsp::LoginResult::kAllow:
      return PAM_SUCCESS;
    case zsp::LoginResult::kNoGrant:
      return deny_code_for_no_grant;
    case zsp::LoginResult::kExpired:
      return deny_code_for_no_grant == PAM_SESSION_ERR ? PAM_SESSION_ERR
                                                       : PAM_ACCT_EXPIRED;
    case zsp::LoginResult::kUnavailable:
      return deny_code_for_no_grant == PAM_SESSION_ERR ? PAM_SESSION_ERR
                                                       : PAM_AUTHINFO_UNAVAIL;
    case zsp::LoginResult::kConfigError:
    case zsp::LoginResult::kAuditError:
      return deny_code_for_no_grant == PAM_SESSION_ERR ? PAM_SESSION_ERR
                                                       : PAM_SERVICE_ERR;
  }
  return PAM_SERVICE_ERR;
}

int OpenSession(pam_handle_t* pamh, int argc, const char** argv) {
  zsp::LoginContext context;
  int rc = LoadContext(pamh, argc, argv, "session", &context);
  if (rc != PAM_SUCCESS) return PAM_SESSION_ERR;
  // Applications that never run the account phase are caught here.
  zsp::LoginOutcome outcome = zsp::CheckLogin(context);
  rc = Report(pamh, outcome, PAM_SESSION_ERR);
  if (rc != PAM_SUCCESS) return rc;

  long remaining = static_cast<long>(outcome.grant_expires - time(nullptr));
  if (remaining < 1) return PAM_SESSION_ERR;
  std::string seconds = std::to_string(remaining);
  char* limit = strdup(seconds.c_str());
  char* grant = strdup(outcome.grant.c_str());
  if (limit == nullptr || grant == nullptr) {
    std::free(limit);
    std::free(grant);
    return PAM_SESSION_ERR;
  }
  if (pam_set_data(pamh, kRuntimeMaxData, limit, FreeString) != PAM_SUCCESS ||
      pam_set_data(pamh, kGrantData, grant, FreeString) != PAM_SUCCESS) {
    return PAM_SESSION_ERR;
  }
  std::string id_var = "ZSP_GRANT_ID=" + outcome.grant;
  std::string expires_var =
      "ZSP_GRANT_EXPIRES=" + std::to_string(outcome.grant_expires);
  if (pam_putenv(pamh, id_var.c_str()) != PAM_SUCCESS ||
      pam_putenv(pamh, expires_var.c_str()) != PAM_SUCCESS) {
    return PAM_SESSION_ERR;
  }
  std::string failure =
      zsp::RecordSession(context, zsp::AuditEvent::kSessionOpen, outcome.grant,
                         outcome.grant_expires, outcome.spool_dir);
  if (!failure.empty()) {
    pam_syslog(pamh, LOG_ERR, "session open could not be recorded: %s",
               zsp::EscapeForLog(failure, 256).c_str());
    return PAM_SESSION_ERR;
  }
  return PAM_SUCCESS;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int pam_sm_acct_mgmt(
    pam_handle_t* pamh, int /*flags*/, int argc, const char** argv) noexcept {
  try {
    zsp::LoginContext context;
    int rc = LoadContext(pamh, argc, argv, "account", &context);
    if (rc != PAM_SUCCESS) return rc;
    return Report(pamh, zsp::CheckLogin(context), PAM_PERM_DENIED);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error in account phase");
    return PAM_SERVICE_ERR;
  }
}

__attribute__((visibility("default"))) int pam_sm_open_session(
    pam_handle_t* pamh, int /*flags*/, int argc, const char** argv) noexcept {
  try {
    return OpenSession(pamh, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error in session phase");
    return PAM_SESSION_ERR;
  }
}

__attribute__((visibility("default"))) int pam_sm_close_session(
    pam_handle_t* pamh, int /*flags*/, int argc, const char** argv) noexcept {
  try {
    zsp::LoginContext context;
    if (LoadContext(pamh, argc, argv, "session", &context) != PAM_SUCCESS) {
      return PAM_SESSION_ERR;
    }
    const void* grant = nullptr;
    pam_get_data(pamh, kGrantData, &grant);
    std::string grant_id = grant ? static_cast<const char*>(grant) : "";
    // The spool is the default one unless the configuration says otherwise.
    auto config = zsp::LoadHostConfig(context.config_path);
    std::string spool_dir =
        config.ok() ? config.value().spool_dir : zsp::kDefaultSpoolDir;
    std::string failure = zsp::RecordSession(
        context, zsp::AuditEvent::kSessionClose, grant_id, 0, spool_dir);
    if (!failure.empty()) {
      pam_syslog(pamh, LOG_ERR, "session close could not be recorded: %s",
                 zsp::EscapeForLog(failure, 256).c_str());
    }
    return PAM_SUCCESS;
  } catch (...) {
    return PAM_SESSION_ERR;
  }
}

}  // extern "C"

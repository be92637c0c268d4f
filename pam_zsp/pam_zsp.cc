// pam_zsp.so: the PAM ABI. Each pam_sm_* function is a noexcept shim around
// zsp::CheckLogin; every error path ends in a denial, never PAM_SUCCESS or
// PAM_IGNORE. PAM_IGNORE is returned only for a user or service that the
// module arguments explicitly place out of scope (skip_users=,
// skip_services=).
//
// Whose grant: always PAM_USER, the account being entered (the target user
// in su, the invoking user in sudo, the job's owner in cron). PAM_RHOST,
// PAM_RUSER and PAM_TTY are recorded as given and never resolved or
// trusted.
//
// Arguments (docs/pam_zsp.md, pam_zsp(8)): conf=PATH, debug,
// skip_users=A,B, skip_services=A,B, request, breakglass. Any other argument is
// PAM_SERVICE_ERR. The auth phase's wait and the duration it asks for are
// request_wait and request_duration in zsp.conf.
//
// Host-process rules: no exception leaves these functions, nothing calls
// exit, abort, openlog or closelog (pam_syslog only), and no signal
// disposition, alarm or timer changes. The wait in the auth phase sleeps
// with clock_nanosleep on CLOCK_MONOTONIC.
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>
#include <unistd.h>

#include <charconv>
#include <climits>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/agent_protocol.h"
#include "common/audit_spool.h"
#include "common/breakglass_prompt.h"
#include "common/config.h"
#include "common/escape.h"
#include "common/decision.h"
#include "common/interactive_request.h"
#include "common/login_check.h"
#include "common/text.h"

namespace {

constexpr char kGrantData[] = "zsp.grant";
// Set by the auth phase after it accepted a break-glass token:
// "USER TOKEN_ID EXPIRES". Only modules in this process can set PAM data,
// so the application cannot forge it.
constexpr char kBreakGlassData[] = "zsp.breakglass";
// pam_systemd(8) applies this PAM data as the session scope's RuntimeMaxSec.
constexpr char kRuntimeMaxData[] = "systemd.runtime_max_sec";

constexpr size_t kMaxListEntries = 64;

struct PamOptions {
  zsp::ModuleOptions common;               // conf=, debug
  std::vector<std::string> skip_users;     // skip_users=
  std::vector<std::string> skip_services;  // skip_services=
  bool request = false;                    // request
  bool breakglass = false;                 // breakglass
};

std::string GetItem(pam_handle_t* pamh, int item) {
  const void* value = nullptr;
  if (pam_get_item(pamh, item, &value) != PAM_SUCCESS || value == nullptr) {
    return "";
  }
  return static_cast<const char*>(value);
}

// Parses "a,b,c": names of users or services, no empty entries, no
// whitespace or control characters.
bool ParseList(std::string_view text, std::vector<std::string>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    if (item.empty() || item.size() > 256) return false;
    for (unsigned char c : item) {
      if (c <= ' ' || c == 0x7f) return false;
    }
    out->emplace_back(item);
    if (out->size() > kMaxListEntries) return false;
    start = end + 1;
  }
  return !out->empty();
}

// Parses module arguments. On failure logs one line that names the
// argument and returns false.
bool ParseArgs(pam_handle_t* pamh, int argc, const char** argv,
               PamOptions* options) {
  std::vector<std::string> rest;
  for (int i = 0; i < argc && argv != nullptr; ++i) {
    if (argv[i] == nullptr) continue;
    std::string arg = argv[i];
    std::string problem;
    auto value_of = [&](std::string_view key) -> std::string_view {
      return std::string_view(arg).substr(key.size());
    };
    if (arg.rfind("skip_users=", 0) == 0) {
      if (!ParseList(value_of("skip_users="), &options->skip_users)) {
        problem = "skip_users= needs a comma-separated list of user names";
      }
    } else if (arg.rfind("skip_services=", 0) == 0) {
      if (!ParseList(value_of("skip_services="), &options->skip_services)) {
        problem = "skip_services= needs a comma-separated list of services";
      }
    } else if (arg == "request") {
      options->request = true;
    } else if (arg == "breakglass") {
      options->breakglass = true;
    } else {
      rest.push_back(arg);
      continue;
    }
    if (!problem.empty()) {
      pam_syslog(pamh, LOG_ERR, "invalid module argument \"%s\": %s",
                 zsp::EscapeForLog(arg, 256).c_str(), problem.c_str());
      return false;
    }
  }
  auto common = zsp::ParseModuleOptions(rest);
  if (!common.ok()) {
    pam_syslog(pamh, LOG_ERR, "invalid module arguments: %s",
               zsp::EscapeForLog(common.error(), 512).c_str());
    return false;
  }
  options->common = common.value();
  return true;
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  for (const auto& entry : list) {
    if (entry == item) return true;
  }
  return false;
}

void FreeString(pam_handle_t* /*pamh*/, void* data, int /*error_status*/) {
  std::free(data);
}

// Frees data that contains a break-glass token after zeroing it, because
// the token may still open other hosts.
void ZeroAndFreeString(pam_handle_t* /*pamh*/, void* data,
                       int /*error_status*/) {
  if (data != nullptr) {
    explicit_bzero(data, std::strlen(static_cast<char*>(data)));
  }
  std::free(data);
}

// Stores a copy of value as PAM data under name; false on failure. A
// secret value is zeroed when PAM frees it.
bool SetStringData(pam_handle_t* pamh, const char* name,
                   const std::string& value, bool secret = false) {
  char* copy = strdup(value.c_str());
  if (copy == nullptr) return false;
  if (pam_set_data(pamh, name, copy,
                   secret ? ZeroAndFreeString : FreeString) != PAM_SUCCESS) {
    explicit_bzero(copy, std::strlen(copy));
    std::free(copy);
    return false;
  }
  return true;
}

// A break-glass token that this handle's auth phase accepted.
struct AcceptedToken {
  std::string id;
  int64_t expires = 0;
  std::string text;  // for placement with zsp-agent
  ~AcceptedToken() { explicit_bzero(text.data(), text.size()); }
};

// The break-glass token that this handle's auth phase accepted for user,
// if any. kBreakGlassData is "USER ID EXPIRES TOKEN"; no field contains a
// space.
std::optional<AcceptedToken> AcceptedBreakGlass(pam_handle_t* pamh,
                                                const std::string& user) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kBreakGlassData, &data) != PAM_SUCCESS ||
      data == nullptr) {
    return std::nullopt;
  }
  std::vector<std::string> parts =
      zsp::SplitString(static_cast<const char*>(data), ' ');
  std::optional<AcceptedToken> out;
  int64_t expires = 0;
  if (parts.size() == 4 && parts[0] == user) {
    const std::string& number = parts[2];
    auto [end, ec] = std::from_chars(
        number.data(), number.data() + number.size(), expires);
    if (ec == std::errc() && end == number.data() + number.size()) {
      out.emplace();
      out->id = parts[1];
      out->expires = expires;
      out->text = parts[3];
    }
  }
  for (auto& part : parts) explicit_bzero(part.data(), part.size());
  return out;
}

// The account and session check: under a break-glass token accepted in
// this handle's auth phase, without the broker; otherwise the broker's.
zsp::LoginOutcome CheckLoginOrBreakGlass(pam_handle_t* pamh,
                                         const zsp::LoginContext& context) {
  auto accepted = AcceptedBreakGlass(pamh, context.user);
  if (accepted) {
    return zsp::CheckBreakGlassLogin(context, accepted->id, accepted->expires,
                                     accepted->text);
  }
  return zsp::CheckLogin(context);
}

enum class Setup { kCheck, kSkip, kError, kNoUser };

// Parses the arguments, finds the user and builds the context for this
// call. kSkip means the arguments place this user or service out of scope.
Setup LoadContext(pam_handle_t* pamh, int argc, const char** argv,
                  const char* phase, PamOptions* options,
                  zsp::LoginContext* context) {
  if (!ParseArgs(pamh, argc, argv, options)) return Setup::kError;
  const char* user = nullptr;
  if (pam_get_user(pamh, &user, nullptr) != PAM_SUCCESS || user == nullptr ||
      user[0] == '\0') {
    pam_syslog(pamh, LOG_ERR, "%s: cannot determine the user name", phase);
    return Setup::kNoUser;
  }
  context->user = user;
  context->service = GetItem(pamh, PAM_SERVICE);
  context->rhost = GetItem(pamh, PAM_RHOST);
  context->ruser = GetItem(pamh, PAM_RUSER);
  context->tty = GetItem(pamh, PAM_TTY);
  context->phase = phase;
  context->config_path = options->common.config_path;
  std::string who = "user=" + zsp::EscapeForLog(context->user, 64) +
                    " service=" + zsp::EscapeForLog(context->service, 64);
  if (Contains(options->skip_users, context->user) ||
      Contains(options->skip_services, context->service)) {
    pam_syslog(pamh, LOG_NOTICE, "%s: skip %s: out of scope by module arguments",
               phase, who.c_str());
    return Setup::kSkip;
  }
  if (options->common.debug) {
    pam_syslog(pamh, LOG_DEBUG, "%s: checking %s rhost=%s tty=%s conf=%s",
               phase, who.c_str(), zsp::EscapeForLog(context->rhost, 128).c_str(),
               zsp::EscapeForLog(context->tty, 64).c_str(),
               zsp::EscapeForLog(context->config_path, 256).c_str());
  }
  return Setup::kCheck;
}

// Logs the outcome once and, unless PAM_SILENT, shows the user why.
void Report(pam_handle_t* pamh, int flags, const zsp::LoginOutcome& outcome) {
  bool allowed = outcome.result == zsp::LoginResult::kAllow;
  pam_syslog(pamh, allowed ? LOG_INFO : LOG_NOTICE, "%s",
             outcome.log_line.c_str());
  if (!allowed && !outcome.user_message.empty() && !(flags & PAM_SILENT)) {
    // The conversation may be unable to show it (sshd account phase); the
    // decision does not depend on it.
    pam_error(pamh, "%s", outcome.user_message.c_str());
  }
}

// The account phase's mapping, also used by auth for everything but a
// missing grant.
int AccountCode(zsp::LoginResult result) {
  switch (result) {
    case zsp::LoginResult::kAllow:
      return PAM_SUCCESS;
    case zsp::LoginResult::kNoGrant:
      return PAM_PERM_DENIED;
    case zsp::LoginResult::kExpired:
      return PAM_ACCT_EXPIRED;
    case zsp::LoginResult::kUnavailable:
      return PAM_AUTHINFO_UNAVAIL;
    case zsp::LoginResult::kConfigError:
    case zsp::LoginResult::kAuditError:
      return PAM_SERVICE_ERR;
  }
  return PAM_SERVICE_ERR;
}

int Account(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  PamOptions options;
  zsp::LoginContext context;
  switch (LoadContext(pamh, argc, argv, "account", &options, &context)) {
    case Setup::kError:
      return PAM_SERVICE_ERR;
    case Setup::kNoUser:
      return PAM_USER_UNKNOWN;
    case Setup::kSkip:
      return PAM_IGNORE;
    case Setup::kCheck:
      break;
  }
  zsp::LoginOutcome outcome = CheckLoginOrBreakGlass(pamh, context);
  Report(pamh, flags, outcome);
  return AccountCode(outcome.result);
}

int OpenSession(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  PamOptions options;
  zsp::LoginContext context;
  switch (LoadContext(pamh, argc, argv, "session", &options, &context)) {
    case Setup::kError:
      return PAM_SERVICE_ERR;
    case Setup::kNoUser:
      return PAM_SESSION_ERR;
    case Setup::kSkip:
      return PAM_IGNORE;
    case Setup::kCheck:
      break;
  }
  // Applications that never run the account phase are caught here.
  zsp::LoginOutcome outcome = CheckLoginOrBreakGlass(pamh, context);
  Report(pamh, flags, outcome);
  if (outcome.result == zsp::LoginResult::kConfigError ||
      outcome.result == zsp::LoginResult::kAuditError) {
    return PAM_SERVICE_ERR;
  }
  if (outcome.result != zsp::LoginResult::kAllow) return PAM_SESSION_ERR;

  long remaining = static_cast<long>(outcome.grant_expires - time(nullptr));
  if (remaining < 1) return PAM_SESSION_ERR;
  if (!SetStringData(pamh, kRuntimeMaxData, std::to_string(remaining)) ||
      !SetStringData(pamh, kGrantData, outcome.grant)) {
    pam_syslog(pamh, LOG_ERR, "session: cannot store PAM data");
    return PAM_SESSION_ERR;
  }
  std::string id_var = "ZSP_GRANT_ID=" + outcome.grant;
  std::string expires_var =
      "ZSP_GRANT_EXPIRES=" + std::to_string(outcome.grant_expires);
  if (pam_putenv(pamh, id_var.c_str()) != PAM_SUCCESS ||
      pam_putenv(pamh, expires_var.c_str()) != PAM_SUCCESS) {
    pam_syslog(pamh, LOG_ERR, "session: cannot set the environment");
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

int CloseSession(pam_handle_t* pamh, int argc, const char** argv) {
  PamOptions options;
  zsp::LoginContext context;
  switch (LoadContext(pamh, argc, argv, "session", &options, &context)) {
    case Setup::kError:
      return PAM_SERVICE_ERR;
    case Setup::kNoUser:
      return PAM_SESSION_ERR;
    case Setup::kSkip:
      return PAM_IGNORE;
    case Setup::kCheck:
      break;
  }
  const void* grant = nullptr;
  if (pam_get_data(pamh, kGrantData, &grant) != PAM_SUCCESS) grant = nullptr;
  std::string grant_id = grant ? static_cast<const char*>(grant) : "";
  // The spool is the default one unless the configuration sets spool_dir.
  auto config = zsp::LoadHostConfig(context.config_path);
  std::string spool_dir =
      config.ok() ? config.value().spool_dir : zsp::kDefaultSpoolDir;
  std::string failure = zsp::RecordSession(
      context, zsp::AuditEvent::kSessionClose, grant_id, 0, spool_dir);
  if (!failure.empty()) {
    pam_syslog(pamh, LOG_ERR, "session close could not be recorded: %s",
               zsp::EscapeForLog(failure, 256).c_str());
  }
  // Closing cannot be refused; a failed record is logged above.
  return PAM_SUCCESS;
}

// The user's terminal through the PAM conversation, for the shared
// request-and-wait flow (common/interactive_request.h). A conversation
// cannot overwrite a status line, so the countdown is shown only now and
// then.
class PamTerminal : public zsp::UserTerminal {
 public:
  explicit PamTerminal(pam_handle_t* pamh) : pamh_(pamh) {}

  void Show(const std::string& line) override {
    pam_info(pamh_, "%s", line.c_str());
  }
  void Status(const std::string& text) override {
    if (text.empty()) return;
    timespec now = Now();
    if (shown_ && now.tv_sec - last_status_ < kStatusEverySeconds) return;
    shown_ = true;
    last_status_ = now.tv_sec;
    pam_info(pamh_, "%s", text.c_str());
  }
  std::optional<std::string> Ask(const std::string& prompt) override {
    return Converse(prompt, PAM_PROMPT_ECHO_ON);
  }
  std::optional<std::string> AskHidden(const std::string& prompt) override {
    return Converse(prompt, PAM_PROMPT_ECHO_OFF);
  }
  // Sleeps on the monotonic clock, without signals or timers; a signal
  // delivered to the host interrupts the wait, and that denies.
  bool Wait(int milliseconds) override {
    timespec delay{milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    return clock_nanosleep(CLOCK_MONOTONIC, 0, &delay, nullptr) == 0;
  }

  bool conversation_failed() const { return conversation_failed_; }

 private:
  static constexpr long kStatusEverySeconds = 30;
  static timespec Now() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now;
  }

  std::optional<std::string> Converse(const std::string& prompt, int style) {
    char* answer = nullptr;
    int rc = pam_prompt(pamh_, style, &answer, "%s", prompt.c_str());
    if (rc != PAM_SUCCESS || answer == nullptr) {
      std::free(answer);
      conversation_failed_ = true;
      return std::nullopt;
    }
    std::string text = answer;
    explicit_bzero(answer, text.size());
    std::free(answer);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' ||
                             text.back() == ' ' || text.back() == '\t')) {
      text.pop_back();
    }
    size_t first = text.find_first_not_of(" \t");
    return first == std::string::npos ? "" : text.substr(first);
  }

  pam_handle_t* pamh_;
  bool shown_ = false;
  long last_status_ = 0;
  bool conversation_failed_ = false;
};

std::string LocalHostName() {
  char name[HOST_NAME_MAX + 1] = "";
  if (gethostname(name, sizeof name) != 0) return "";
  name[HOST_NAME_MAX] = '\0';
  return name;
}

// Offers the break-glass prompt in the auth phase and records the attempt.
// On an accepted token, stores kBreakGlassData for the account and session
// phases and returns PAM_SUCCESS.
int AuthenticateWithBreakGlass(pam_handle_t* pamh, int flags,
                               const zsp::LoginContext& context,
                               const zsp::HostConfig& config,
                               const std::string& host) {
  PamTerminal terminal(pamh);
  zsp::BreakGlassUse use;
  use.user = context.user;
  use.host = host;
  use.kind = "login";
  use.now = static_cast<int64_t>(time(nullptr));
  zsp::EmergencyOutcome emergency =
      zsp::AskForBreakGlassToken(config, use, &terminal, false);
  if (!emergency.presented) {
    pam_syslog(pamh, LOG_NOTICE, "auth: deny user=%s: %s",
               zsp::EscapeForLog(context.user, 64).c_str(),
               zsp::EscapeForLog(emergency.log_reason, 256).c_str());
    return emergency.status == "configuration" ? PAM_SERVICE_ERR
                                               : PAM_AUTHINFO_UNAVAIL;
  }
  if (emergency.allowed) {
    // zsp-agent places this process before the token is spent, so that a
    // login the agent cannot take leaves the token for another try. The
    // session phase places the session again, because the process that
    // authenticates need not be the one that opens the session.
    zsp::Placement placement = zsp::PlaceUnderBreakGlass(config, emergency.text);
    if (placement.allowed) {
      zsp::SpendAcceptedToken(config, use.now, &emergency, &terminal);
    } else {
      emergency.allowed = false;
      emergency.status = "agent";
      emergency.log_reason = "agent: " + placement.problem;
      terminal.Show("zsp: the login could not be placed under its "
                    "break-glass token (" +
                    zsp::EscapeForLog(placement.problem, 256) +
                    "); the token was not used; ask an administrator");
    }
  }
  zsp::LoginOutcome outcome =
      zsp::RecordBreakGlassLogin(context, emergency, host, config.spool_dir);
  pam_syslog(pamh, LOG_ALERT, "%s", outcome.log_line.c_str());
  if (outcome.result != zsp::LoginResult::kAllow) {
    if (!(flags & PAM_SILENT)) {
      pam_error(pamh, "%s", outcome.user_message.c_str());
    }
    return outcome.result == zsp::LoginResult::kAuditError ? PAM_SERVICE_ERR
                                                           : PAM_AUTH_ERR;
  }
  // The session phase sends the token to zsp-agent to place the session.
  std::string data = context.user + " " + outcome.grant + " " +
                     std::to_string(outcome.grant_expires) + " " +
                     emergency.text;
  bool stored = SetStringData(pamh, kBreakGlassData, data, true);
  explicit_bzero(data.data(), data.size());
  explicit_bzero(emergency.text.data(), emergency.text.size());
  if (!stored) {
    pam_syslog(pamh, LOG_ERR, "auth: cannot store PAM data");
    return PAM_SERVICE_ERR;
  }
  return PAM_SUCCESS;
}

// The optional auth phase (arguments "request" and "breakglass"). With a
// login grant, PAM_SUCCESS. With "breakglass", when the broker cannot be
// reached (or, with breakglass_with_broker, has no grant), asks for a
// break-glass token. With "request" and no grant, asks for a reason,
// files a login request and waits for approval for at most request_wait
// (zsp.conf); the answer is then a fresh signed decision, recorded like
// the account phase's. Prompts only when the conversation can.
int Authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  PamOptions options;
  zsp::LoginContext context;
  switch (LoadContext(pamh, argc, argv, "auth", &options, &context)) {
    case Setup::kError:
      return PAM_SERVICE_ERR;
    case Setup::kNoUser:
      return PAM_USER_UNKNOWN;
    case Setup::kSkip:
      return PAM_IGNORE;
    case Setup::kCheck:
      break;
  }
  if (!options.request && !options.breakglass) {
    pam_syslog(pamh, LOG_ERR,
               "auth: pam_zsp is in the auth stack without the \"request\" "
               "or \"breakglass\" argument; the auth phase is off unless "
               "configured");
    return PAM_SERVICE_ERR;
  }
  zsp::LoginOutcome outcome = zsp::CheckLogin(context);
  bool no_grant = outcome.result == zsp::LoginResult::kNoGrant ||
                  outcome.result == zsp::LoginResult::kExpired;
  bool unavailable = outcome.broker_unreachable;
  if (!no_grant && !(unavailable && options.breakglass)) {
    Report(pamh, flags, outcome);
    return AccountCode(outcome.result);
  }
  pam_syslog(pamh, LOG_NOTICE, "%s", outcome.log_line.c_str());
  std::string who = "user=" + zsp::EscapeForLog(context.user, 64) +
                    " service=" + zsp::EscapeForLog(context.service, 64);

  const void* conv = nullptr;
  if ((flags & PAM_SILENT) ||
      pam_get_item(pamh, PAM_CONV, &conv) != PAM_SUCCESS || conv == nullptr ||
      static_cast<const pam_conv*>(conv)->conv == nullptr) {
    pam_syslog(pamh, LOG_NOTICE, "auth: deny %s: no grant and cannot prompt",
               who.c_str());
    return unavailable ? PAM_AUTHINFO_UNAVAIL : PAM_AUTH_ERR;
  }

  auto config = zsp::LoadHostConfig(context.config_path);
  if (!config.ok()) {
    pam_syslog(pamh, LOG_ERR, "auth: configuration: %s",
               zsp::EscapeForLog(config.error(), 256).c_str());
    return PAM_SERVICE_ERR;
  }
  std::string host =
      config.value().host.empty() ? LocalHostName() : config.value().host;
  if (options.breakglass &&
      zsp::OffersBreakGlass(config.value(), unavailable, no_grant)) {
    pam_info(pamh, "%s",
             unavailable ? "zsp: the access broker could not be reached"
                         : outcome.user_message.c_str());
    return AuthenticateWithBreakGlass(pamh, flags, context, config.value(),
                                      host);
  }
  if (!no_grant || !options.request) {
    Report(pamh, flags, outcome);
    return no_grant ? PAM_AUTH_ERR : AccountCode(outcome.result);
  }

  auto keys = zsp::LoadPinnedKeys(config.value());
  if (!keys.ok()) {
    pam_syslog(pamh, LOG_ERR, "auth: configuration: %s",
               zsp::EscapeForLog(keys.error(), 256).c_str());
    return PAM_SERVICE_ERR;
  }
  zsp::DecisionQuery query;
  query.user = context.user;
  query.host = host;
  query.kind = "login";
  zsp::Decision denial;
  denial.verdict = zsp::Verdict::kDeny;

  PamTerminal terminal(pamh);
  zsp::InteractiveOutcome waited = zsp::RequestAndWait(
      config.value(), keys.value(), query, denial, &terminal);
  if (waited.decision.verdict != zsp::Verdict::kAllow) {
    pam_syslog(pamh, LOG_NOTICE, "auth: deny %s: request=%s: %s", who.c_str(),
               waited.request_id.empty() ? "none" : waited.request_id.c_str(),
               zsp::EscapeForLog(waited.why, 256).c_str());
    if (waited.why.rfind("filing failed", 0) == 0) return PAM_AUTHINFO_UNAVAIL;
    return PAM_AUTH_ERR;
  }
  // Approved: ask once more so that the allow is checked and recorded
  // exactly like an account-phase allow.
  context.phase = "auth";
  zsp::LoginOutcome after = zsp::CheckLogin(context);
  Report(pamh, flags, after);
  if (after.result == zsp::LoginResult::kNoGrant) return PAM_AUTH_ERR;
  return AccountCode(after.result);
}

int SetCred(pam_handle_t* pamh, int argc, const char** argv) {
  PamOptions options;
  if (!ParseArgs(pamh, argc, argv, &options)) return PAM_SERVICE_ERR;
  // pam_zsp sets no credentials, because access is decided in auth or account.
  return PAM_SUCCESS;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int pam_sm_authenticate(
    pam_handle_t* pamh, int flags, int argc, const char** argv) noexcept {
  try {
    return Authenticate(pamh, flags, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error in auth phase");
    return PAM_SERVICE_ERR;
  }
}

__attribute__((visibility("default"))) int pam_sm_setcred(
    pam_handle_t* pamh, int /*flags*/, int argc, const char** argv) noexcept {
  try {
    return SetCred(pamh, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error in setcred");
    return PAM_SERVICE_ERR;
  }
}

__attribute__((visibility("default"))) int pam_sm_acct_mgmt(
    pam_handle_t* pamh, int flags, int argc, const char** argv) noexcept {
  try {
    return Account(pamh, flags, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error in account phase");
    return PAM_SERVICE_ERR;
  }
}

__attribute__((visibility("default"))) int pam_sm_open_session(
    pam_handle_t* pamh, int flags, int argc, const char** argv) noexcept {
  try {
    return OpenSession(pamh, flags, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error in session phase");
    return PAM_SESSION_ERR;
  }
}

__attribute__((visibility("default"))) int pam_sm_close_session(
    pam_handle_t* pamh, int /*flags*/, int argc, const char** argv) noexcept {
  try {
    return CloseSession(pamh, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error in session phase");
    return PAM_SESSION_ERR;
  }
}

}  // extern "C"

#include "common/breakglass_prompt.h"

#include <syslog.h>

#include <ctime>

#include "common/escape.h"

namespace zsp {
namespace {

constexpr char kPrefix[] = "zsp: ";

std::string FormatUtc(int64_t when) {
  time_t t = static_cast<time_t>(when);
  struct tm parts {};
  char text[32] = "?";
  if (gmtime_r(&t, &parts) != nullptr) {
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  }
  return text;
}

std::string JoinSigners(const std::vector<std::string>& signers) {
  std::string out;
  for (const auto& kid : signers) out += (out.empty() ? "" : ",") + kid;
  return out;
}

}  // namespace

bool OffersBreakGlass(const HostConfig& config, bool broker_unavailable,
                      bool broker_denied) {
  if (config.breakglass_keys.empty()) return false;
  return broker_unavailable ||
         (broker_denied && config.breakglass_with_broker);
}

EmergencyOutcome AskForBreakGlassToken(const HostConfig& config,
                                       const BreakGlassUse& use,
                                       UserTerminal* terminal, bool spend) {
  EmergencyOutcome out;
  auto policy = LoadBreakGlassPolicy(config);
  if (!policy.ok()) {
    out.status = "configuration";
    out.log_reason = "break-glass configuration: " + policy.error();
    terminal->Show(std::string(kPrefix) +
                   "emergency access is not available: " +
                   EscapeForLog(policy.error(), 256));
    return out;
  }
  std::optional<std::string> text = terminal->AskHidden(
      "zsp: emergency access: paste a break-glass token (an empty line "
      "cancels): ");
  if (!text.has_value() || text->empty()) {
    out.log_reason = "no break-glass token given";
    return out;
  }
  out.presented = true;

  // The prompt has no time limit, so the token is checked against the
  // time it was pasted, not the time the prompt opened.
  BreakGlassUse pasted = use;
  pasted.now = static_cast<int64_t>(std::time(nullptr));
  BreakGlassCheck check = VerifyBreakGlassToken(*text, policy.value(), pasted);
  if (check.status == BreakGlassStatus::kValid) out.text = *text;
  explicit_bzero(text->data(), text->size());
  out.token = check.token;
  out.status = BreakGlassStatusName(check.status);
  if (check.status != BreakGlassStatus::kValid) {
    out.log_reason = "break-glass token rejected: " + check.detail;
    terminal->Show(std::string(kPrefix) + "break-glass token rejected: " +
                   EscapeForLog(check.detail, 256));
    return out;
  }

  out.allowed = true;
  if (spend) SpendAcceptedToken(config, pasted.now, &out, terminal);
  return out;
}

void SpendAcceptedToken(const HostConfig& config, int64_t now,
                        EmergencyOutcome* outcome, UserTerminal* terminal) {
  const BreakGlassToken& token = outcome->token;
  SpendResult spent =
      SpendBreakGlassToken(config.spool_dir, token.id, token.expires, now);
  if (spent.status != SpendStatus::kSpent) {
    outcome->allowed = false;
    outcome->status =
        spent.status == SpendStatus::kAlreadySpent ? "spent" : "spend-failed";
    outcome->log_reason = "break-glass token rejected: " + spent.detail;
    terminal->Show(std::string(kPrefix) + "break-glass token rejected: " +
                   EscapeForLog(spent.detail, 256));
    explicit_bzero(outcome->text.data(), outcome->text.size());
    outcome->text.clear();
    return;
  }
  terminal->Show(std::string(kPrefix) + "EMERGENCY ACCESS with break-glass "
                 "token " + token.id + " until " + FormatUtc(token.expires) +
                 "; this use is logged as an alert and must be reviewed");
}

void MarkBreakGlassRecord(AuditRecord* record,
                          const EmergencyOutcome& outcome) {
  record->SetEvent(AuditEvent::kBreakGlassDeny, LOG_ALERT);
  record->Set("ZSP_BREAKGLASS", "1")
      .Set("ZSP_ALERT", "break-glass")
      .Set("ZSP_BREAKGLASS_STATUS", outcome.allowed ? "valid" : outcome.status);
  const BreakGlassToken& t = outcome.token;
  if (t.id.empty()) return;
  record->Set("ZSP_BREAKGLASS_TOKEN", t.id)
      .Set("ZSP_BREAKGLASS_SIGNERS", JoinSigners(t.signers))
      .Set("ZSP_BREAKGLASS_HOSTS", t.host_pattern)
      .Set("ZSP_BREAKGLASS_SCOPE", t.scope)
      .Set("ZSP_BREAKGLASS_REASON", t.reason)
      .Set("ZSP_BREAKGLASS_NOT_BEFORE", std::to_string(t.not_before))
      .Set("ZSP_BREAKGLASS_EXPIRES", std::to_string(t.expires));
}

}  // namespace zsp

// POST /v1/decisions: a host asks whether a user may log in or run a
// command, and gets a signed allow or deny.
#include <stdexcept>

#include "broker/api.h"
#include "broker/fields.h"
#include "broker/log.h"
#include "broker/policy.h"
#include "broker/validate.h"
#include "common/escape.h"
#include "common/jws.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

// Reads the run-as group and the environment names of a sudo question.
// Both fields are required (possibly empty), so that an older host that
// leaves them out cannot be mistaken for one that requests nothing.
void ReadSudoGroupAndEnv(FieldReader* fields,
                         const std::optional<std::string>& runas_group,
                         const std::optional<std::vector<std::string>>& env,
                         DecisionQuestion* question) {
  if (!runas_group.has_value() ||
      (!runas_group->empty() && !IsValidGroupName(*runas_group))) {
    fields->Fail("runas_group",
                 "must be \"\" or a valid group name for kind sudo");
  }
  question->runas_group = runas_group.value_or("");
  if (!env.has_value()) {
    fields->Fail("env", "must list the variable names for kind sudo");
    return;
  }
  question->env = *env;
  for (const auto& name : *env) {
    std::string problem = CheckEnvGrantEntry(name);
    if (!problem.empty()) {
      fields->Fail("env", "\"" + EscapeForLog(name, 64) + "\" " + problem);
    }
  }
}

void ReadSudoQuestion(FieldReader* fields,
                      const std::optional<std::string>& runas,
                      const std::optional<std::vector<std::string>>& argv,
                      DecisionQuestion* question) {
  if (!runas.has_value() || !IsValidUserName(*runas)) {
    fields->Fail("runas", "must be a valid user name for kind sudo");
  }
  question->runas = runas.value_or("");
  if (!argv.has_value() || argv->empty()) {
    fields->Fail("argv", "must list the command for kind sudo");
    return;
  }
  question->argv = *argv;
  if ((*argv)[0].empty() || (*argv)[0][0] != '/') {
    fields->Fail("argv", "argv[0] must be an absolute path");
  }
  for (const auto& arg : *argv) {
    if (arg.size() > kMaxArgBytes) {
      fields->Fail("argv", "an entry is longer than 4096 bytes");
    }
  }
}

void ReadLoginQuestion(FieldReader* fields,
                       const std::optional<std::string>& runas,
                       const std::optional<std::vector<std::string>>& argv,
                       const std::optional<std::string>& runas_group,
                       const std::optional<std::vector<std::string>>& env) {
  if (runas.has_value() && !runas->empty()) {
    fields->Fail("runas", "must be empty for kind login");
  }
  if (runas_group.has_value() && !runas_group->empty()) {
    fields->Fail("runas_group", "must be empty for kind login");
  }
  if (env.has_value() && !env->empty()) {
    fields->Fail("env", "must be empty for kind login");
  }
  if (argv.has_value() && !argv->empty()) {
    fields->Fail("argv", "must be empty for kind login");
  }
}

// Reads and checks the body; the nonce goes to *nonce.
void ReadQuestion(FieldReader* fields, DecisionQuestion* question,
                  std::string* nonce) {
  fields->RejectUnknown({"user", "host", "kind", "runas", "argv",
                         "runas_group", "env", "nonce"});
  auto user = fields->String("user");
  auto host = fields->String("host");
  auto kind = fields->String("kind");
  auto runas = fields->String("runas");
  auto argv = fields->StringArray("argv", kMaxArgvEntries);
  auto runas_group = fields->String("runas_group");
  auto env = fields->StringArray("env", kMaxEnvEntries);
  auto nonce_field = fields->String("nonce");
  if (!fields->ok()) return;

  if (!user.has_value() || !IsValidUserName(*user)) {
    fields->Fail("user", "must be a valid user name of at most 32 bytes");
  }
  if (!host.has_value() || !IsValidHostName(*host)) {
    fields->Fail("host", "must be a host name of at most 253 bytes");
  }
  if (!nonce_field.has_value() || !IsValidNonce(*nonce_field)) {
    fields->Fail("nonce", "must be 16 to 128 base64url characters");
  }
  question->user = user.value_or("");
  question->host = host.value_or("");
  question->kind = kind.value_or("");
  *nonce = nonce_field.value_or("");
  if (question->kind == "sudo") {
    ReadSudoQuestion(fields, runas, argv, question);
    ReadSudoGroupAndEnv(fields, runas_group, env, question);
  } else if (question->kind == "login") {
    ReadLoginQuestion(fields, runas, argv, runas_group, env);
  } else {
    fields->Fail("kind", "must be \"sudo\" or \"login\"");
  }
}

json BuildClaims(const DecisionQuestion& question, const std::string& nonce,
                 const DecisionOutcome& outcome, int64_t now, int64_t ttl) {
  json claims = {{"iss", "zsp-broker"},
                 {"ver", 1},
                 {"decision", outcome.allow ? "allow" : "deny"},
                 {"sub", question.user},
                 {"host", question.host},
                 {"kind", question.kind},
                 {"runas", question.runas},
                 {"argv", question.argv},
                 {"runas_group", question.runas_group},
                 {"env", question.env},
                 {"nonce", nonce},
                 {"iat", now},
                 {"exp", now + ttl}};
  if (outcome.allow) {
    claims["grant"] = outcome.grant->id;
    claims["grant_exp"] = outcome.grant->expires_at;
    claims["request"] = outcome.grant->request;
  } else {
    claims["code"] = outcome.code;
    claims["message"] = outcome.message;
  }
  return claims;
}

void LogDecision(const DecisionQuestion& question,
                 const DecisionOutcome& outcome) {
  LogFields fields = {{"user", question.user},
                      {"host", question.host},
                      {"kind", question.kind}};
  if (question.kind == "sudo") {
    fields.push_back({"runas", question.runas});
    if (!question.runas_group.empty()) {
      fields.push_back({"runas_group", question.runas_group});
    }
    if (!question.env.empty()) {
      std::string names;
      for (const auto& name : question.env) {
        names += (names.empty() ? "" : ",") + name;
      }
      fields.push_back({"env", names});
    }
    fields.push_back(
        {"command", JoinArgvForLog(question.argv, kMaxLogValueBytes)});
  }
  if (outcome.allow) {
    fields.push_back({"grant", outcome.grant->id});
    fields.push_back({"request", outcome.grant->request});
    fields.push_back({"grant_exp", std::to_string(outcome.grant->expires_at)});
  } else {
    fields.push_back({"code", outcome.code});
  }
  LogEvent(outcome.allow ? "allow" : "deny", fields);
}

}  // namespace

ApiResponse Api::Decide(const Call& call) const {
  FieldReader fields(call.body);
  DecisionQuestion question;
  std::string nonce;
  ReadQuestion(&fields, &question, &nonce);
  if (!fields.ok()) {
    return ErrorResponse(400, "invalid_request", fields.error());
  }
  if (question.host != call.request->client_host) {
    return ErrorResponse(403, "forbidden",
                         "this host certificate is for " +
                             call.request->client_host + ", not " +
                             question.host);
  }

  // The active grants decide an allow on their own. Only a denial needs
  // the ended ones too, for its code (expired or revoked). Both vectors
  // live to the end because outcome.grant points into one of them.
  auto active = store_->ActiveGrantsOf(question.user, question.kind, call.now);
  if (!active.ok()) throw std::runtime_error("store: " + active.message);
  DecisionOutcome outcome =
      zsp::broker::Decide(active.value, question, call.now);
  StoreResult<std::vector<Grant>> all;
  if (!outcome.allow) {
    all = store_->GrantsOf(question.user, question.kind);
    if (!all.ok()) throw std::runtime_error("store: " + all.message);
    outcome = zsp::broker::Decide(all.value, question, call.now);
  }
  json claims =
      BuildClaims(question, nonce, outcome, call.now, settings_.decision_ttl);
  auto jws = SignJws(decision_key_, claims.dump(), kDecisionJwsType);
  if (!jws.ok()) throw std::runtime_error("signing: " + jws.error());
  LogDecision(question, outcome);
  std::chrono::duration<double> took =
      std::chrono::steady_clock::now() - call.started;
  metrics_.CountDecision(outcome.allow ? "allow" : "deny", took.count());
  return ApiResponse{200, {{"jws", jws.value()}}};
}

}  // namespace zsp::broker

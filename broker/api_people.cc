// Handlers of the people's endpoints: requests and grants.
#include <stdexcept>

#include "broker/api.h"
#include "broker/audit_store.h"
#include "broker/fields.h"
#include "broker/ids.h"
#include "broker/log.h"
#include "broker/oidc.h"
#include "broker/validate.h"
#include "common/escape.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

// "r-" or "g-" followed by 12 lowercase hex digits.
bool IsValidId(const std::string& id, const char* prefix) {
  if (id.size() != 14 || id.compare(0, 2, prefix) != 0) return false;
  for (size_t i = 2; i < id.size(); ++i) {
    char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

ApiResponse Invalid(const std::string& message) {
  return ErrorResponse(400, "invalid_request", message);
}

template <typename T>
ApiResponse StoreFailure(const StoreResult<T>& result) {
  switch (result.error) {
    case StoreError::kNotFound:
      return ErrorResponse(404, "not_found", result.message);
    case StoreError::kConflict:
      return ErrorResponse(409, "conflict", result.message);
    case StoreError::kForbidden:
      return ErrorResponse(403, "forbidden", result.message);
    default:
      throw std::runtime_error("store: " + result.message);
  }
}

// Rejects query parameters other than known; returns "" or the message.
std::string CheckQueryKeys(const std::map<std::string, std::string>& query,
                           std::initializer_list<const char*> known) {
  for (const auto& [key, value] : query) {
    bool found = false;
    for (const char* name : known) {
      if (key == name) found = true;
    }
    if (!found) return "unknown query parameter " + EscapeForLog(key, 64);
  }
  return "";
}

// Reads a 0/1 query flag into *out; returns false when it is neither.
bool QueryFlag(const std::map<std::string, std::string>& query,
               const char* name, bool* out) {
  auto it = query.find(name);
  if (it == query.end()) return true;
  if (it->second == "1" || it->second == "true") {
    *out = true;
  } else if (it->second == "0" || it->second == "false") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// Reads an optional free-text field (comment, reason) of at most 1024
// characters.
std::optional<std::string> OptionalText(FieldReader* fields, const char* name) {
  std::optional<std::string> text = fields->String(name);
  if (text.has_value()) {
    std::string problem = CheckText(*text, kMaxCommentChars);
    if (!problem.empty()) fields->Fail(name, problem);
  }
  return text;
}

void CheckSudoScope(FieldReader* fields, AccessRequest* request,
                    const std::optional<std::vector<std::string>>& runas,
                    const std::optional<std::vector<std::string>>& commands) {
  request->runas = runas.value_or(std::vector<std::string>{"root"});
  if (request->runas.empty()) fields->Fail("runas", "must not be empty");
  for (const auto& user : request->runas) {
    if (!IsValidUserName(user)) {
      fields->Fail("runas", "\"" + EscapeForLog(user, 64) +
                                "\" is not a valid user name");
    }
  }
  if (!commands.has_value() || commands->empty()) {
    fields->Fail("commands", "at least one command is required for sudo");
    return;
  }
  request->commands = *commands;
  for (const auto& entry : request->commands) {
    std::string problem = CheckCommandEntry(entry);
    if (!problem.empty()) {
      fields->Fail("commands",
                   "\"" + EscapeForLog(entry, 128) + "\" " + problem);
    }
  }
}

// Reads the optional run-as groups (sudo -g) and environment names
// (VAR=value, or "*" for sudo -E) of a sudo request.
void CheckSudoGroupsAndEnv(
    FieldReader* fields, AccessRequest* request,
    const std::optional<std::vector<std::string>>& runas_groups,
    const std::optional<std::vector<std::string>>& env) {
  request->runas_groups = runas_groups.value_or(std::vector<std::string>{});
  for (const auto& group : request->runas_groups) {
    if (!IsValidGroupName(group)) {
      fields->Fail("runas_groups", "\"" + EscapeForLog(group, 64) +
                                       "\" is not a valid group name");
    }
  }
  request->env = env.value_or(std::vector<std::string>{});
  for (const auto& name : request->env) {
    std::string problem = CheckEnvGrantEntry(name);
    if (!problem.empty()) {
      fields->Fail("env", "\"" + EscapeForLog(name, 64) + "\" " + problem);
    }
  }
}

void CheckLoginScope(FieldReader* fields,
                     const std::optional<std::vector<std::string>>& runas,
                     const std::optional<std::vector<std::string>>& commands,
                     const std::optional<std::vector<std::string>>& groups,
                     const std::optional<std::vector<std::string>>& env) {
  if (runas.has_value() && !runas->empty()) {
    fields->Fail("runas", "is not allowed for kind login");
  }
  if (commands.has_value() && !commands->empty()) {
    fields->Fail("commands", "is not allowed for kind login");
  }
  if (groups.has_value() && !groups->empty()) {
    fields->Fail("runas_groups", "is not allowed for kind login");
  }
  if (env.has_value() && !env->empty()) {
    fields->Fail("env", "is not allowed for kind login");
  }
}

// Reads the body of POST /v1/requests into *request.
void ReadNewRequest(int64_t max_duration, FieldReader* fields,
                    AccessRequest* request) {
  fields->RejectUnknown({"host", "kind", "runas", "commands", "runas_groups",
                         "env", "duration", "reason"});
  auto host = fields->String("host");
  auto kind = fields->String("kind");
  auto runas = fields->StringArray("runas", kMaxRunasEntries);
  auto commands = fields->StringArray("commands", kMaxCommandEntries);
  auto runas_groups =
      fields->StringArray("runas_groups", kMaxRunasGroupEntries);
  auto env = fields->StringArray("env", kMaxEnvEntries);
  auto duration = fields->Integer("duration");
  auto reason = fields->String("reason");
  if (!fields->ok()) return;

  if (!host.has_value() || !IsValidHostPattern(*host)) {
    fields->Fail("host",
                 "must be a host name or pattern of at most 253 bytes "
                 "(letters, digits, '.', '-' and the wildcards * ? [ ] !)");
  }
  request->host = host.value_or("");
  request->kind = kind.value_or("");
  if (request->kind == "sudo") {
    CheckSudoScope(fields, request, runas, commands);
    CheckSudoGroupsAndEnv(fields, request, runas_groups, env);
  } else if (request->kind == "login") {
    CheckLoginScope(fields, runas, commands, runas_groups, env);
  } else {
    fields->Fail("kind", "must be \"sudo\" or \"login\"");
  }
  if (!duration.has_value() || *duration < 1 || *duration > max_duration) {
    fields->Fail("duration",
                 "must be 1 to " + std::to_string(max_duration) + " seconds");
  }
  request->duration = duration.value_or(0);
  // Whether a reason is required is the policy's rule; when one is given,
  // it must be usable text.
  if (reason.has_value()) {
    std::string problem = CheckText(*reason, kMaxReasonChars);
    if (!problem.empty()) fields->Fail("reason", problem);
  }
  request->reason = reason.value_or("");
}

std::string JoinAmr(const std::vector<std::string>& amr) {
  std::string text;
  for (size_t i = 0; i < amr.size(); ++i) text += (i > 0 ? "," : "") + amr[i];
  return text;
}

// The sign-in behind a decision for the log: the method, and for OpenID
// Connect the age of the sign-in and its acr and amr values.
std::string DescribeSignIn(const SignIn& sign_in, int64_t now) {
  std::string text = sign_in.method;
  if (sign_in.method == "api_token") return text;
  if (sign_in.auth_time > 0) {
    text += " auth_age=" + std::to_string(now - sign_in.auth_time);
  }
  if (!sign_in.acr.empty()) text += " acr=" + sign_in.acr;
  if (!sign_in.amr.empty()) text += " amr=" + JoinAmr(sign_in.amr);
  return text;
}

}  // namespace

SignIn Api::SignInOf(const Call& call) const {
  SignIn sign_in;
  if (call.request != nullptr) sign_in.remote = call.request->remote_address;
  if (call.auth.method != "oidc") {
    sign_in.method = "api_token";
    return sign_in;
  }
  const OidcProvider* provider =
      oidc_ == nullptr ? nullptr : oidc_->FindProvider(call.auth.issuer);
  if (call.auth.web_session) {
    sign_in.method = "web_session";
  } else if (provider != nullptr && !provider->cli_client_id.empty() &&
             call.auth.client_id == provider->cli_client_id) {
    sign_in.method = "zspctl_login";
  } else {
    sign_in.method = "oidc_token";
  }
  sign_in.token_type = call.auth.token_type;
  sign_in.issuer = call.auth.issuer;
  sign_in.acr = call.auth.acr;
  sign_in.amr = call.auth.amr;
  sign_in.auth_time = call.auth.auth_time;
  sign_in.subject = call.auth.subject;
  sign_in.session = call.auth.session;
  return sign_in;
}

void Api::AuditVote(const AccessRequest& request, const std::string& vote,
                    const Call& call, const SignIn& sign_in) const {
  if (audit_ == nullptr) return;
  std::vector<std::string> fields = {
      "MESSAGE=" + call.person.name + " voted " + vote + " on " + request.id,
      "ZSP_EVENT=vote",
      "ZSP_VOTE=" + vote,
      "ZSP_REQUEST=" + request.id,
      "ZSP_USER=" + request.requester,
      "ZSP_HOST=" + request.host,
      "ZSP_KIND=" + request.kind,
      "ZSP_STATE=" + request.state,
      "ZSP_APPROVER=" + call.person.name,
      "ZSP_SIGN_IN_METHOD=" + sign_in.method};
  if (request.grant.has_value()) fields.push_back("ZSP_GRANT=" + *request.grant);
  if (!sign_in.remote.empty()) {
    fields.push_back("ZSP_SIGN_IN_REMOTE=" + sign_in.remote);
  }
  if (sign_in.method != "api_token") {
    fields.push_back("ZSP_SIGN_IN_TOKEN_TYPE=" + sign_in.token_type);
    fields.push_back("ZSP_SIGN_IN_ISSUER=" + sign_in.issuer);
    fields.push_back("ZSP_SIGN_IN_ACR=" + sign_in.acr);
    fields.push_back("ZSP_SIGN_IN_AMR=" + JoinAmr(sign_in.amr));
    fields.push_back("ZSP_SIGN_IN_AUTH_TIME=" +
                     std::to_string(sign_in.auth_time));
    fields.push_back("ZSP_SIGN_IN_SUBJECT=" + sign_in.subject);
  }
  if (!sign_in.session.empty()) {
    fields.push_back("ZSP_SIGN_IN_SESSION=" + sign_in.session);
  }
  auto appended = audit_->AppendRecord(kBrokerAuditChain, fields, call.now);
  // NOTE: the vote and its events are already committed in the Store. A
  // failure here leaves the vote without its copy in the audit store, and
  // the log line is the operator's only sign of it.
  if (!appended.ok()) {
    LogEvent("error", {{"detail", "audit store: vote record not appended"},
                       {"request", request.id},
                       {"by", call.person.name},
                       {"error", appended.message}});
  }
}

bool Api::MaySeeRequest(const Person& person,
                        const AccessRequest& request) const {
  return request.requester == person.name || person.HasRole(kRoleApprover) ||
         person.HasRole(kRoleAuditor);
}

bool Api::MaySeeGrant(const Person& person, const Grant& grant) const {
  return grant.user == person.name || person.HasRole(kRoleAdmin) ||
         person.HasRole(kRoleAuditor);
}

ApiResponse Api::FileRequest(const Call& call) const {
  return CreateOnce(call, [this, &call] {
    FieldReader fields(call.body);
    AccessRequest request;
    ReadNewRequest(settings_.max_duration, &fields, &request);
    if (!fields.ok()) return Invalid(fields.error());
    if (!call.may_request) {
      return ErrorResponse(403, "forbidden",
                           "your identity provider groups give you no "
                           "requester role");
    }
    request.requester = call.person.name;
    return CreateUnderPolicy(std::move(request), call);
  });
}

ApiResponse Api::CreateOnce(const Call& call,
                            const std::function<ApiResponse()>& create) const {
  const auto& key = call.request->idempotency_key;
  if (!key.has_value()) return create();
  if (!IsValidIdempotencyKey(*key)) {
    return Invalid(
        "Idempotency-Key: must be 1 to 128 printable ASCII characters "
        "without spaces");
  }
  // People and hosts have separate key spaces, so one caller's keys never
  // replay another caller's request.
  std::string scope = call.person.name.empty()
                          ? "host:" + call.request->client_host
                          : "person:" + call.person.name;
  std::string fingerprint = Sha256Hex(call.body.dump());
  IdempotencyCache::Claim claim =
      idempotency_.Begin(scope, *key, fingerprint, call.now);
  switch (claim.outcome) {
    case IdempotencyCache::Outcome::kReplay: {
      ApiResponse replay{claim.status, claim.body};
      replay.headers.push_back({"Idempotent-Replayed", "true"});
      LogEvent("replayed", {{"request", claim.body.value("id", "")},
                            {"caller", scope},
                            {"idempotency_key", *key}});
      return replay;
    }
    case IdempotencyCache::Outcome::kMismatch:
      return ErrorResponse(
          422, "idempotency_key_reused",
          "Idempotency-Key: " + EscapeForLog(*key, 128) +
              " was already used with a different body; use a new key "
              "for a different request");
    case IdempotencyCache::Outcome::kBusy:
      return ErrorResponse(409, "conflict",
                           "Idempotency-Key: a call with this key is still "
                           "running; retry later");
    case IdempotencyCache::Outcome::kRun:
      break;
  }
  ApiResponse response;
  try {
    response = create();
  } catch (...) {
    idempotency_.Finish(scope, *key, false, 0, {});
    throw;
  }
  // Only a filed request is remembered: after an error nothing was filed,
  // so a retry may run again.
  bool filed = response.status == 201;
  idempotency_.Finish(scope, *key, filed, response.status, response.body);
  return response;
}

ApiResponse Api::ListRequests(const Call& call) const {
  const auto& query = call.request->query;
  std::string problem = CheckQueryKeys(query, {"state", "mine"});
  if (!problem.empty()) return Invalid(problem);
  std::optional<std::string> state;
  if (auto it = query.find("state"); it != query.end()) {
    state = it->second;
    if (*state != "pending" && *state != "approved" && *state != "denied" &&
        *state != "expired" && *state != "cancelled") {
      return Invalid(
          "state: must be pending, approved, denied, expired or cancelled");
    }
  }
  bool mine = false;
  if (!QueryFlag(query, "mine", &mine)) return Invalid("mine: must be 0 or 1");

  const Person& person = call.person;
  bool sees_all = person.HasRole(kRoleApprover) || person.HasRole(kRoleAuditor);
  std::optional<std::string> requester;
  if (mine || !sees_all) requester = person.name;
  auto listed = store_->ListRequests(state, requester);
  if (!listed.ok()) return StoreFailure(listed);
  json requests = json::array();
  for (const auto& r : listed.value) requests.push_back(RequestToJson(r));
  return ApiResponse{200, {{"requests", requests}}};
}

ApiResponse Api::GetRequest(const Call& call) const {
  if (!IsValidId(call.id, "r-")) {
    return ErrorResponse(404, "not_found", "no such request");
  }
  auto found = store_->GetRequest(call.id);
  if (!found.ok()) return StoreFailure(found);
  if (!MaySeeRequest(call.person, found.value)) {
    return ErrorResponse(404, "not_found", "no request " + call.id);
  }
  ApiResponse waited = AwaitStateChange(call, &found.value);
  if (waited.status != 200) return waited;
  return ApiResponse{200, RequestToJson(found.value)};
}

ApiResponse Api::ApproveRequest(const Call& call) const {
  return DecideRequest(call, true);
}

ApiResponse Api::DenyRequest(const Call& call) const {
  return DecideRequest(call, false);
}

ApiResponse Api::DecideRequest(const Call& call, bool approve) const {
  if (!IsValidId(call.id, "r-")) {
    return ErrorResponse(404, "not_found", "no such request");
  }
  FieldReader fields(call.body);
  fields.RejectUnknown({"comment"});
  std::optional<std::string> comment = OptionalText(&fields, "comment");
  if (!fields.ok()) return Invalid(fields.error());

  const std::string& approver = call.person.name;
  const char* verb = approve ? "approve" : "deny";
  auto found = store_->GetRequest(call.id);
  if (found.ok() && SameUserName(found.value.requester, approver)) {
    return ErrorResponse(
        403, "forbidden",
        std::string("you may not ") + verb + " your own request");
  }
  if (!call.person.HasRole(kRoleApprover)) {
    return ErrorResponse(
        403, "forbidden",
        std::string("you need the approver role to ") + verb + " requests");
  }
  if (found.ok()) {
    ApiResponse allowed = CheckApprover(call.person, found.value);
    if (allowed.status != 200) return allowed;
  }
  if (approve) {
    ApiResponse fresh = CheckStepUp(call);
    if (fresh.status != 200) return fresh;
  }
  SignIn sign_in = SignInOf(call);
  auto decided = approve ? store_->ApproveRequest(call.id, approver, comment,
                                                  call.now, sign_in)
                         : store_->DenyRequest(call.id, approver, comment,
                                               call.now, sign_in);
  if (!decided.ok()) return StoreFailure(decided);
  const AccessRequest& r = decided.value;
  // A vote that does not yet reach approvals_required is an "approval".
  const char* outcome = "denied";
  if (approve) outcome = r.state == "approved" ? "approved" : "approval";
  LogEvent(outcome,
           {{"request", r.id},
            {"user", r.requester},
            {"host", r.host},
            {"kind", r.kind},
            {"by", approver},
            {"state", r.state},
            {"approvals", std::to_string(r.approvals.size()) + "/" +
                              std::to_string(r.approvals_required)},
            {"grant", r.grant.value_or("")},
            {"duration", std::to_string(r.duration)},
            {"comment", comment.value_or("")},
            {"auth", DescribeSignIn(sign_in, call.now)},
            {"session", sign_in.session},
            {"remote", sign_in.remote}});
  AuditVote(r, approve ? "approve" : "deny", call, sign_in);
  if (r.state == "approved" || r.state == "denied") {
    Notify("request_" + r.state, r, nullptr, call.now);
  }
  return ApiResponse{200, RequestToJson(r)};
}

ApiResponse Api::CancelRequest(const Call& call) const {
  if (!IsValidId(call.id, "r-")) {
    return ErrorResponse(404, "not_found", "no such request");
  }
  FieldReader fields(call.body);
  fields.RejectUnknown({});
  if (!fields.ok()) return Invalid(fields.error());
  auto found = store_->GetRequest(call.id);
  if (!found.ok()) return StoreFailure(found);
  if (!MaySeeRequest(call.person, found.value)) {
    return ErrorResponse(404, "not_found", "no request " + call.id);
  }

  auto cancelled = store_->CancelRequest(call.id, call.person.name, call.now);
  if (!cancelled.ok()) return StoreFailure(cancelled);
  LogEvent("cancelled", {{"request", call.id}, {"by", call.person.name}});
  return ApiResponse{200, RequestToJson(cancelled.value)};
}

ApiResponse Api::ListGrants(const Call& call) const {
  const auto& query = call.request->query;
  std::string problem = CheckQueryKeys(query, {"active", "user"});
  if (!problem.empty()) return Invalid(problem);
  bool active_only = false;
  if (!QueryFlag(query, "active", &active_only)) {
    return Invalid("active: must be 0 or 1");
  }
  std::optional<std::string> user;
  if (auto it = query.find("user"); it != query.end()) {
    if (!IsValidUserName(it->second)) {
      return Invalid("user: is not a valid user name");
    }
    user = it->second;
  }

  const Person& person = call.person;
  bool sees_all = person.HasRole(kRoleAdmin) || person.HasRole(kRoleAuditor);
  if (!sees_all) {
    if (user.has_value() && *user != person.name) {
      return ErrorResponse(403, "forbidden",
                           "listing other people's grants requires the "
                           "admin or auditor role");
    }
    user = person.name;
  }
  auto listed = store_->ListGrants(user, active_only, call.now);
  if (!listed.ok()) return StoreFailure(listed);
  json grants = json::array();
  for (const auto& g : listed.value) grants.push_back(GrantToJson(g, call.now));
  return ApiResponse{200, {{"grants", grants}}};
}

ApiResponse Api::GetGrant(const Call& call) const {
  if (!IsValidId(call.id, "g-")) {
    return ErrorResponse(404, "not_found", "no such grant");
  }
  auto found = store_->GetGrant(call.id);
  if (!found.ok()) return StoreFailure(found);
  if (!MaySeeGrant(call.person, found.value)) {
    return ErrorResponse(404, "not_found", "no grant " + call.id);
  }
  return ApiResponse{200, GrantToJson(found.value, call.now)};
}

ApiResponse Api::RevokeGrant(const Call& call) const {
  if (!IsValidId(call.id, "g-")) {
    return ErrorResponse(404, "not_found", "no such grant");
  }
  FieldReader fields(call.body);
  fields.RejectUnknown({"reason"});
  std::optional<std::string> reason = OptionalText(&fields, "reason");
  if (!fields.ok()) return Invalid(fields.error());

  const Person& person = call.person;
  auto found = store_->GetGrant(call.id);
  if (!found.ok()) return StoreFailure(found);
  // Approvers see the grant's id in the request's status, so they are told
  // why they may not revoke it instead of that it does not exist.
  if (!MaySeeGrant(person, found.value) && !person.HasRole(kRoleApprover)) {
    return ErrorResponse(404, "not_found", "no grant " + call.id);
  }
  if (found.value.user != person.name && !person.HasRole(kRoleAdmin)) {
    return ErrorResponse(403, "forbidden",
                         "only the grant's user or an admin may revoke it");
  }
  auto revoked = store_->RevokeGrant(call.id, person.name, reason, call.now);
  if (!revoked.ok()) return StoreFailure(revoked);
  LogEvent("revoked", {{"grant", call.id},
                       {"user", revoked.value.user},
                       {"host", revoked.value.host},
                       {"by", person.name},
                       {"reason", reason.value_or("")}});
  auto request = store_->GetRequest(revoked.value.request);
  if (request.ok()) {
    Notify("grant_revoked", request.value, &revoked.value, call.now);
  }
  return ApiResponse{200, GrantToJson(revoked.value, call.now)};
}

std::string ParseNewRequest(int64_t max_duration, const nlohmann::json& body,
                            AccessRequest* request) {
  FieldReader fields(body);
  ReadNewRequest(max_duration, &fields, request);
  return fields.ok() ? "" : fields.error();
}

}  // namespace zsp::broker

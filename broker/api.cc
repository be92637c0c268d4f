// Routing and authentication of broker API calls. The handlers are in
// api_people.cc, api_decisions.cc, api_host.cc and api_audit.cc.
#include "broker/api.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "broker/ids.h"
#include "broker/log.h"
#include "broker/oidc.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 8;
constexpr char kBearerPrefix[] = "Bearer ";

// Maximum size of an Authorization header: API tokens are 47 bytes, and
// OpenID Connect tokens a few KiB.
constexpr size_t kMaxAuthorizationBytes =
    sizeof kBearerPrefix + kMaxOidcTokenBytes;
// Maximum size of an API token worth hashing; real ones are 47 bytes.
constexpr size_t kMaxApiTokenBytes = 512;

// Splits "/v1/requests/r-1/approve" and matches it against a pattern with
// "{id}" segments; stores the id segment.
bool MatchPath(const std::string& pattern, const std::string& path,
               std::string* id) {
  std::vector<std::string> want = SplitString(pattern, '/');
  std::vector<std::string> have = SplitString(path, '/');
  if (want.size() != have.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{id}") {
      if (have[i].empty()) return false;
      *id = have[i];
    } else if (want[i] != have[i]) {
      return false;
    }
  }
  return true;
}

// True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8.
bool IsLoopbackAddress(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" ||
         address.rfind("::ffff:127.", 0) == 0;
}

// The caller as the log names it: the person, the host, or "unknown" when
// authentication failed.
std::string DescribeCaller(const ApiRequest& request, const Api::Call& call) {
  if (!call.person.name.empty()) return call.person.name;
  if (!request.client_host.empty()) return "host:" + request.client_host;
  return "unknown";
}

void LogRejected(const ApiRequest& request, const ApiResponse& response,
                 const std::string& who) {
  LogEvent("reject", {{"status", std::to_string(response.status)},
                      {"error", response.body.value("error", "")},
                      {"method", request.method},
                      {"path", request.path},
                      {"caller", who},
                      {"remote", request.remote},
                      {"message", response.body.value("message", "")}});
}

}  // namespace

const Api::Route Api::kRoutes[] = {
    {"GET", "/v1/health", Caller::kAnyone, nullptr, &Api::Health},
    {"GET", "/healthz", Caller::kAnyone, nullptr, &Api::Healthz},
    {"GET", "/metrics", Caller::kMonitor, nullptr, &Api::MetricsText},
    {"GET", "/v1/oidc", Caller::kAnyone, nullptr, &Api::OidcInfo},
    {"POST", "/v1/decisions", Caller::kHost, nullptr, &Api::Decide},
    {"GET", "/v1/whoami", Caller::kPerson, nullptr, &Api::Whoami},
    {"POST", "/v1/requests", Caller::kPerson, nullptr, &Api::FileRequest},
    {"GET", "/v1/requests", Caller::kPerson, nullptr, &Api::ListRequests},
    {"GET", "/v1/requests/{id}", Caller::kPerson, nullptr, &Api::GetRequest},
    {"GET", "/v1/requests/{id}/events", Caller::kPerson, nullptr,
     &Api::ListRequestEvents},
    // Approving and denying need the approver role too. The handler checks
    // it after the own-request rule, so that a requester without the role
    // is told the rule that binds everyone.
    {"POST", "/v1/requests/{id}/approve", Caller::kPerson, nullptr,
     &Api::ApproveRequest},
    {"POST", "/v1/requests/{id}/deny", Caller::kPerson, nullptr,
     &Api::DenyRequest},
    {"POST", "/v1/requests/{id}/cancel", Caller::kPerson, nullptr,
     &Api::CancelRequest},
    {"GET", "/v1/grants", Caller::kPerson, nullptr, &Api::ListGrants},
    {"GET", "/v1/grants/{id}", Caller::kPerson, nullptr, &Api::GetGrant},
    {"POST", "/v1/grants/{id}/revoke", Caller::kPerson, nullptr,
     &Api::RevokeGrant},
    {"POST", "/v1/users", Caller::kPerson, kRoleAdmin, &Api::AddUser},
    {"GET", "/v1/users", Caller::kPerson, kRoleAdmin, &Api::ListUsers},
    {"POST", "/v1/users/{id}/token", Caller::kPerson, kRoleAdmin,
     &Api::IssueUserToken},
    {"POST", "/v1/users/{id}/revoke", Caller::kPerson, kRoleAdmin,
     &Api::RevokeUserToken},
    {"POST", "/v1/hosts", Caller::kPerson, kRoleAdmin, &Api::EnrollHost},
    {"POST", "/v1/hosts/{id}/revoke", Caller::kPerson, kRoleAdmin,
     &Api::RevokeHost},
    {"POST", "/v1/host/requests", Caller::kHost, nullptr,
     &Api::HostFileRequest},
    {"GET", "/v1/host/requests/{id}", Caller::kHost, nullptr,
     &Api::HostGetRequest},
    {"POST", "/v1/host/requests/{id}/cancel", Caller::kHost, nullptr,
     &Api::HostCancelRequest},
    {"POST", "/v1/host/grants", Caller::kHost, nullptr, &Api::HostListGrants},
    {"GET", "/v1/host/feed", Caller::kHost, nullptr, &Api::HostFeed},
    {"POST", "/v1/audit/records", Caller::kHost, nullptr, &Api::AuditAppend},
    // The audit reads need the auditor or admin role; the handlers check
    // it, because a route names only one role.
    {"GET", "/v1/audit/records", Caller::kPerson, nullptr, &Api::AuditRecords},
    {"GET", "/v1/audit/checkpoints", Caller::kPerson, nullptr,
     &Api::AuditCheckpoints},
    {"GET", "/v1/audit/alerts", Caller::kPerson, nullptr, &Api::AuditAlerts},
    // Approvers, auditors and admins may review break-glass records.
    {"POST", "/v1/audit/reviews", Caller::kPerson, nullptr,
     &Api::AuditReview},
};

std::span<const Api::Route> Api::Routes() { return kRoutes; }

Api::Api(Store* store, EVP_PKEY* decision_key, Settings settings, Clock clock)
    : store_(store),
      decision_key_(decision_key),
      settings_(std::move(settings)),
      clock_(std::move(clock)) {}

ApiResponse ErrorResponse(int status, const std::string& code,
                          const std::string& message) {
  ApiResponse response;
  response.status = status;
  response.body = {{"error", code}, {"message", message}};
  return response;
}

ApiResponse Api::Handle(const ApiRequest& request) const noexcept {
  std::string route = "unmatched";
  ApiResponse response;
  try {
    response = Dispatch(request, &route);
  } catch (const std::exception& e) {
    LogEvent("error", {{"method", request.method},
                       {"path", request.path},
                       {"detail", e.what()}});
    response = ErrorResponse(500, "internal", "the broker failed");
  } catch (...) {
    LogEvent("error", {{"method", request.method},
                       {"path", request.path},
                       {"detail", "unknown exception"}});
    response = ErrorResponse(500, "internal", "the broker failed");
  }
  try {
    metrics_.CountHttp(request.method, route, response.status);
  } catch (const std::exception&) {
    // Only allocation can fail here; the response matters more.
  }
  return response;
}

ApiResponse Api::Dispatch(const ApiRequest& request,
                          std::string* route_name) const {
  auto started = std::chrono::steady_clock::now();
  if (request.body.size() > kMaxBodyBytes) {
    return ErrorResponse(413, "too_large", "request body is over 64 KiB");
  }
  for (const Route& route : kRoutes) {
    Call call;
    call.started = started;
    if (request.method != route.method ||
        !MatchPath(route.pattern, request.path, &call.id)) {
      continue;
    }
    *route_name = route.pattern;
    ApiResponse response = Authorize(route, request, &call);
    if (response.status == 200 &&
        std::string_view(route.pattern).find("/requests") !=
            std::string_view::npos) {
      ExpirePending(call.now);
    }
    if (response.status == 200) response = (this->*route.handler)(call);
    if (response.status >= 400) {
      LogRejected(request, response, DescribeCaller(request, call));
    }
    return response;
  }
  return ErrorResponse(404, "not_found",
                       "no such endpoint: " + request.method + " " +
                           request.path.substr(0, 128));
}

// Fills call with the caller's identity and body; returns status 200 when
// the caller may use the route, else the error to send.
ApiResponse Api::Authorize(const Route& route, const ApiRequest& request,
                           Call* call) const {
  call->request = &request;
  call->now = clock_();
  call->body = json::object();
  bool has_bearer = !request.authorization.empty();

  if (route.caller == Caller::kHost) {
    if (has_bearer) {
      return ErrorResponse(403, "forbidden",
                           "people may not call host endpoints");
    }
    if (request.client_host.empty()) {
      return ErrorResponse(401, "unauthenticated",
                           "a host client certificate is required");
    }
    ApiResponse revoked = CheckHostNotRevoked(request);
    if (revoked.status != 200) return revoked;
  }
  if (route.caller == Caller::kMonitor) {
    if (!has_bearer && IsLoopbackAddress(request.remote_address)) {
      return ApiResponse{};
    }
    if (!has_bearer) {
      return ErrorResponse(401, "unauthenticated",
                           "a bearer token of an auditor or admin is "
                           "required from a non-loopback address");
    }
  }
  if (route.caller == Caller::kPerson || route.caller == Caller::kMonitor) {
    if (request.has_client_cert) {
      return ErrorResponse(403, "forbidden",
                           "hosts may not call people endpoints");
    }
    const std::string& header = request.authorization;
    if (request.web_session != nullptr) {
      AuthenticateWebSession(*request.web_session, call);
    } else if (header.size() > kMaxAuthorizationBytes ||
               header.rfind(kBearerPrefix, 0) != 0) {
      return ErrorResponse(401, "unauthenticated",
                           "a bearer token is required");
    } else {
      ApiResponse who =
          AuthenticatePerson(header.substr(sizeof kBearerPrefix - 1), call);
      if (who.status != 200) return who;
    }
    if (route.role != nullptr && !call->person.HasRole(route.role)) {
      return ErrorResponse(
          403, "forbidden",
          std::string("this requires the ") + route.role + " role");
    }
    if (route.caller == Caller::kMonitor &&
        !call->person.HasRole(kRoleAuditor) &&
        !call->person.HasRole(kRoleAdmin)) {
      return ErrorResponse(403, "forbidden",
                           "this requires the auditor or admin role");
    }
  }

  if (request.method == "POST" && !request.body.empty()) {
    if (JsonTooDeep(request.body, kMaxJsonDepth)) {
      return ErrorResponse(400, "invalid_request", "body: nested too deeply");
    }
    call->body = json::parse(request.body, nullptr, false);
    if (!call->body.is_object()) {
      return ErrorResponse(400, "invalid_request",
                           "body: must be a JSON object");
    }
  }
  return ApiResponse{};
}

ApiResponse Api::AuthenticatePerson(const std::string& token,
                                    Call* call) const {
  if (oidc_ != nullptr && LooksLikeJwt(token)) {
    auto identity = oidc_->Verify(token, call->now);
    if (!identity.ok()) {
      return ErrorResponse(401, "unauthenticated",
                           "OpenID Connect token rejected: " + identity.error());
    }
    const OidcIdentity& id = identity.value();
    call->person.name = id.name;
    call->person.roles = id.roles;
    call->may_request = id.may_request;
    call->auth.method = "oidc";
    call->auth.issuer = id.issuer;
    call->auth.auth_time = id.auth_time;
    call->auth.acr = id.acr;
    call->auth.amr = id.amr;
    call->auth.token_type = id.token_type;
    call->auth.client_id = id.client_id;
    call->auth.subject = id.subject;
    return ApiResponse{};
  }
  if (token.size() > kMaxApiTokenBytes) {
    return ErrorResponse(401, "unauthenticated", "unknown bearer token");
  }
  auto person = store_->FindPersonByTokenHash(Sha256Hex(token));
  if (person.error == StoreError::kNotFound) {
    return ErrorResponse(401, "unauthenticated", "unknown bearer token");
  }
  if (!person.ok()) throw std::runtime_error(person.message);
  call->person = std::move(person.value);
  return ApiResponse{};
}

void Api::AuthenticateWebSession(const WebSession& session, Call* call) const {
  call->person.name = session.person;
  call->person.roles = session.roles;
  call->may_request = session.may_request;
  call->auth.method = "oidc";
  call->auth.issuer = session.sign_in.issuer;
  call->auth.auth_time = session.sign_in.auth_time;
  call->auth.acr = session.sign_in.acr;
  call->auth.amr = session.sign_in.amr;
  call->auth.token_type = session.sign_in.token_type;
  call->auth.web_session = true;
  call->auth.subject = session.sign_in.subject;
  call->auth.session = session.sign_in.session;
}

ApiResponse Api::CheckStepUp(const Call& call) const {
  if (oidc_ == nullptr) return ApiResponse{};
  const ApprovalAuth& rules = oidc_->settings().approval;
  bool step_up = rules.max_auth_age > 0 || !rules.acr.empty() ||
                 !rules.amr.empty();
  if (!step_up) return ApiResponse{};
  if (call.auth.method != "oidc") {
    if (rules.api_tokens_may_approve) return ApiResponse{};
    return ErrorResponse(401, "step_up_required",
                         "approvals need a recent sign-in through the "
                         "identity provider; run zspctl login and try again");
  }
  const char* again = call.auth.web_session
                          ? "sign in again on the web page"
                          : "sign in again (zspctl login)";
  if (rules.max_auth_age > 0 &&
      (call.auth.auth_time == 0 ||
       call.now - call.auth.auth_time > rules.max_auth_age)) {
    return ErrorResponse(
        401, "step_up_required",
        "your sign-in is older than " + std::to_string(rules.max_auth_age) +
            " seconds; " + again + " and retry the approval");
  }
  if (!rules.acr.empty() &&
      std::find(rules.acr.begin(), rules.acr.end(), call.auth.acr) ==
          rules.acr.end()) {
    return ErrorResponse(401, "step_up_required",
                         "approvals need a stronger sign-in (acr); sign in "
                         "again with the stronger method and retry");
  }
  if (!rules.amr.empty()) {
    bool found = false;
    for (const auto& method : call.auth.amr) {
      found |= std::find(rules.amr.begin(), rules.amr.end(), method) !=
               rules.amr.end();
    }
    if (!found) {
      return ErrorResponse(401, "step_up_required",
                           "approvals need a stronger sign-in method (amr); "
                           "sign in again with it and retry");
    }
  }
  return ApiResponse{};
}

ApiResponse Api::Health(const Call&) const {
  return ApiResponse{200, {{"status", "ok"}}};
}

ApiResponse Api::Healthz(const Call&) const {
  auto pending = store_->CountRequests("pending");
  if (!pending.ok()) {
    LogEvent("error", {{"detail", "health check: the store failed"},
                       {"error", pending.message}});
    return ApiResponse{503, {{"status", "unavailable"}, {"store", "failed"}}};
  }
  return ApiResponse{200, {{"status", "ok"}, {"store", "ok"}}};
}

ApiResponse Api::MetricsText(const Call&) const {
  auto pending = store_->CountRequests("pending");
  if (!pending.ok()) {
    LogEvent("error", {{"detail", "metrics: the store failed"},
                       {"error", pending.message}});
  }
  ApiResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.text = metrics_.Render(pending.ok() ? pending.value : -1);
  return response;
}

ApiResponse Api::Whoami(const Call& call) const {
  json roles = json::array();
  if (call.may_request) roles.push_back("requester");
  for (const auto& role : call.person.roles) roles.push_back(role);
  json body = {{"user", call.person.name},
               {"roles", roles},
               {"auth_method", call.auth.method}};
  if (call.auth.method == "oidc") {
    body["issuer"] = call.auth.issuer;
    body["auth_time"] = call.auth.auth_time;
    body["acr"] = call.auth.acr;
    body["amr"] = call.auth.amr;
  }
  return ApiResponse{200, body};
}

// Lists the providers that zspctl login may use: issuer and public client.
ApiResponse Api::OidcInfo(const Call&) const {
  json providers = json::array();
  if (oidc_ != nullptr) {
    for (const auto& provider : oidc_->settings().providers) {
      if (provider.cli_client_id.empty()) continue;
      providers.push_back({{"issuer", provider.issuer},
                           {"client_id", provider.cli_client_id}});
    }
  }
  return ApiResponse{200, {{"providers", providers}}};
}

json RequestToJson(const AccessRequest& r) {
  auto optional = [](const auto& value) -> json {
    if (value.has_value()) return *value;
    return nullptr;
  };
  return {{"id", r.id},
          {"requester", r.requester},
          {"host", r.host},
          {"kind", r.kind},
          {"runas", r.runas},
          {"commands", r.commands},
          {"runas_groups", r.runas_groups},
          {"env", r.env},
          {"duration", r.duration},
          {"reason", r.reason},
          {"state", r.state},
          {"created_at", r.created_at},
          {"decided_by", optional(r.decided_by)},
          {"decided_at", optional(r.decided_at)},
          {"decision_comment", optional(r.decision_comment)},
          {"grant", optional(r.grant)},
          {"filed_by_host", optional(r.filed_by_host)},
          {"entitlement", r.entitlement},
          {"approvals_required", r.approvals_required},
          {"approvals", r.approvals},
          {"pending_until", r.pending_until},
          {"full_root", r.full_root}};
}

json GrantToJson(const Grant& g, int64_t now) {
  auto optional = [](const auto& value) -> json {
    if (value.has_value()) return *value;
    return nullptr;
  };
  return {{"id", g.id},
          {"request", g.request},
          {"user", g.user},
          {"host", g.host},
          {"kind", g.kind},
          {"runas", g.runas},
          {"commands", g.commands},
          {"runas_groups", g.runas_groups},
          {"env", g.env},
          {"approved_by", g.approved_by},
          {"starts_at", g.starts_at},
          {"expires_at", g.expires_at},
          {"state", g.StateAt(now)},
          {"revoked_by", optional(g.revoked_by)},
          {"revoked_at", optional(g.revoked_at)},
          {"revoke_reason", optional(g.revoke_reason)}};
}

bool JsonTooDeep(const std::string& text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace zsp::broker

// Handlers of the host endpoints under /v1/host/: a host files, follows
// and cancels requests for the user in front of it and lists that user's
// grants on it. The host is the name on its verified client certificate;
// the user name is the host's word, so a host can only ask for access to
// itself, and a person must still approve.
#include <stdexcept>

#include "broker/api.h"
#include "broker/fields.h"
#include "broker/log.h"
#include "broker/policy.h"
#include "broker/validate.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

ApiResponse Invalid(const std::string& message) {
  return ErrorResponse(400, "invalid_request", message);
}

}  // namespace

ApiResponse Api::HostFileRequest(const Call& call) const {
  return CreateOnce(call, [this, &call] { return HostCreateRequest(call); });
}

ApiResponse Api::HostCreateRequest(const Call& call) const {
  json body = call.body;
  auto user = body.find("user");
  if (user == body.end() || !user->is_string() ||
      !IsValidUserName(user->get<std::string>())) {
    return Invalid("user: must be a valid user name");
  }
  if (body.contains("host")) {
    return Invalid("host: is set by the broker from the host certificate");
  }
  AccessRequest request;
  request.requester = user->get<std::string>();
  body.erase("user");
  body["host"] = call.request->client_host;
  std::string problem =
      ParseNewRequest(settings_.max_duration, body, &request);
  if (!problem.empty()) return Invalid(problem);
  request.filed_by_host = call.request->client_host;
  return CreateUnderPolicy(std::move(request), call);
}

StoreResult<AccessRequest> Api::FindHostRequest(const Call& call) const {
  auto found = store_->GetRequest(call.id);
  if (found.ok() &&
      found.value.filed_by_host != call.request->client_host) {
    // Another host's request, or one a person filed: not this host's to
    // see, and not even its to know of.
    found.error = StoreError::kNotFound;
    found.message = "no request " + call.id + " filed by this host";
  }
  return found;
}

ApiResponse Api::HostGetRequest(const Call& call) const {
  auto found = FindHostRequest(call);
  if (!found.ok()) return ErrorResponse(404, "not_found", found.message);
  ApiResponse waited = AwaitStateChange(call, &found.value);
  if (waited.status != 200) return waited;
  return ApiResponse{200, RequestToJson(found.value)};
}

ApiResponse Api::HostCancelRequest(const Call& call) const {
  auto found = FindHostRequest(call);
  if (!found.ok()) return ErrorResponse(404, "not_found", found.message);
  auto cancelled =
      store_->CancelRequest(call.id, found.value.requester, call.now);
  if (cancelled.error == StoreError::kConflict) {
    return ErrorResponse(409, "conflict", cancelled.message);
  }
  if (!cancelled.ok()) {
    throw std::runtime_error("store: " + cancelled.message);
  }
  LogEvent("cancelled", {{"request", call.id},
                         {"user", found.value.requester},
                         {"via", "host"}});
  return ApiResponse{200, RequestToJson(cancelled.value)};
}

ApiResponse Api::HostListGrants(const Call& call) const {
  FieldReader fields(call.body);
  fields.RejectUnknown({"user", "kind"});
  auto user = fields.String("user");
  auto kind = fields.String("kind");
  if (!fields.ok()) return Invalid(fields.error());
  if (!user.has_value() || !IsValidUserName(*user)) {
    return Invalid("user: must be a valid user name");
  }
  std::vector<std::string> kinds = {"sudo", "login"};
  if (kind.has_value()) {
    if (*kind != "sudo" && *kind != "login") {
      return Invalid("kind: must be \"sudo\" or \"login\"");
    }
    kinds = {*kind};
  }

  json grants = json::array();
  for (const auto& k : kinds) {
    auto listed = store_->GrantsOf(*user, k);
    if (!listed.ok()) throw std::runtime_error("store: " + listed.message);
    for (const Grant& g : listed.value) {
      if (g.StateAt(call.now) == "active" &&
          HostPatternMatches(g.host, call.request->client_host)) {
        grants.push_back(GrantToJson(g, call.now));
      }
    }
  }
  return ApiResponse{200, {{"grants", grants}}};
}

}  // namespace zsp::broker

// Handlers where the policy decides: filing a request under an
// entitlement, who may vote on it, expiry of undecided requests and the
// event history of a request.
#include <chrono>
#include <stdexcept>
#include <thread>

#include "broker/api.h"
#include "broker/log.h"
#include "broker/notify.h"
#include "broker/oidc.h"
#include "broker/validate.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

// Maximum long poll, in seconds, below the 15 s total timeout of zspctl.
constexpr unsigned int kMaxWaitSeconds = 10;
// Long polls at once; the rest return at once. cpp-httplib serves with at
// least 8 threads, so this leaves at least 4 for other calls.
constexpr int kMaxWaiters = 4;

std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) {
    joined += (joined.empty() ? "" : ",") + name;
  }
  return joined;
}

}  // namespace

ApiResponse Api::CreateUnderPolicy(AccessRequest request,
                                   const Call& call) const {
  if (policy_ == nullptr) {
    return ErrorResponse(503, "unavailable",
                         "the broker has no policy loaded; no request can "
                         "be filed");
  }
  std::shared_ptr<const Policy> policy = policy_->Get();
  PolicyVerdict verdict =
      CheckRequestAgainstPolicy(*policy, request, call.now);
  if (verdict.entitlement == nullptr) {
    return ErrorResponse(403, "no_entitlement", verdict.message);
  }
  const Entitlement& e = *verdict.entitlement;
  request.entitlement = e.name;
  request.approvals_required = e.approvals;
  request.pending_until = call.now + e.pending_lifetime;
  request.full_root = verdict.full_root;

  auto created =
      store_->CreateRequest(std::move(request), call.now,
                            verdict.auto_approved_by);
  if (created.error == StoreError::kConflict) {
    ApiResponse conflict = ErrorResponse(409, "conflict", created.message);
    conflict.body["grant"] = created.value.grant.value_or("");
    return conflict;
  }
  if (!created.ok()) throw std::runtime_error("store: " + created.message);
  const AccessRequest& r = created.value;
  LogFields fields = {{"request", r.id},
                      {"user", r.requester},
                      {"host", r.host},
                      {"kind", r.kind},
                      {"runas", JoinNames(r.runas)},
                      {"commands", JoinNames(r.commands)},
                      {"runas_groups", JoinNames(r.runas_groups)},
                      {"env", JoinNames(r.env)},
                      {"duration", std::to_string(r.duration)},
                      {"entitlement", r.entitlement},
                      {"full_root", r.full_root ? "yes" : "no"},
                      {"via", r.filed_by_host.has_value() ? "host" : "person"},
                      {"reason", r.reason}};
  LogEvent("filed", fields);
  Notify("request_filed", r, nullptr, call.now);
  if (r.state == "approved") {
    LogEvent("auto_approved", {{"request", r.id},
                               {"user", r.requester},
                               {"grant", r.grant.value_or("")},
                               {"rule", *verdict.auto_approved_by}});
    Notify("request_approved", r, nullptr, call.now);
  }
  return ApiResponse{201, RequestToJson(r)};
}

ApiResponse Api::CheckApprover(const Person& person,
                               const AccessRequest& request) const {
  if (policy_ == nullptr) {
    return ErrorResponse(503, "unavailable", "the broker has no policy loaded");
  }
  std::shared_ptr<const Policy> policy = policy_->Get();
  const Entitlement* e = policy->Find(request.entitlement);
  if (e == nullptr) {
    return ErrorResponse(
        409, "conflict",
        "request " + request.id + " was filed under entitlement \"" +
            request.entitlement +
            "\", which the policy no longer has; it cannot be decided");
  }
  if (!MayApprove(*e, person.name)) {
    return ErrorResponse(403, "forbidden",
                         "you are not an approver of entitlement " + e->name);
  }
  return ApiResponse{};
}

ApiResponse Api::AwaitStateChange(const Call& call,
                                   AccessRequest* request) const {
  const auto& query = call.request->query;
  auto wait_it = query.find("wait");
  if (wait_it == query.end()) return ApiResponse{};
  unsigned int wait = 0;
  if (!ParseUnsigned(wait_it->second, &wait) || wait > kMaxWaitSeconds) {
    return ErrorResponse(400, "invalid_request",
                         "wait: must be 0 to 10 seconds");
  }
  std::string seen = "pending";
  if (auto it = query.find("state"); it != query.end()) seen = it->second;
  if (seen != "pending" && seen != "approved" && seen != "denied" &&
      seen != "expired" && seen != "cancelled") {
    return ErrorResponse(
        400, "invalid_request",
        "state: must be pending, approved, denied, expired or cancelled");
  }
  // Releases the waiter slot on every exit, exceptions included.
  struct WaiterSlot {
    std::atomic<int>& count;
    ~WaiterSlot() { count.fetch_sub(1); }
  } slot{waiters_};
  if (waiters_.fetch_add(1) >= kMaxWaiters) return ApiResponse{};

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
  // The mark is taken before each read, so that a change committed by any
  // broker instance between the read and the wait ends the wait at once.
  uint64_t mark = store_->ChangeMark();
  while (request->state == seen &&
         std::chrono::steady_clock::now() < deadline) {
    store_->WaitForChange(mark, deadline);
    mark = store_->ChangeMark();
    int64_t now = clock_();
    if (request->pending_until > 0 && request->pending_until <= now) {
      ExpirePending(now);
    }
    auto again = store_->GetRequest(request->id);
    if (!again.ok()) break;
    *request = std::move(again.value);
  }
  return ApiResponse{};
}

void Api::ExpirePending(int64_t now) const {
  auto expired = store_->ExpirePending(now);
  if (!expired.ok()) throw std::runtime_error("store: " + expired.message);
  for (const auto& r : expired.value) {
    LogEvent("expired", {{"request", r.id},
                         {"user", r.requester},
                         {"host", r.host},
                         {"entitlement", r.entitlement}});
    Notify("request_expired", r, nullptr, now);
  }
}

void Api::RunMaintenance() const noexcept {
  try {
    int64_t now = clock_();
    // Before the store is read, so that a failing store does not keep the
    // alert windows from ending.
    NotifyHeldBackAlerts(now);
    ExpirePending(now);
    if (notifier_ == nullptr) return;
    notifier_->ForgetEnded(now);
    if (!notifier_->Subscribed("grant_expiring")) return;
    auto ending =
        store_->GrantsEndingBetween(now, now + kExpiringNoticeSeconds);
    if (!ending.ok()) throw std::runtime_error("store: " + ending.message);
    for (const Grant& grant : ending.value) {
      if (!notifier_->FirstTime(grant.id, grant.expires_at)) continue;
      auto request = store_->GetRequest(grant.request);
      if (request.ok()) Notify("grant_expiring", request.value, &grant, now);
    }
  } catch (const std::exception& e) {
    LogEvent("error", {{"detail", "maintenance failed"}, {"error", e.what()}});
  }
}

void Api::Notify(const std::string& event, const AccessRequest& request,
                 const Grant* grant, int64_t now) const {
  if (notifier_ == nullptr) return;
  json payload = {{"request", RequestToJson(request)}};
  if (grant != nullptr) payload["grant"] = GrantToJson(*grant, now);

  // Who may act: the entitlement's approvers, never the requester.
  json approvers = json::array();
  std::shared_ptr<const Policy> policy =
      policy_ != nullptr ? policy_->Get() : nullptr;
  const Entitlement* e =
      policy != nullptr ? policy->Find(request.entitlement) : nullptr;
  if (e != nullptr && event == "request_filed") {
    for (const auto& name : e->approvers) {
      if (!SameUserName(name, request.requester)) approvers.push_back(name);
    }
  }
  payload["approvers"] = approvers;

  std::string text = "zsp: " + event + " " + request.id + " by " +
                     request.requester + " for " + request.kind + " on " +
                     request.host;
  if (request.kind == "sudo") {
    text += " as " + JoinNames(request.runas) + ": " +
            JoinNames(request.commands);
  }
  if (grant != nullptr) text += " (grant " + grant->id + ")";
  // A link to the request on the web approval page, when it is served.
  if (oidc_ != nullptr && !oidc_->settings().public_url.empty()) {
    std::string url =
        oidc_->settings().public_url + "/web/#" + request.id;
    payload["url"] = url;
    text += " " + url;
  }
  if (!approvers.empty()) {
    std::vector<std::string> names = approvers.get<std::vector<std::string>>();
    text += "; approvers: " + JoinNames(names);
  }
  notifier_->Send(event, std::move(payload), text, now);
}

ApiResponse Api::ListRequestEvents(const Call& call) const {
  auto found = store_->GetRequest(call.id);
  if (found.error == StoreError::kNotFound ||
      (found.ok() && !MaySeeRequest(call.person, found.value))) {
    return ErrorResponse(404, "not_found", "no request " + call.id);
  }
  if (!found.ok()) throw std::runtime_error("store: " + found.message);
  auto events = store_->ListEvents(call.id);
  if (!events.ok()) throw std::runtime_error("store: " + events.message);
  json list = json::array();
  for (const auto& event : events.value) list.push_back(EventToJson(event));
  return ApiResponse{200, {{"request", call.id}, {"events", list}}};
}

json EventToJson(const RequestEvent& event) {
  return {{"sequence", event.sequence},
          {"request", event.request},
          {"grant", event.grant.has_value() ? json(*event.grant) : json()},
          {"event", event.event},
          {"actor", event.actor},
          {"at", event.at},
          {"detail", event.detail},
          {"sign_in", SignInToJson(event.sign_in)}};
}

json SignInToJson(const SignIn& sign_in) {
  if (sign_in.empty()) return nullptr;
  return {{"method", sign_in.method},
          {"token_type", sign_in.token_type},
          {"issuer", sign_in.issuer},
          {"acr", sign_in.acr},
          {"amr", sign_in.amr},
          {"auth_time", sign_in.auth_time},
          {"subject", sign_in.subject},
          {"session", sign_in.session},
          {"remote", sign_in.remote}};
}

}  // namespace zsp::broker

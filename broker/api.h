// The broker API (docs/broker-api.md) without the transport: the server
// turns each HTTPS request into an ApiRequest, and Api::Handle authenticates
// the caller, checks its rights through the route table and runs the
// handler. Kept apart from httplib so that it can be tested without a
// network.
#ifndef ZSP_BROKER_API_H_
#define ZSP_BROKER_API_H_

#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "broker/idempotency.h"
#include "broker/metrics.h"
#include "broker/model.h"
#include "broker/notify.h"
#include "broker/policy_file.h"
#include "broker/settings.h"
#include "broker/store.h"

namespace zsp::broker {

class AuditStore;
struct AuditAlert;
class Notifier;
class OidcVerifier;
struct KeyAndCert;

// How long before a grant ends the grant_expiring notification goes out.
inline constexpr int64_t kExpiringNoticeSeconds = 600;

inline constexpr size_t kMaxBodyBytes = 64 * 1024;

struct ApiRequest {
  std::string method;  // "GET" or "POST"
  std::string path;    // without the query string
  std::map<std::string, std::string> query;
  std::string body;
  std::string authorization;  // the Authorization header, or ""
  // Whether the TLS client sent a certificate. Only a certificate that
  // chains to the broker CA gets this far, because the TLS layer rejects
  // any other.
  bool has_client_cert = false;
  // The common name of the verified client certificate, or "" when there
  // is none or it is unusable as a host certificate.
  std::string client_host;
  // When the client certificate was issued: its notBefore plus the
  // backdate the broker CA applies, in Unix seconds; 0 without one.
  int64_t client_cert_issued_at = 0;
  std::string remote;  // "address:port" of the peer, for the log
  std::string remote_address;  // the peer's IP address alone
  // The Idempotency-Key header, when the client sent one.
  std::optional<std::string> idempotency_key;
  // The signed-in web page session that a call of the web page (WebUi)
  // acts for, in place of a bearer token. The HTTPS server never sets it.
  const WebSession* web_session = nullptr;
};

struct ApiResponse {
  int status = 200;
  nlohmann::json body;
  // When content_type is set, text is sent as the body in place of body.
  std::string content_type;
  std::string text;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Who may call a route. kMonitor: a peer on a loopback address, or a
// person with the auditor or admin role (GET /metrics).
enum class Caller { kAnyone, kHost, kPerson, kMonitor };

class Api {
 public:
  using Clock = std::function<int64_t()>;

  // store and decision_key stay owned by the caller and must outlive the
  // Api. clock returns Unix seconds.
  Api(Store* store, EVP_PKEY* decision_key, Settings settings, Clock clock);

  // Answers one call; never throws. Failures become an error object with
  // the status and code of the API's error table.
  ApiResponse Handle(const ApiRequest& request) const noexcept;

  // Sets the audit store, owned by the caller; until then the audit
  // routes fail with 503.
  void SetAuditStore(AuditStore* audit) { audit_ = audit; }

  // Sets the policy, owned by the caller. Until then every new request is
  // rejected with 503, because every grant must come from the policy.
  void SetPolicy(const PolicyHolder* policy) { policy_ = policy; }

  // Sets the CA that signs host certificates for POST /v1/hosts, owned by
  // the caller; until then that route fails with 503.
  void SetCa(const KeyAndCert* ca) { ca_ = ca; }

  // Sets the webhook notifier, owned by the caller; without one no
  // notifications go out.
  void SetNotifier(Notifier* notifier) { notifier_ = notifier; }

  // The counters behind GET /metrics; the notifier adds webhook failures.
  Metrics* metrics() const { return &metrics_; }

  // Sets the OpenID Connect verifier, owned by the caller. Until then only
  // API tokens authenticate people.
  void SetOidc(const OidcVerifier* oidc) { oidc_ = oidc; }

  // Expires pending requests whose lifetime has ended and announces grants
  // that end within kExpiringNoticeSeconds. The server calls it every
  // second; never throws.
  void RunMaintenance() const noexcept;

  // How a person authenticated one call.
  struct AuthContext {
    std::string method = "api_token";  // "api_token" or "oidc"
    std::string issuer;                // oidc only
    int64_t auth_time = 0;  // oidc: Unix seconds of the sign-in, 0 if unknown
    std::string acr;
    std::vector<std::string> amr;
    std::string token_type;  // oidc: "id_token" or "access_token"
    std::string client_id;   // oidc: the client the token was issued to
    bool web_session = false;  // oidc: the call came from the web page
    std::string subject;       // oidc: the token's "sub"
    std::string session;       // web page: SignIn::session
  };

  // Inputs of a handler once the route has matched and the caller passed.
  struct Call {
    const ApiRequest* request = nullptr;
    std::string id;       // the {id} path segment, if the route has one
    Person person;        // kPerson routes: the authenticated person
    AuthContext auth;     // kPerson routes: how the person authenticated
    // False for an OpenID Connect person whose claims give no requester
    // role.
    bool may_request = true;
    nlohmann::json body;  // POST: the parsed JSON object, else empty object
    int64_t now = 0;
    std::chrono::steady_clock::time_point started;  // when the call arrived
  };
  using Handler = ApiResponse (Api::*)(const Call&) const;

  struct Route {
    const char* method;
    const char* pattern;  // "{id}" matches one path segment
    Caller caller;
    const char* role;  // kPerson routes: the role required, or nullptr
    Handler handler;
  };

  // Every route the API serves, in match order.
  static std::span<const Route> Routes();

 private:
  // Finds the route and runs it; sets *route to its pattern, or to
  // "unmatched".
  ApiResponse Dispatch(const ApiRequest& request, std::string* route) const;
  ApiResponse Authorize(const Route& route, const ApiRequest& request,
                        Call* call) const;
  // Finds the person behind a bearer token: an API token, or an OpenID
  // Connect token when a verifier is set. Returns status 200 or the error.
  ApiResponse AuthenticatePerson(const std::string& token, Call* call) const;
  // Takes the person and sign-in of a web page session that WebUi found.
  void AuthenticateWebSession(const WebSession& session, Call* call) const;
  // Returns status 200 when call's sign-in meets the approval step-up
  // rules, else a 401 that tells the person to sign in again.
  ApiResponse CheckStepUp(const Call& call) const;
  // How the caller signed in, as votes record it (api_people.cc).
  SignIn SignInOf(const Call& call) const;
  // Appends a vote and the voter's sign-in to the broker's own chain in
  // the audit store, when there is one (api_people.cc).
  void AuditVote(const AccessRequest& request, const std::string& vote,
                 const Call& call, const SignIn& sign_in) const;

  ApiResponse Health(const Call& call) const;
  ApiResponse Healthz(const Call& call) const;
  ApiResponse MetricsText(const Call& call) const;
  ApiResponse Whoami(const Call& call) const;
  ApiResponse OidcInfo(const Call& call) const;
  ApiResponse Decide(const Call& call) const;
  ApiResponse FileRequest(const Call& call) const;
  ApiResponse ListRequests(const Call& call) const;
  ApiResponse GetRequest(const Call& call) const;
  ApiResponse ApproveRequest(const Call& call) const;
  ApiResponse DenyRequest(const Call& call) const;
  ApiResponse CancelRequest(const Call& call) const;
  ApiResponse ListGrants(const Call& call) const;
  ApiResponse GetGrant(const Call& call) const;
  ApiResponse RevokeGrant(const Call& call) const;
  ApiResponse ListRequestEvents(const Call& call) const;
  ApiResponse AddUser(const Call& call) const;
  ApiResponse ListUsers(const Call& call) const;
  ApiResponse IssueUserToken(const Call& call) const;
  ApiResponse RevokeUserToken(const Call& call) const;
  ApiResponse EnrollHost(const Call& call) const;
  ApiResponse RevokeHost(const Call& call) const;
  // Returns status 200 unless the host's certificate was revoked.
  ApiResponse CheckHostNotRevoked(const ApiRequest& request) const;
  ApiResponse HostFileRequest(const Call& call) const;
  ApiResponse HostCreateRequest(const Call& call) const;
  ApiResponse HostGetRequest(const Call& call) const;
  ApiResponse HostCancelRequest(const Call& call) const;
  ApiResponse HostListGrants(const Call& call) const;
  // GET /v1/host/feed (api_feed.cc): long poll for signed revocations.
  ApiResponse HostFeed(const Call& call) const;
  // The request with this id if this host filed it, or a 404 response.
  StoreResult<AccessRequest> FindHostRequest(const Call& call) const;

  ApiResponse AuditAppend(const Call& call) const;
  ApiResponse AuditRecords(const Call& call) const;
  ApiResponse AuditCheckpoints(const Call& call) const;
  ApiResponse AuditReview(const Call& call) const;
  ApiResponse AuditAlerts(const Call& call) const;

  ApiResponse DecideRequest(const Call& call, bool approve) const;
  // Runs create once per Idempotency-Key of the caller: a retry with the
  // same key and body gets the first 201 response again.
  ApiResponse CreateOnce(const Call& call,
                         const std::function<ApiResponse()>& create) const;
  // Checks a parsed request against the policy and stores it; returns 201
  // with the request, or the error.
  ApiResponse CreateUnderPolicy(AccessRequest request, const Call& call) const;
  // Returns status 200 when the policy lets person vote on request, else
  // the error.
  ApiResponse CheckApprover(const Person& person,
                            const AccessRequest& request) const;
  // Long poll: with ?wait=SECONDS, re-reads *request until its state is no
  // longer ?state= (default "pending") or the wait ends. Returns status 200,
  // or 400 for an invalid wait or state.
  ApiResponse AwaitStateChange(const Call& call,
                               AccessRequest* request) const;
  // Expires pending requests whose lifetime has ended, and logs them.
  void ExpirePending(int64_t now) const;
  // Queues a webhook notification of event about request and, when not
  // null, grant.
  void Notify(const std::string& event, const AccessRequest& request,
              const Grant* grant, int64_t now) const;
  // Queues an audit_alert webhook notification of an alert that the audit
  // store raised.
  void NotifyAuditAlert(const AuditAlert& alert, int64_t now) const;
  // Posts one summary per host whose notice window ended with alerts held
  // back (AlertNoticeLimiter).
  void NotifyHeldBackAlerts(int64_t now) const;
  bool MaySeeRequest(const Person& person, const AccessRequest& request) const;
  bool MaySeeGrant(const Person& person, const Grant& grant) const;

  static const Route kRoutes[];

  Store* store_;
  EVP_PKEY* decision_key_;
  Settings settings_;
  Clock clock_;
  AuditStore* audit_ = nullptr;
  const PolicyHolder* policy_ = nullptr;
  Notifier* notifier_ = nullptr;
  // Holds back a host's audit_alert posts beyond a per-window limit.
  mutable AlertNoticeLimiter alert_notices_;
  const OidcVerifier* oidc_ = nullptr;
  const KeyAndCert* ca_ = nullptr;
  // Calls blocked in AwaitStateChange, capped so that long polls never
  // take every server thread.
  mutable std::atomic<int> waiters_{0};
  mutable Metrics metrics_;
  mutable IdempotencyCache idempotency_;
  // Calls blocked in HostFeed, capped the same way.
  mutable std::atomic<int> feed_waiters_{0};
};

// An error response: {"error": code, "message": message}.
ApiResponse ErrorResponse(int status, const std::string& code,
                          const std::string& message);

// The JSON objects of the API.
nlohmann::json RequestToJson(const AccessRequest& request);
nlohmann::json GrantToJson(const Grant& grant, int64_t now);
nlohmann::json EventToJson(const RequestEvent& event);
// A vote's sign-in, or null when it has none.
nlohmann::json SignInToJson(const SignIn& sign_in);

// Reads the body of a new request (POST /v1/requests) into *request;
// returns "" or a message that names the field.
std::string ParseNewRequest(int64_t max_duration, const nlohmann::json& body,
                            AccessRequest* request);

// True when text nests JSON arrays and objects deeper than max_depth.
bool JsonTooDeep(const std::string& text, int max_depth);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_API_H_

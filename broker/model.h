// The records the broker keeps: people, access requests and grants. Field
// names follow the JSON objects of the broker API (docs/broker-api.md).
#ifndef ZSP_BROKER_MODEL_H_
#define ZSP_BROKER_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace zsp::broker {

inline constexpr char kRoleApprover[] = "approver";
inline constexpr char kRoleAdmin[] = "admin";
inline constexpr char kRoleAuditor[] = "auditor";

struct Person {
  std::string name;
  std::vector<std::string> roles;  // approver, admin, auditor; sorted
  bool has_token = false;
  int64_t created_at = 0;

  bool HasRole(const std::string& role) const {
    for (const auto& r : roles) {
      if (r == role) return true;
    }
    return false;
  }
};

// A request for access, filed by a person and decided by an approver.
struct AccessRequest {
  std::string id;  // "r-" and 12 hex digits
  std::string requester;
  std::string host;                   // host name or fnmatch(3) pattern
  std::string kind;                   // "sudo" or "login"
  std::vector<std::string> runas;     // sudo only
  std::vector<std::string> commands;  // sudo only
  // sudo only: groups allowed with -g, and environment variable names the
  // user may set (VAR=value); "*" allows -E, the whole environment.
  std::vector<std::string> runas_groups;
  std::vector<std::string> env;
  int64_t duration = 0;               // seconds
  std::string reason;
  std::string state;  // pending, approved, denied, expired, cancelled
  int64_t created_at = 0;
  std::optional<std::string> decided_by;
  std::optional<int64_t> decided_at;
  std::optional<std::string> decision_comment;
  std::optional<std::string> grant;
  // Set when a host filed the request for the user (sudo_zsp, pam_zsp):
  // the name on that host's certificate.
  std::optional<std::string> filed_by_host;
  // Set from the policy when the request is filed.
  std::string entitlement;     // the entitlement that covers the request
  int approvals_required = 1;  // distinct approvals that grant it
  int64_t pending_until = 0;   // Unix seconds; still pending then: expired
  bool full_root = false;      // a command runs a shell or anything at all
  std::vector<std::string> approvals;  // approvers so far, in vote order
};

// How a voter signed in for the call that cast a vote: the facts that
// auditors need to judge the strength of an approval.
struct SignIn {
  // "web_session" (the web page's OpenID Connect ID token), "zspctl_login"
  // (a token of the provider's zspctl client), "oidc_token" (any other
  // OpenID Connect token) or "api_token".
  std::string method;
  std::string token_type;  // "id_token" or "access_token"; "" for api_token
  std::string issuer;      // OpenID Connect "iss"; "" for api_token
  std::string acr;
  std::vector<std::string> amr;
  int64_t auth_time = 0;  // Unix seconds; 0 when unknown
  std::string subject;    // OpenID Connect "sub"; "" for api_token
  // web_session: the first 16 hex digits of the SHA-256 of the session
  // id, which the web_login log line also gives; "" otherwise.
  std::string session;
  std::string remote;  // IP address the call came from; "" when unknown

  bool empty() const { return method.empty(); }
};

// One state change of a request or of its grant, kept for ever.
struct RequestEvent {
  int64_t sequence = 0;  // increases with every event of the broker
  std::string request;
  std::optional<std::string> grant;
  // filed, approval, approved, auto_approved, denied, expired, cancelled,
  // revoked
  std::string event;
  std::string actor;  // person, "host:NAME" or "broker"
  int64_t at = 0;
  std::string detail;
  // Votes (approval, approved, denied): how the voter signed in. Empty
  // for other events and for votes stored before it was recorded.
  SignIn sign_in;
};

// A signed-in session of the web page. Stores keep the SHA-256 of the
// session id (the cookie value), never the id itself.
struct WebSession {
  std::string id_sha256;  // lowercase hex
  std::string person;
  std::vector<std::string> roles;  // approver, admin, auditor; sorted
  bool may_request = false;
  std::string csrf;  // the token every form of the session posts
  SignIn sign_in;    // from the ID token of the sign-in
  int64_t created_at = 0;
  int64_t expires_at = 0;  // the ID token's exp, Unix seconds
};

// Access that an approved request gives, for a limited time.
struct Grant {
  std::string id;  // "g-" and 12 hex digits
  std::string request;
  std::string user;
  std::string host;
  std::string kind;
  std::vector<std::string> runas;
  std::vector<std::string> commands;
  std::vector<std::string> runas_groups;
  std::vector<std::string> env;
  std::string approved_by;
  int64_t starts_at = 0;
  int64_t expires_at = 0;
  std::optional<std::string> revoked_by;
  std::optional<int64_t> revoked_at;
  std::optional<std::string> revoke_reason;

  // "revoked", "expired" once expires_at is reached, else "active".
  std::string StateAt(int64_t now) const {
    if (revoked_at.has_value()) return "revoked";
    if (expires_at <= now) return "expired";
    return "active";
  }
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_MODEL_H_

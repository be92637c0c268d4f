// Handlers of the admin endpoints for identities: people and their bearer
// tokens under /v1/users, host certificates under /v1/hosts. The broker
// stores only the SHA-256 of a token and returns the token itself once, in
// the response that creates it.
#include <algorithm>
#include <stdexcept>

#include "broker/api.h"
#include "broker/audit_store.h"
#include "broker/fields.h"
#include "broker/ids.h"
#include "broker/log.h"
#include "broker/pki.h"
#include "broker/validate.h"
#include "common/escape.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

ApiResponse Invalid(const std::string& message) {
  return ErrorResponse(400, "invalid_request", message);
}

// A new token and its hash; fails only when the RNG or SHA-256 fails.
bool NewTokenAndHash(std::string* token, std::string* hash) {
  auto created = NewToken();
  if (!created.ok()) return false;
  *token = created.value();
  *hash = Sha256Hex(*token);
  return !hash->empty();
}

json PersonToJson(const Person& person) {
  json roles = json::array({"requester"});
  for (const auto& role : person.roles) roles.push_back(role);
  return {{"user", person.name},
          {"roles", roles},
          {"has_token", person.has_token},
          {"created_at", person.created_at}};
}

}  // namespace

ApiResponse Api::AddUser(const Call& call) const {
  FieldReader fields(call.body);
  fields.RejectUnknown({"user", "roles"});
  auto user = fields.String("user");
  auto roles = fields.StringArray("roles", 3);
  if (!fields.ok()) return Invalid(fields.error());
  if (!user.has_value() || !IsValidUserName(*user)) {
    return Invalid(
        "user: must be a valid user name: letters, digits, '_', '-' and "
        "'.', not starting with '-' nor all digits, optionally ending in "
        "'$', at most 32 characters");
  }
  if (IsBrokerActorName(*user)) {
    return Invalid("user: \"" + *user +
                   "\" is the name the broker records for its own decisions");
  }
  std::vector<std::string> role_list = roles.value_or(std::vector<std::string>{});
  for (const auto& role : role_list) {
    if (role != kRoleApprover && role != kRoleAdmin && role != kRoleAuditor) {
      return Invalid("roles: \"" + EscapeForLog(role, 32) +
                     "\" is not approver, admin or auditor");
    }
  }
  std::sort(role_list.begin(), role_list.end());
  role_list.erase(std::unique(role_list.begin(), role_list.end()),
                  role_list.end());

  std::string token;
  std::string hash;
  if (!NewTokenAndHash(&token, &hash)) {
    throw std::runtime_error("token generation failed");
  }
  auto added = AddDistinctPerson(*store_, *user, role_list, hash, call.now);
  if (added.error == StoreError::kConflict) {
    WipeString(&token);
    return ErrorResponse(409, "conflict", added.message);
  }
  if (!added.ok()) throw std::runtime_error("store: " + added.message);
  LogEvent("user_added", {{"user", *user},
                          {"roles", json(role_list).dump()},
                          {"by", call.person.name}});
  Person person{*user, role_list, true, call.now};
  json body = PersonToJson(person);
  body["token"] = token;
  WipeString(&token);
  return ApiResponse{201, body};
}

ApiResponse Api::ListUsers(const Call&) const {
  auto people = store_->ListPersons();
  if (!people.ok()) throw std::runtime_error("store: " + people.message);
  json list = json::array();
  for (const auto& person : people.value) list.push_back(PersonToJson(person));
  return ApiResponse{200, {{"users", list}}};
}

ApiResponse Api::IssueUserToken(const Call& call) const {
  if (!IsValidUserName(call.id)) {
    return ErrorResponse(404, "not_found", "no such user");
  }
  std::string token;
  std::string hash;
  if (!NewTokenAndHash(&token, &hash)) {
    throw std::runtime_error("token generation failed");
  }
  auto set = store_->SetTokenHash(call.id, hash);
  if (set.error == StoreError::kNotFound) {
    WipeString(&token);
    return ErrorResponse(404, "not_found", set.message);
  }
  if (!set.ok()) throw std::runtime_error("store: " + set.message);
  LogEvent("token_issued", {{"user", call.id}, {"by", call.person.name}});
  ApiResponse response{200, {{"user", call.id}, {"token", token}}};
  WipeString(&token);
  return response;
}

ApiResponse Api::RevokeUserToken(const Call& call) const {
  if (!IsValidUserName(call.id)) {
    return ErrorResponse(404, "not_found", "no such user");
  }
  auto revoked = store_->RevokeToken(call.id);
  if (revoked.error == StoreError::kNotFound) {
    return ErrorResponse(404, "not_found", revoked.message);
  }
  if (!revoked.ok()) throw std::runtime_error("store: " + revoked.message);
  LogEvent("token_revoked", {{"user", call.id}, {"by", call.person.name}});
  return ApiResponse{200, {{"user", call.id}, {"has_token", false}}};
}

ApiResponse Api::EnrollHost(const Call& call) const {
  if (ca_ == nullptr) {
    return ErrorResponse(503, "unavailable",
                         "the broker has no CA key loaded to sign host "
                         "certificates");
  }
  FieldReader fields(call.body);
  fields.RejectUnknown({"host"});
  auto host = fields.String("host");
  if (!fields.ok()) return Invalid(fields.error());
  if (!host.has_value() || !IsValidHostName(*host)) {
    return Invalid("host: must be a host name of letters, digits, '.' and "
                   "'-', at most 253 characters");
  }
  if (IsReservedHostName(*host)) {
    return Invalid("host: names in the .invalid domain, such as " +
                   std::string(kBrokerAuditChain) +
                   ", are reserved for the broker's own audit records");
  }
  // NOTE: the broker generates the key and returns it over TLS; a host that
  // sent a certificate signing request would keep its key off the wire.
  auto pair = IssueCert(*ca_, *host, CertUse::kClient, {}, kHostCertDays);
  if (!pair.ok()) throw std::runtime_error(pair.error());
  auto key_pem = PrivateKeyPem(pair.value().key.get());
  auto cert_pem = CertificatePem(pair.value().cert.get());
  auto ca_pem = CertificatePem(ca_->cert.get());
  if (!key_pem.ok() || !cert_pem.ok() || !ca_pem.ok()) {
    if (key_pem.ok()) WipeString(&key_pem.value());
    throw std::runtime_error("PEM encoding of a host certificate failed");
  }
  LogEvent("host_enrolled", {{"host", *host},
                             {"days", std::to_string(kHostCertDays)},
                             {"by", call.person.name}});
  ApiResponse response{201,
                       {{"host", *host},
                        {"certificate", cert_pem.value()},
                        {"key", key_pem.value()},
                        {"ca", ca_pem.value()}}};
  WipeString(&key_pem.value());
  return response;
}

ApiResponse Api::CheckHostNotRevoked(const ApiRequest& request) const {
  auto revoked_at = store_->HostRevokedAt(request.client_host);
  if (revoked_at.error == StoreError::kNotFound) return ApiResponse{};
  if (!revoked_at.ok()) {
    throw std::runtime_error("store: " + revoked_at.message);
  }
  // A certificate issued in the second of the revocation counts as revoked,
  // so that the check fails closed.
  if (request.client_cert_issued_at > revoked_at.value) return ApiResponse{};
  return ErrorResponse(401, "unauthenticated",
                       "the certificate of host " + request.client_host +
                           " was revoked; enroll the host again");
}

ApiResponse Api::RevokeHost(const Call& call) const {
  if (!IsValidHostName(call.id)) {
    return Invalid("host: must be a host name of letters, digits, '.' and "
                   "'-', at most 253 characters");
  }
  FieldReader fields(call.body);
  fields.RejectUnknown({"reason"});
  std::optional<std::string> reason = fields.String("reason");
  if (reason.has_value()) {
    std::string problem = CheckText(*reason, kMaxCommentChars);
    if (!problem.empty()) fields.Fail("reason", problem);
  }
  if (!fields.ok()) return Invalid(fields.error());
  auto revoked =
      store_->RevokeHost(call.id, call.person.name, reason, call.now);
  if (!revoked.ok()) throw std::runtime_error("store: " + revoked.message);
  LogEvent("host_revoked", {{"host", call.id},
                            {"by", call.person.name},
                            {"reason", reason.value_or("")}});
  return ApiResponse{200, {{"host", call.id},
                           {"revoked_at", call.now},
                           {"revoked_by", call.person.name}}};
}

}  // namespace zsp::broker

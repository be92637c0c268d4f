// Store::Open and AuditStore::Open: the choice of back end by location.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "broker/audit_store_sqlite.h"
#include "broker/store_pg.h"
#include "broker/store_sqlite.h"
#include "broker/validate.h"

namespace zsp::broker {
namespace {

// How often a back end without notifications re-reads a waited-on request.
constexpr auto kPollInterval = std::chrono::milliseconds(200);

}  // namespace

StoreResult<bool> AddDistinctPerson(Store& store, const std::string& name,
                                    const std::vector<std::string>& roles,
                                    const std::string& token_sha256,
                                    int64_t now) {
  // NOTE: no database constraint backs this check, so two adds of names
  // that differ only in case at the same moment can both succeed.
  auto people = store.ListPersons();
  if (!people.ok()) return Fail<bool>(people.error, people.message);
  for (const Person& person : people.value) {
    if (person.name != name && SameUserName(person.name, name)) {
      return Fail<bool>(StoreError::kConflict,
                        "person \"" + person.name +
                            "\" exists; names that differ only in case "
                            "count as one person");
    }
  }
  return store.AddPerson(name, roles, token_sha256, now);
}

std::string EncodeSignIn(const SignIn& sign_in) {
  if (sign_in.empty()) return "";
  nlohmann::json object = {{"method", sign_in.method},
                           {"token_type", sign_in.token_type},
                           {"issuer", sign_in.issuer},
                           {"acr", sign_in.acr},
                           {"amr", sign_in.amr},
                           {"auth_time", sign_in.auth_time}};
  // Stored only when known, so that older rows and newer ones read alike.
  if (!sign_in.subject.empty()) object["subject"] = sign_in.subject;
  if (!sign_in.session.empty()) object["session"] = sign_in.session;
  if (!sign_in.remote.empty()) object["remote"] = sign_in.remote;
  // Replacing invalid UTF-8 keeps a hostile claim from making dump throw.
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

SignIn DecodeSignIn(const std::string& text) {
  SignIn sign_in;
  if (text.empty()) return sign_in;
  nlohmann::json object = nlohmann::json::parse(text, nullptr, false);
  if (!object.is_object()) return sign_in;
  auto text_of = [&object](const char* name) {
    auto it = object.find(name);
    return it != object.end() && it->is_string() ? it->get<std::string>()
                                                 : std::string();
  };
  sign_in.method = text_of("method");
  sign_in.token_type = text_of("token_type");
  sign_in.issuer = text_of("issuer");
  sign_in.acr = text_of("acr");
  sign_in.subject = text_of("subject");
  sign_in.session = text_of("session");
  sign_in.remote = text_of("remote");
  if (auto it = object.find("amr"); it != object.end() && it->is_array()) {
    for (const auto& method : *it) {
      if (method.is_string()) sign_in.amr.push_back(method.get<std::string>());
    }
  }
  if (auto it = object.find("auth_time");
      it != object.end() && it->is_number_integer()) {
    sign_in.auth_time = it->get<int64_t>();
  }
  return sign_in;
}

bool RequestOverlapsGrant(const AccessRequest& request, const Grant& grant) {
  if (request.kind == "login") return true;
  bool shares_runas = false;
  for (const auto& user : request.runas) {
    for (const auto& granted : grant.runas) {
      if (user == granted) shares_runas = true;
    }
  }
  bool shares_command = false;
  for (const auto& entry : request.commands) {
    for (const auto& granted : grant.commands) {
      if (entry == granted) shares_command = true;
    }
  }
  // A request that adds a run-as group or environment names widens the
  // scope rather than repeating it, so it does not count as an overlap.
  bool same_extras =
      grant.runas_groups == request.runas_groups && grant.env == request.env;
  return shares_runas && shares_command && same_extras;
}

bool IsPostgresLocation(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 ||
         location.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& location,
                                           const StoreOptions& options) {
  if (IsPostgresLocation(location)) {
    auto opened = PgStore::Open(location, options);
    if (!opened.ok()) return Error{opened.error()};
    return std::unique_ptr<Store>(std::move(opened).value());
  }
  auto opened = SqliteStore::Open(location);
  if (!opened.ok()) return Error{opened.error()};
  return std::unique_ptr<Store>(std::move(opened).value());
}

void Store::WaitForChange(uint64_t,
                          std::chrono::steady_clock::time_point deadline) {
  auto now = std::chrono::steady_clock::now();
  if (now >= deadline) return;
  auto remaining = deadline - now;
  std::this_thread::sleep_for(
      std::min<std::chrono::steady_clock::duration>(remaining, kPollInterval));
}

Result<std::unique_ptr<AuditStore>> AuditStore::Open(
    const std::string& location, EvpPkeyPtr signing_key,
    const StoreOptions& options) {
  if (IsPostgresLocation(location)) {
    auto opened = PgAuditStore::Open(location, std::move(signing_key), options);
    if (!opened.ok()) return Error{opened.error()};
    return std::unique_ptr<AuditStore>(std::move(opened).value());
  }
  auto opened = SqliteAuditStore::Open(location, std::move(signing_key));
  if (!opened.ok()) return Error{opened.error()};
  return std::unique_ptr<AuditStore>(std::move(opened).value());
}

}  // namespace zsp::broker

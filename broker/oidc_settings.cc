// Parsing of oidc.toml, the broker's list of trusted OpenID Connect
// providers and its step-up rules for approvals.
#include <fstream>
#include <set>
#include <sstream>
#include <toml.hpp>

#include "broker/model.h"
#include "broker/oidc.h"
#include "broker/toml_reader.h"
#include "common/escape.h"

namespace zsp::broker {
namespace {

constexpr size_t kMaxOidcFileBytes = 64 * 1024;
constexpr size_t kMaxProviders = 16;
constexpr size_t kMaxListEntries = 64;
constexpr int64_t kMaxClockSkew = 600;
constexpr int64_t kMaxAuthAge = 7 * 24 * 3600;

// A TomlTable of oidc.toml: unknown fields point at docs/identity.md and
// a list holds at most kMaxListEntries non-empty strings.
class Table : public TomlTable {
 public:
  Table(const TomlValue& table, std::string prefix)
      : TomlTable(table, std::move(prefix), "docs/identity.md") {}

  std::vector<std::string> Strings(const std::string& key) const {
    return TomlTable::Strings(key, kMaxListEntries,
                              [](const std::string& text) {
                                return text.empty() ? "must not be empty" : "";
                              });
  }
};

bool IsHttpsUrl(const std::string& url) {
  return url.rfind("https://", 0) == 0 && url.size() > 8 &&
         url.find_first_of(" \t\r\n\"<>") == std::string::npos;
}

void ReadRoles(const Table& provider, OidcProvider* out) {
  const TomlValue* roles = provider.Find("roles");
  if (roles == nullptr) return;
  if (!roles->is_table()) provider.Fail(*roles, "roles", "must be a table");
  Table table(*roles, "roles");
  table.RejectUnknown({"requester", kRoleApprover, kRoleAdmin, kRoleAuditor});
  for (const char* role :
       {"requester", kRoleApprover, kRoleAdmin, kRoleAuditor}) {
    std::vector<std::string> values = table.Strings(role);
    if (!values.empty()) out->roles[role] = std::move(values);
  }
}

OidcProvider ReadProvider(const TomlValue& value, size_t index) {
  Table table(value, "provider[" + std::to_string(index) + "]");
  table.RejectUnknown({"issuer", "ca_file", "cli_client_id", "web_client_id",
                       "audiences", "algorithms", "username_claim",
                       "role_claim", "roles"});
  OidcProvider p;
  p.issuer = table.String("issuer", "");
  if (!IsHttpsUrl(p.issuer)) {
    table.Fail(value, "issuer", "must be an https:// URL");
  }
  p.ca_file = table.String("ca_file", "/etc/ssl/certs/ca-certificates.crt");
  p.cli_client_id = table.String("cli_client_id", "");
  p.web_client_id = table.String("web_client_id", "");
  p.audiences = table.Strings("audiences");
  for (const auto& id : {p.cli_client_id, p.web_client_id}) {
    bool listed = false;
    for (const auto& audience : p.audiences) listed |= audience == id;
    if (!id.empty() && !listed) p.audiences.push_back(id);
  }
  if (p.audiences.empty()) {
    table.Fail(value, "audiences",
               "missing; give audiences, cli_client_id or web_client_id");
  }
  p.algorithms = table.Strings("algorithms");
  if (p.algorithms.empty()) p.algorithms = {"RS256", "PS256", "ES256", "EdDSA"};
  for (const auto& alg : p.algorithms) {
    if (!IsSupportedJwsAlgorithm(alg)) {
      table.Fail(value, "algorithms",
                 "\"" + EscapeForLog(alg, 32) +
                     "\" is not supported; use RS256, PS256, ES256 or EdDSA");
    }
  }
  p.username_claim = table.String("username_claim", p.username_claim);
  p.role_claim = table.String("role_claim", p.role_claim);
  ReadRoles(table, &p);
  return p;
}

ApprovalAuth ReadApproval(const TomlValue& value) {
  Table table(value, "approval");
  table.RejectUnknown({"max_auth_age", "acr", "amr", "api_tokens_may_approve"});
  ApprovalAuth approval;
  approval.max_auth_age = table.Integer("max_auth_age", 0, 0, kMaxAuthAge);
  approval.acr = table.Strings("acr");
  approval.amr = table.Strings("amr");
  approval.api_tokens_may_approve =
      table.Boolean("api_tokens_may_approve", false);
  return approval;
}

OidcSettings ReadSettings(const TomlValue& root) {
  Table table(root, "");
  table.RejectUnknown({"public_url", "clock_skew", "approval", "provider"});
  OidcSettings settings;
  settings.public_url = table.String("public_url", "");
  while (!settings.public_url.empty() && settings.public_url.back() == '/') {
    settings.public_url.pop_back();
  }
  if (!settings.public_url.empty() && !IsHttpsUrl(settings.public_url)) {
    table.Fail(root, "public_url", "must be an https:// URL");
  }
  settings.clock_skew = table.Integer("clock_skew", 60, 0, kMaxClockSkew);
  if (const TomlValue* approval = table.Find("approval")) {
    if (!approval->is_table()) table.Fail(*approval, "approval", "must be a table");
    settings.approval = ReadApproval(*approval);
  }
  const TomlValue* providers = table.Find("provider");
  if (providers == nullptr || !providers->is_array() ||
      providers->as_array().empty() ||
      providers->as_array().size() > kMaxProviders) {
    table.Fail(providers == nullptr ? root : *providers, "provider",
               "expected 1 to 16 [[provider]] tables");
  }
  for (const auto& entry : providers->as_array()) {
    if (!entry.is_table()) table.Fail(entry, "provider", "must be a table");
    settings.providers.push_back(
        ReadProvider(entry, settings.providers.size()));
  }
  return settings;
}

}  // namespace

Result<OidcSettings> ParseOidcSettings(const std::string& text,
                                       const std::string& path) {
  return ParseToml<OidcSettings>(text, path, ReadSettings);
}

Result<OidcSettings> LoadOidcSettings(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Error{path + ": cannot be read"};
  std::string text;
  text.resize(kMaxOidcFileBytes + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(file.gcount()));
  if (text.size() > kMaxOidcFileBytes) {
    return Error{path + ": larger than 64 KiB"};
  }
  return ParseOidcSettings(text, path);
}

}  // namespace zsp::broker

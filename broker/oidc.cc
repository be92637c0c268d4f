#include "broker/oidc.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "broker/model.h"
#include "broker/validate.h"
#include "common/base64url.h"
#include "common/escape.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

constexpr long kFetchConnectTimeoutMs = 2000;
constexpr long kFetchTotalTimeoutMs = 5000;
constexpr size_t kMaxDiscoveryBytes = 64 * 1024;
constexpr size_t kMaxJwksBytes = 256 * 1024;
// A JWKS is fetched again after this many seconds even if no kid is new.
constexpr int64_t kJwksMaxAgeSeconds = 3600;
// Fetches of one provider's discovery or JWKS are at most this often, so
// that tokens with made-up kids cannot make the broker flood a provider.
constexpr int64_t kMinRefetchSeconds = 30;
constexpr size_t kMaxClaimValues = 256;

Result<HttpsResponse> FetchOverHttps(const OidcProvider& provider,
                                     const std::string& url,
                                     size_t max_bytes) {
  HttpsOptions options;
  options.ca_file = provider.ca_file;
  options.connect_timeout_ms = kFetchConnectTimeoutMs;
  options.total_timeout_ms = kFetchTotalTimeoutMs;
  options.max_response_bytes = max_bytes;
  return HttpsRequest(options, "GET", url, "");
}

// The JSON object in a base64url JWT part, or a discarded value.
json DecodePart(std::string_view part) {
  auto bytes = Base64UrlDecode(part);
  if (!bytes.has_value()) return json(json::value_t::discarded);
  json value = json::parse(*bytes, nullptr, false);
  if (!value.is_object()) return json(json::value_t::discarded);
  return value;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The string values of a claim that is a string or an array of strings.
std::vector<std::string> ClaimStrings(const json& claims, const std::string& name) {
  std::vector<std::string> values;
  auto it = claims.find(name);
  if (it == claims.end()) return values;
  if (it->is_string()) values.push_back(it->get<std::string>());
  if (it->is_array()) {
    for (const auto& item : *it) {
      if (values.size() >= kMaxClaimValues) break;
      if (item.is_string()) values.push_back(item.get<std::string>());
    }
  }
  return values;
}

// A NumericDate claim, or nullopt when missing or not a number.
std::optional<int64_t> TimeClaim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return std::nullopt;
  double value = it->get<double>();
  if (value < 0 || value > 1e11) return std::nullopt;
  return static_cast<int64_t>(value);
}

std::string Show(const std::string& text) { return EscapeForLog(text, 128); }

// Checks iss-independent header rules; returns "" or the problem.
std::string CheckHeader(const json& header, const OidcProvider& provider) {
  if (!header.contains("alg") || !header["alg"].is_string()) {
    return "token header has no alg";
  }
  std::string alg = header["alg"].get<std::string>();
  if (!Contains(provider.algorithms, alg)) {
    return "token alg \"" + Show(alg) + "\" is not allowed for this issuer";
  }
  if (header.contains("crit")) return "token header has crit, not supported";
  if (header.contains("typ")) {
    if (!header["typ"].is_string()) return "token typ is not a string";
    std::string typ = header["typ"].get<std::string>();
    std::transform(typ.begin(), typ.end(), typ.begin(), ::tolower);
    if (typ != "jwt" && typ != "at+jwt" && typ != "application/at+jwt") {
      return "token typ \"" + Show(typ) + "\" is not a JWT";
    }
  }
  if (header.contains("kid") && !header["kid"].is_string()) {
    return "token kid is not a string";
  }
  return "";
}

// Checks aud, azp and the time claims; returns "" or the problem.
std::string CheckClaims(const json& claims, const OidcProvider& provider,
                        int64_t skew, int64_t now) {
  std::vector<std::string> audiences = ClaimStrings(claims, "aud");
  bool audience_ok = false;
  for (const auto& audience : audiences) {
    audience_ok |= Contains(provider.audiences, audience);
  }
  if (!audience_ok) return "token audience is not accepted by this broker";
  if (claims.contains("azp") &&
      (!claims["azp"].is_string() ||
       !Contains(provider.audiences, claims["azp"].get<std::string>()))) {
    return "token azp is not a client of this broker";
  }
  auto exp = TimeClaim(claims, "exp");
  auto iat = TimeClaim(claims, "iat");
  if (!exp.has_value()) return "token has no valid exp";
  if (!iat.has_value()) return "token has no valid iat";
  if (now >= *exp + skew) return "token expired; sign in again (zspctl login)";
  if (*iat > now + skew) return "token iat is in the future";
  if (claims.contains("nbf")) {
    auto nbf = TimeClaim(claims, "nbf");
    if (!nbf.has_value()) return "token nbf is not a number";
    if (*nbf > now + skew) return "token is not valid yet (nbf)";
  }
  if (claims.contains("auth_time") &&
      !TimeClaim(claims, "auth_time").has_value()) {
    return "token auth_time is not a number";
  }
  return "";
}

// Reads name, roles and sign-in facts of validated claims into *identity;
// returns "" or the problem.
std::string ReadIdentity(const json& claims, const OidcProvider& provider,
                         OidcIdentity* identity) {
  identity->issuer = provider.issuer;
  identity->subject = claims.value("sub", "");
  std::vector<std::string> names = ClaimStrings(claims, provider.username_claim);
  if (names.size() != 1 || !IsValidUserName(names[0])) {
    return "token claim " + Show(provider.username_claim) +
           " is missing or not a valid user name";
  }
  if (IsBrokerActorName(names[0])) {
    return "token claim " + Show(provider.username_claim) + " names " +
           names[0] + ", which the broker records for its own decisions";
  }
  identity->name = names[0];
  std::vector<std::string> groups = ClaimStrings(claims, provider.role_claim);
  auto has_any = [&groups](const std::vector<std::string>& wanted) {
    for (const auto& group : groups) {
      if (Contains(wanted, group)) return true;
    }
    return false;
  };
  for (const auto& [role, wanted] : provider.roles) {
    if (role == "requester") continue;
    if (has_any(wanted)) identity->roles.push_back(role);
  }
  std::sort(identity->roles.begin(), identity->roles.end());
  auto requester = provider.roles.find("requester");
  identity->may_request =
      requester == provider.roles.end() || has_any(requester->second);
  if (!identity->may_request && identity->roles.empty()) {
    return "token of " + identity->name + " maps to no zsp role (claim " +
           Show(provider.role_claim) + ")";
  }
  identity->auth_time = TimeClaim(claims, "auth_time").value_or(0);
  identity->expires_at = TimeClaim(claims, "exp").value_or(0);
  if (claims.contains("acr") && claims["acr"].is_string()) {
    identity->acr = claims["acr"].get<std::string>();
  }
  identity->amr = ClaimStrings(claims, "amr");
  if (claims.contains("nonce") && claims["nonce"].is_string()) {
    identity->nonce = claims["nonce"].get<std::string>();
  }
  std::vector<std::string> audiences = ClaimStrings(claims, "aud");
  std::vector<std::string> azp = ClaimStrings(claims, "azp");
  std::vector<std::string> client_id = ClaimStrings(claims, "client_id");
  if (azp.size() == 1) {
    identity->client_id = azp[0];
  } else if (client_id.size() == 1) {
    identity->client_id = client_id[0];
  } else if (audiences.size() == 1) {
    identity->client_id = audiences[0];
  }
  identity->audiences = audiences;
  identity->token_type = claims.contains("client_id") ? "access_token"
                                                      : "id_token";
  return "";
}

}  // namespace

// Discovery results and keys of one provider, guarded by mutex.
struct OidcVerifier::ProviderCache {
  std::mutex mutex;
  bool have_discovery = false;
  OidcEndpoints endpoints;
  std::string jwks_uri;
  std::shared_ptr<const std::vector<Jwk>> keys;
  int64_t keys_fetched_at = 0;
  int64_t last_attempt = 0;  // discovery or JWKS, successful or not
};

OidcVerifier::OidcVerifier(OidcSettings settings, Fetcher fetcher)
    : settings_(std::move(settings)), fetcher_(std::move(fetcher)) {
  for (size_t i = 0; i < settings_.providers.size(); ++i) {
    caches_.push_back(std::make_unique<ProviderCache>());
  }
}

OidcVerifier::~OidcVerifier() = default;

const OidcProvider* OidcVerifier::FindProvider(std::string_view issuer) const {
  for (const auto& provider : settings_.providers) {
    if (provider.issuer == issuer) return &provider;
  }
  return nullptr;
}

OidcVerifier::ProviderCache* OidcVerifier::CacheOf(
    const OidcProvider& provider) const {
  size_t index = static_cast<size_t>(&provider - settings_.providers.data());
  return caches_.at(index).get();
}

Result<bool> OidcVerifier::LoadDiscoveryLocked(const OidcProvider& provider,
                                               ProviderCache* cache,
                                               int64_t now) const {
  if (cache->have_discovery) return true;
  if (cache->last_attempt != 0 && now - cache->last_attempt < kMinRefetchSeconds) {
    return Error{"discovery of " + provider.issuer +
                 " failed recently; retrying later"};
  }
  cache->last_attempt = now;
  std::string url = provider.issuer;
  if (!url.empty() && url.back() == '/') url.pop_back();
  url += "/.well-known/openid-configuration";
  auto response = fetcher_ ? fetcher_(provider, url)
                           : FetchOverHttps(provider, url, kMaxDiscoveryBytes);
  if (!response.ok()) return Error{"fetching " + url + " failed: " + response.error()};
  if (response.value().status != 200) {
    return Error{"fetching " + url + " returned HTTP " +
                 std::to_string(response.value().status)};
  }
  json doc = json::parse(response.value().body, nullptr, false);
  if (!doc.is_object() || doc.value("issuer", "") != provider.issuer) {
    return Error{url + ": issuer does not match the configured issuer"};
  }
  std::string jwks_uri = doc.value("jwks_uri", "");
  if (jwks_uri.rfind("https://", 0) != 0) {
    return Error{url + ": jwks_uri is missing or not https"};
  }
  cache->jwks_uri = jwks_uri;
  cache->endpoints.authorization_endpoint =
      doc.value("authorization_endpoint", "");
  cache->endpoints.token_endpoint = doc.value("token_endpoint", "");
  cache->endpoints.device_authorization_endpoint =
      doc.value("device_authorization_endpoint", "");
  auto sends_iss = doc.find("authorization_response_iss_parameter_supported");
  cache->endpoints.sends_iss = sends_iss != doc.end() &&
                               sends_iss->is_boolean() &&
                               sends_iss->get<bool>();
  cache->have_discovery = true;
  cache->last_attempt = 0;
  return true;
}

Result<std::shared_ptr<const std::vector<Jwk>>> OidcVerifier::Keys(
    const OidcProvider& provider, ProviderCache* cache, int64_t now,
    bool refresh) const {
  std::lock_guard<std::mutex> lock(cache->mutex);
  auto discovery = LoadDiscoveryLocked(provider, cache, now);
  if (!discovery.ok()) return Error{discovery.error()};
  bool stale = !cache->keys || now - cache->keys_fetched_at >= kJwksMaxAgeSeconds;
  if (!stale && !refresh) return cache->keys;
  if (now - cache->last_attempt < kMinRefetchSeconds) {
    if (cache->keys) return cache->keys;
    return Error{"JWKS of " + provider.issuer + " failed recently"};
  }
  cache->last_attempt = now;
  auto response = fetcher_ ? fetcher_(provider, cache->jwks_uri)
                           : FetchOverHttps(provider, cache->jwks_uri, kMaxJwksBytes);
  Result<std::vector<Jwk>> keys = Error{""};
  if (!response.ok()) {
    keys = Error{"fetching " + cache->jwks_uri + " failed: " + response.error()};
  } else if (response.value().status != 200) {
    keys = Error{"fetching " + cache->jwks_uri + " returned HTTP " +
                 std::to_string(response.value().status)};
  } else {
    keys = ParseJwks(response.value().body);
  }
  if (!keys.ok()) {
    // Keys that were good stay in use until a fetch succeeds.
    if (cache->keys) return cache->keys;
    return Error{keys.error()};
  }
  cache->keys = std::make_shared<const std::vector<Jwk>>(std::move(keys.value()));
  cache->keys_fetched_at = now;
  return cache->keys;
}

Result<OidcEndpoints> OidcVerifier::Endpoints(const OidcProvider& provider,
                                              int64_t now) const {
  ProviderCache* cache = CacheOf(provider);
  std::lock_guard<std::mutex> lock(cache->mutex);
  auto discovery = LoadDiscoveryLocked(provider, cache, now);
  if (!discovery.ok()) return Error{discovery.error()};
  return cache->endpoints;
}

Result<OidcIdentity> OidcVerifier::Verify(std::string_view token,
                                          int64_t now) const {
  if (token.size() > kMaxOidcTokenBytes || !LooksLikeJwt(token)) {
    return Error{"token is not a compact JWT of at most 16 KiB"};
  }
  size_t dot1 = token.find('.');
  size_t dot2 = token.find('.', dot1 + 1);
  json header = DecodePart(token.substr(0, dot1));
  json claims = DecodePart(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = Base64UrlDecode(token.substr(dot2 + 1));
  if (header.is_discarded() || claims.is_discarded() || !signature.has_value()) {
    return Error{"token is not valid base64url JSON"};
  }
  if (!claims.contains("iss") || !claims["iss"].is_string()) {
    return Error{"token has no iss"};
  }
  const OidcProvider* provider = FindProvider(claims["iss"].get<std::string>());
  if (provider == nullptr) {
    return Error{"token issuer " + Show(claims["iss"].get<std::string>()) +
                 " is not trusted by this broker"};
  }
  std::string problem = CheckHeader(header, *provider);
  if (!problem.empty()) return Error{problem};

  std::string alg = header["alg"].get<std::string>();
  std::string kid = header.value("kid", "");
  std::string_view signing_input = token.substr(0, dot2);
  ProviderCache* cache = CacheOf(*provider);
  SignatureStatus status = SignatureStatus::kWrongKey;
  for (bool refresh : {false, true}) {
    auto keys = Keys(*provider, cache, now, refresh);
    if (!keys.ok()) return Error{keys.error()};
    bool kid_known = false;
    for (const Jwk& key : *keys.value()) {
      if (!kid.empty() && key.kid != kid) continue;
      kid_known = true;
      SignatureStatus result =
          VerifyJwsSignature(alg, key, signing_input, *signature);
      // A key of the wrong type must not hide a failed check by another.
      if (result != SignatureStatus::kWrongKey) status = result;
      if (status == SignatureStatus::kValid) break;
    }
    // Only a kid that the cached JWKS lacks is worth a refetch.
    if (status == SignatureStatus::kValid || kid_known) break;
  }
  if (status == SignatureStatus::kLibraryError) {
    return Error{"token signature check failed inside OpenSSL"};
  }
  if (status != SignatureStatus::kValid) {
    return Error{status == SignatureStatus::kBadSignature
                     ? "token signature is invalid"
                     : "token key " + Show(kid) + " is not in the issuer's JWKS"};
  }

  problem = CheckClaims(claims, *provider, settings_.clock_skew, now);
  if (!problem.empty()) return Error{problem};
  OidcIdentity identity;
  problem = ReadIdentity(claims, *provider, &identity);
  if (!problem.empty()) return Error{problem};
  std::string typ = header.value("typ", "");
  std::transform(typ.begin(), typ.end(), typ.begin(), ::tolower);
  if (typ == "at+jwt" || typ == "application/at+jwt") {
    identity.token_type = "access_token";
  }
  return identity;
}

bool LooksLikeJwt(std::string_view token) {
  size_t dots = 0;
  for (char c : token) {
    if (c == '.') {
      ++dots;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return dots == 2;
}

}  // namespace zsp::broker

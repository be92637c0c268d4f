// People sign in through OpenID Connect providers that the broker trusts
// (DIR/oidc.toml, docs/identity.md). OidcVerifier fetches each provider's
// discovery document and JWKS over verified HTTPS, caches them, and
// validates ID tokens and JWT access tokens: signature, alg allow-list,
// iss, aud, azp, exp, nbf and iat. Claims map to a user name and roles.
#ifndef ZSP_BROKER_OIDC_H_
#define ZSP_BROKER_OIDC_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/https_client.h"
#include "common/jwk.h"
#include "common/result.h"

namespace zsp::broker {

inline constexpr char kOidcFileName[] = "oidc.toml";

// Maximum size of a bearer token that the broker reads, in bytes.
inline constexpr size_t kMaxOidcTokenBytes = 16 * 1024;

struct OidcProvider {
  std::string issuer;         // exact "iss" value, https URL
  std::string ca_file;        // CA bundle for discovery and JWKS
  std::string cli_client_id;  // public client for zspctl login, or ""
  std::string web_client_id;  // client of the web page, or ""
  std::vector<std::string> audiences;   // accepted "aud" values
  std::vector<std::string> algorithms;  // accepted "alg" values
  std::string username_claim = "preferred_username";
  std::string role_claim = "groups";
  // zsp role -> claim values that give it. An empty "requester" list lets
  // every signed-in person file requests.
  std::map<std::string, std::vector<std::string>> roles;
};

// Step-up rules for approvals.
struct ApprovalAuth {
  int64_t max_auth_age = 0;  // seconds; 0 disables the auth_time check
  std::vector<std::string> acr;  // one of these "acr" values, if not empty
  std::vector<std::string> amr;  // one of these "amr" values, if not empty
  // Whether people with API tokens may approve. API tokens carry no
  // sign-in time, so with step-up on they may not unless this is set.
  bool api_tokens_may_approve = false;
};

struct OidcSettings {
  std::vector<OidcProvider> providers;
  ApprovalAuth approval;
  int64_t clock_skew = 60;  // seconds allowed on exp, nbf and iat
  // The broker's URL as browsers reach it, for links in notifications and
  // for the web page's redirect URI; "" disables the web page.
  std::string public_url;
};

// Parses oidc.toml. Errors name path, line and field.
Result<OidcSettings> ParseOidcSettings(const std::string& text,
                                       const std::string& path);
Result<OidcSettings> LoadOidcSettings(const std::string& path);

// A validated token's facts.
struct OidcIdentity {
  std::string issuer;
  std::string subject;
  std::string name;  // from username_claim, a valid user name
  std::vector<std::string> roles;  // approver, admin, auditor; sorted
  bool may_request = false;
  int64_t auth_time = 0;  // Unix seconds, 0 when the token has none
  int64_t expires_at = 0;
  std::string acr;
  std::vector<std::string> amr;
  std::string nonce;
  // The client the token was issued to: azp, else client_id, else the
  // only aud value; "" when the token does not name one.
  std::string client_id;
  std::vector<std::string> audiences;  // the "aud" values
  // "access_token" for a JWT access token (typ at+jwt or a client_id
  // claim, RFC 9068), else "id_token".
  std::string token_type;
};

// The endpoints of a provider's discovery document.
struct OidcEndpoints {
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string device_authorization_endpoint;
  // authorization_response_iss_parameter_supported (RFC 9207): the
  // provider names itself in every authorization response.
  bool sends_iss = false;
};

class OidcVerifier {
 public:
  // Fetches url with the provider's CA; returns the response or an error.
  using Fetcher = std::function<Result<HttpsResponse>(
      const OidcProvider& provider, const std::string& url)>;
  using Clock = std::function<int64_t()>;

  // With a null fetcher, fetches over HTTPS with verified TLS and caps.
  explicit OidcVerifier(OidcSettings settings, Fetcher fetcher = nullptr);
  ~OidcVerifier();
  OidcVerifier(const OidcVerifier&) = delete;
  OidcVerifier& operator=(const OidcVerifier&) = delete;

  // Validates a compact JWT. A failure's message says what is wrong with
  // the token and never contains the token.
  Result<OidcIdentity> Verify(std::string_view token, int64_t now) const;

  // The provider with this issuer, or nullptr.
  const OidcProvider* FindProvider(std::string_view issuer) const;

  // The provider's discovery endpoints, fetched once and cached.
  Result<OidcEndpoints> Endpoints(const OidcProvider& provider,
                                  int64_t now) const;

  const OidcSettings& settings() const { return settings_; }

 private:
  struct ProviderCache;

  Result<std::shared_ptr<const std::vector<Jwk>>> Keys(
      const OidcProvider& provider, ProviderCache* cache, int64_t now,
      bool refresh) const;
  Result<bool> LoadDiscoveryLocked(const OidcProvider& provider,
                                   ProviderCache* cache, int64_t now) const;
  ProviderCache* CacheOf(const OidcProvider& provider) const;

  OidcSettings settings_;
  Fetcher fetcher_;
  std::vector<std::unique_ptr<ProviderCache>> caches_;
};

// True when token has the shape of a compact JWS (three base64url parts).
bool LooksLikeJwt(std::string_view token);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_OIDC_H_

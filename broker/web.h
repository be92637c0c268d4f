// The broker's web approval page under /web/. People sign in through an
// OpenID Connect provider (authorization code flow with PKCE, state and
// nonce). The page lists pending requests they may approve, their own
// requests and active grants, with forms to approve, deny or revoke. Every action
// goes through Api::Handle with the person's ID token, so the page has the
// same rights and step-up rules as zspctl.
//
// Sessions live in memory and end when the ID token expires or the broker
// restarts. Cookies are __Host- prefixed, Secure, HttpOnly and
// SameSite=Lax; every POST needs the session's CSRF token; pages carry a
// strict Content-Security-Policy, no script, and escape every value.
#ifndef ZSP_BROKER_WEB_H_
#define ZSP_BROKER_WEB_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "broker/api.h"
#include "broker/oidc.h"

namespace zsp::broker {

struct WebRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::string body;    // application/x-www-form-urlencoded for POST
  std::string cookie;  // the Cookie header
  std::string origin;  // the Origin header, or ""
  std::string remote;
};

struct WebResponse {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class WebUi {
 public:
  // Fetches the token endpoint with the provider's CA; tests replace it.
  using TokenFetcher = std::function<Result<HttpsResponse>(
      const OidcProvider& provider, const std::string& url,
      const std::string& form)>;

  // api and oidc stay owned by the caller. The page is served only when
  // oidc names a public_url and a provider with a web_client_id.
  WebUi(const Api* api, const OidcVerifier* oidc, Api::Clock clock,
        TokenFetcher fetcher = nullptr);

  bool enabled() const { return provider_ != nullptr; }

  // Serves one request under /web/. Exceptions become a 500 page.
  WebResponse Handle(const WebRequest& request) noexcept;

 private:
  struct Session {
    std::string id_token;
    std::string csrf;
    std::string name;
    int64_t expires_at = 0;
  };
  struct PendingLogin {
    std::string nonce;
    std::string code_verifier;
    int64_t created_at = 0;
  };

  WebResponse Dispatch(const WebRequest& request);
  WebResponse StartLogin(int64_t now);
  WebResponse FinishLogin(const WebRequest& request, int64_t now);
  // Redeems an authorization code at the token endpoint; returns the ID
  // token, or "" after logging why the provider issued none.
  std::string ExchangeCode(const std::string& code,
                           const std::string& code_verifier, int64_t now,
                           const std::string& remote);
  WebResponse ShowPage(const Session& session, const std::string& notice);
  WebResponse Act(const WebRequest& request, const Session& session,
                  const std::string& api_path, const std::string& done);
  // Calls the API as the session's person.
  ApiResponse CallApi(const Session& session, const std::string& method,
                      const std::string& path,
                      const std::map<std::string, std::string>& query,
                      const std::string& body) const;
  // The session named by the request's cookie, if it is still valid.
  std::optional<Session> FindSession(const WebRequest& request, int64_t now);
  void DropExpiredLocked(int64_t now);

  const Api* api_;
  const OidcVerifier* oidc_;
  Api::Clock clock_;
  TokenFetcher fetcher_;
  const OidcProvider* provider_ = nullptr;
  std::string redirect_uri_;

  std::mutex mutex_;
  std::map<std::string, Session> sessions_;           // by session id
  std::map<std::string, PendingLogin> logins_;        // by state
};

// Escapes text for HTML element content and quoted attribute values.
std::string HtmlEscape(std::string_view text);

// Decodes an application/x-www-form-urlencoded body; repeated keys keep
// the first value. Returns false on bad percent-encoding.
bool ParseForm(std::string_view body, std::map<std::string, std::string>* out);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_WEB_H_

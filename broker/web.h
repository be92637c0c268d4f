// The broker's web approval page under /web/. People sign in through an
// OpenID Connect provider (authorization code flow with PKCE, state and
// nonce). The page lists pending requests they may approve, their own
// requests and active grants, with forms to approve, deny or revoke.
// Every action goes through Api::Handle as the session's person with the
// facts of the sign-in, so the page has the same rights and step-up rules
// as zspctl.
//
// Sessions live in the Store, which keeps the SHA-256 of each session id,
// and end when the ID token expires or the person signs out. A sign-in in
// progress keeps nothing in the broker: its cookie carries the state and
// start time under an HMAC, and the nonce and PKCE verifier are HMACs of
// the state, with a key that lives in this process only. Cookies are
// __Host- prefixed, Secure, HttpOnly and SameSite=Lax. Every POST needs
// the session's CSRF token, and pages carry a strict
// Content-Security-Policy, no script, and escape every value.
#ifndef ZSP_BROKER_WEB_H_
#define ZSP_BROKER_WEB_H_

#include <cstdint>
#include <map>
#include <optional>
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
  std::string remote;  // "address:port" of the peer, for the log
  std::string remote_address;  // the peer's IP address alone
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

  // api, store and oidc stay owned by the caller. The page is served only
  // when oidc names a public_url and a provider with a web_client_id.
  // Sessions are kept in store, so they outlive a restart and are shared
  // by every broker instance of a PostgreSQL store.
  WebUi(const Api* api, Store* store, const OidcVerifier* oidc,
        Api::Clock clock, TokenFetcher fetcher = nullptr);

  bool enabled() const { return provider_ != nullptr; }

  // Serves one request under /web/. Exceptions become a 500 page.
  WebResponse Handle(const WebRequest& request) noexcept;

 private:
  WebResponse Dispatch(const WebRequest& request);
  // Sends the browser to the provider. With fresh, the request carries
  // prompt=login, so the provider signs the person in again: the step-up
  // before an approval.
  WebResponse StartLogin(int64_t now, bool fresh);
  WebResponse FinishLogin(const WebRequest& request, int64_t now);
  // Checks the login cookie against the state that the provider returned;
  // returns "" or what is wrong.
  std::string CheckLoginCookie(const std::string& cookie,
                               const std::string& state, int64_t now) const;
  // HMAC-SHA256 of purpose and text under the login key, in base64url.
  std::string LoginSecret(const std::string& purpose,
                          const std::string& text) const;
  // Redeems an authorization code at the token endpoint; returns the ID
  // token, or "" after logging why the provider issued none.
  std::string ExchangeCode(const std::string& code,
                           const std::string& code_verifier, int64_t now,
                           const std::string& remote);
  // The page of session for a caller at remote_address, with notice on
  // top and, with sign_in_again, a link to sign in again.
  WebResponse ShowPage(const WebSession& session,
                       const std::string& remote_address,
                       const std::string& notice, bool sign_in_again = false);
  WebResponse Act(const WebRequest& request, const WebSession& session,
                  const std::string& api_path, const std::string& done);
  // POST /web/logout with the session's CSRF token ends the session; any
  // other method is 405.
  WebResponse Logout(const WebRequest& request,
                     const std::optional<WebSession>& session);
  // Checks a form POST of session: Origin, form encoding and CSRF token.
  // Fills *form and returns nothing when it passes, else the error page.
  std::optional<WebResponse> CheckForm(
      const WebRequest& request, const WebSession& session,
      std::map<std::string, std::string>* form) const;
  // Calls the API as the session's person, from remote_address.
  ApiResponse CallApi(const WebSession& session,
                      const std::string& remote_address,
                      const std::string& method,
                      const std::string& path,
                      const std::map<std::string, std::string>& query,
                      const std::string& body) const;
  // Builds the session of a verified sign-in, with a new CSRF token.
  WebSession NewSession(const OidcIdentity& identity,
                        const std::string& session_id, int64_t now) const;
  // The session named by the request's cookie, if it is still valid.
  std::optional<WebSession> FindSession(const WebRequest& request, int64_t now);
  // Ends the session whose cookie value is id.
  void DropSession(const std::string& id);

  const Api* api_;
  Store* store_;
  const OidcVerifier* oidc_;
  Api::Clock clock_;
  TokenFetcher fetcher_;
  const OidcProvider* provider_ = nullptr;
  std::string redirect_uri_;
  std::string login_key_;  // 32 random bytes; "" when the RNG failed
};

// Escapes text for HTML element content and quoted attribute values.
std::string HtmlEscape(std::string_view text);

// Decodes an application/x-www-form-urlencoded body; repeated keys keep
// the first value. Returns false on bad percent-encoding.
bool ParseForm(std::string_view body, std::map<std::string, std::string>* out);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_WEB_H_

#include "broker/web.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <exception>

#include "broker/access_text.h"
#include "broker/ids.h"
#include "broker/log.h"
#include "broker/validate.h"
#include "common/base64url.h"
#include "common/escape.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

constexpr char kSessionCookie[] = "__Host-zsp-session";
constexpr char kLoginCookie[] = "__Host-zsp-login";
constexpr int64_t kLoginLifetimeSeconds = 600;
constexpr int64_t kMaxSessions = 10000;
constexpr int64_t kMaxSessionSeconds = 12 * 3600;
// A person's sign-in beyond this many live sessions ends their oldest one,
// so that no one person can use up kMaxSessions.
constexpr int64_t kMaxSessionsPerPerson = 20;
// Session ids are 43 base64url characters; longer cookies are not looked up.
constexpr size_t kMaxSessionIdBytes = 64;
constexpr size_t kMaxFormBytes = 8 * 1024;
constexpr size_t kMaxIdBytes = 32;
constexpr long kTokenConnectTimeoutMs = 2000;
constexpr long kTokenTotalTimeoutMs = 5000;
constexpr size_t kMaxTokenResponseBytes = 64 * 1024;

// Refuses scripts, plugins, frames and any load from elsewhere; forms may
// post only to the broker.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'";

// 32 random bytes in base64url, or "" when the RNG fails.
std::string RandomToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "";
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

std::string PkceChallenge(const std::string& verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()),
         verifier.size(), digest);
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

// The value of cookie name in a Cookie header, or "".
std::string CookieValue(const std::string& header, const std::string& name) {
  for (const std::string& part : SplitString(header, ';')) {
    size_t begin = part.find_first_not_of(' ');
    if (begin == std::string::npos) continue;
    size_t equals = part.find('=', begin);
    if (equals == std::string::npos) continue;
    if (part.compare(begin, equals - begin, name) == 0) {
      return part.substr(equals + 1);
    }
  }
  return "";
}

std::string SetCookie(const std::string& name, const std::string& value,
                      int64_t max_age) {
  return name + "=" + value + "; Path=/; Secure; HttpOnly; SameSite=Lax; " +
         "Max-Age=" + std::to_string(max_age);
}

bool EqualSecrets(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Request and grant ids: lowercase letters, digits and '-'.
bool IsPlainId(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The origin of url as browsers send it in Origin: scheme and host in
// lower case, and the port only when it is not the scheme's default.
std::string OriginOf(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  size_t path = url.find('/', scheme_end + 3);
  std::string origin = path == std::string::npos ? url : url.substr(0, path);
  for (char& c : origin) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::string scheme = origin.substr(0, scheme_end);
  std::string default_port = scheme == "https" ? ":443"
                             : scheme == "http" ? ":80"
                                                : "";
  if (!default_port.empty() && origin.size() > default_port.size() &&
      origin.compare(origin.size() - default_port.size(), default_port.size(),
                     default_port) == 0) {
    origin.resize(origin.size() - default_port.size());
  }
  return origin;
}

WebResponse Html(int status, std::string body) {
  WebResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

WebResponse Redirect(const std::string& location) {
  WebResponse response;
  response.status = 302;
  response.headers.emplace_back("Location", location);
  return response;
}

std::string Document(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<title>" +
         HtmlEscape(title) + "</title></head><body><h1>" + HtmlEscape(title) +
         "</h1>\n" + body + "</body></html>\n";
}

std::string Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return "";
}

// The scope cell of a request or grant: what zspctl shows, with each
// command on a line of its own, so that an argument holding ", " cannot
// pass for two commands.
std::string ScopeHtml(const json& object) {
  AccessText access = DescribeAccess(
      object, [](std::string_view text) { return HtmlEscape(text); });
  std::string html = access.head;
  for (const auto& command : access.commands) {
    html += "<br><code>" + command + "</code>";
  }
  if (access.full_root) {
    html += std::string("<br><strong>warning: ") + kFullRootWarning +
            "</strong>";
  }
  return html;
}

// A form that posts to action with the CSRF token and an optional text
// field. Its data attributes name the request and the action, for tests.
std::string ActionForm(const std::string& action, const std::string& id,
                       const std::string& verb, const std::string& csrf,
                       const std::string& field) {
  std::string form = "<form method=\"post\" action=\"" + HtmlEscape(action) +
                     "\" data-request=\"" + HtmlEscape(id) +
                     "\" data-action=\"" + HtmlEscape(verb) +
                     "\"><input type=\"hidden\" name=\"csrf\" value=\"" +
                     HtmlEscape(csrf) + "\">";
  if (!field.empty()) {
    form += "<input type=\"text\" name=\"" + HtmlEscape(field) +
            "\" maxlength=\"1024\" placeholder=\"" + HtmlEscape(field) + "\">";
  }
  return form + "<button type=\"submit\">" + HtmlEscape(verb) +
         "</button></form>";
}

// The sign-out button: a POST with the CSRF token, so that another site
// cannot sign the person out.
std::string LogoutForm(const std::string& csrf, const std::string& label) {
  return "<form method=\"post\" action=\"/web/logout\" id=\"logout\">"
         "<input type=\"hidden\" name=\"csrf\" value=\"" +
         HtmlEscape(csrf) + "\"><button type=\"submit\">" + HtmlEscape(label) +
         "</button></form>";
}

std::string RequestRow(const json& r, const std::string& actions) {
  int64_t required = r.value("approvals_required", 1);
  int64_t have = r.contains("approvals") && r["approvals"].is_array()
                     ? static_cast<int64_t>(r["approvals"].size())
                     : 0;
  std::string id = Field(r, "id");
  return "<tr id=\"" + HtmlEscape(id) + "\"><td>" + HtmlEscape(id) +
         "</td><td>" + HtmlEscape(Field(r, "requester")) + "</td><td>" +
         HtmlEscape(Field(r, "host")) + "</td><td>" + ScopeHtml(r) +
         "</td><td>" + HtmlEscape(Field(r, "duration")) + " s</td><td>" +
         HtmlEscape(Field(r, "reason")) + "</td><td>" +
         HtmlEscape(Field(r, "state")) + "</td><td>" +
         std::to_string(std::max<int64_t>(required - have, 0)) + "</td><td>" +
         actions + "</td></tr>\n";
}

constexpr char kRequestHeader[] =
    "<table><tr><th>request</th><th>requester</th><th>host</th>"
    "<th>scope</th><th>duration</th><th>reason</th><th>state</th>"
    "<th>approvals needed</th><th></th></tr>\n";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    char32_t code_point = 0;
    size_t length = DecodeUtf8(text, i, &code_point);
    // A browser would apply a direction override however it is written,
    // so such characters from older stored rows are shown as their code.
    if (length > 0 && IsUnsafeToDisplay(code_point)) {
      char code[16];
      snprintf(code, sizeof code, "[U+%04X]",
               static_cast<unsigned int>(code_point));
      out += code;
      i += length;
      continue;
    }
    char c = text[i++];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

bool ParseForm(std::string_view body, std::map<std::string, std::string>* out) {
  auto decode = [](std::string_view text, std::string* value) {
    value->clear();
    for (size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == '+') {
        *value += ' ';
      } else if (c == '%') {
        if (i + 2 >= text.size()) return false;
        unsigned int byte = 0;
        for (int k = 1; k <= 2; ++k) {
          char h = text[i + k];
          byte <<= 4;
          if (h >= '0' && h <= '9') byte |= h - '0';
          else if (h >= 'a' && h <= 'f') byte |= h - 'a' + 10;
          else if (h >= 'A' && h <= 'F') byte |= h - 'A' + 10;
          else return false;
        }
        *value += static_cast<char>(byte);
        i += 2;
      } else {
        *value += c;
      }
    }
    return true;
  };
  for (const std::string& pair : SplitString(body, '&')) {
    if (pair.empty()) continue;
    size_t equals = pair.find('=');
    std::string key;
    std::string value;
    if (!decode(std::string_view(pair).substr(0, equals), &key)) return false;
    if (equals != std::string::npos &&
        !decode(std::string_view(pair).substr(equals + 1), &value)) {
      return false;
    }
    out->emplace(key, value);
  }
  return true;
}

WebUi::WebUi(const Api* api, Store* store, const OidcVerifier* oidc,
             Api::Clock clock, TokenFetcher fetcher)
    : api_(api), store_(store), oidc_(oidc), clock_(std::move(clock)),
      fetcher_(std::move(fetcher)) {
  if (oidc_ == nullptr || oidc_->settings().public_url.empty()) return;
  for (const auto& provider : oidc_->settings().providers) {
    if (!provider.web_client_id.empty()) {
      provider_ = &provider;
      break;
    }
  }
  redirect_uri_ = oidc_->settings().public_url + "/web/callback";
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) == 1) {
    login_key_.assign(reinterpret_cast<char*>(key), sizeof key);
  }
}

WebResponse WebUi::Handle(const WebRequest& request) noexcept {
  WebResponse response;
  try {
    response = enabled() ? Dispatch(request)
                         : Html(404, Document("Not found",
                                              "<p>The web page is not "
                                              "configured.</p>"));
  } catch (const std::exception& e) {
    LogEvent("error", {{"path", request.path}, {"detail", e.what()}});
    response = Html(500, Document("Error", "<p>The broker failed.</p>"));
  }
  response.headers.emplace_back("Content-Security-Policy",
                                kContentSecurityPolicy);
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  // With "no-referrer" browsers send "Origin: null" on form posts, which
  // the Origin check would reject; "same-origin" keeps URLs from leaving.
  response.headers.emplace_back("Referrer-Policy", "same-origin");
  response.headers.emplace_back("Cache-Control", "no-store");
  // The broker serves HTTPS only, so browsers may refuse plain HTTP to it.
  response.headers.emplace_back("Strict-Transport-Security",
                                "max-age=31536000");
  return response;
}

WebResponse WebUi::Dispatch(const WebRequest& request) {
  int64_t now = clock_();
  if (request.method == "GET" && request.path == "/web/callback") {
    return FinishLogin(request, now);
  }
  if (request.method == "GET" && request.path == "/web/login") {
    return StartLogin(now, true);
  }
  std::optional<WebSession> session = FindSession(request, now);
  if (request.path == "/web/logout") return Logout(request, session);
  if (request.method == "GET" && request.path == "/web/") {
    if (!session.has_value()) return StartLogin(now, false);
    return ShowPage(*session, request.remote_address, "");
  }
  if (request.method != "POST") {
    return Html(404, Document("Not found", "<p>No such page.</p>"));
  }
  if (!session.has_value()) {
    return Html(401, Document("Signed out", "<p>Your session ended. "
                                            "<a href=\"/web/\">Sign in "
                                            "again</a>.</p>"));
  }
  std::vector<std::string> parts = SplitString(request.path, '/');
  // "", "web", "requests"|"grants", ID, ACTION
  if (parts.size() != 5 || !IsPlainId(parts[3])) {
    return Html(404, Document("Not found", "<p>No such action.</p>"));
  }
  const std::string& id = parts[3];
  if (parts[2] == "requests" && (parts[4] == "approve" || parts[4] == "deny")) {
    return Act(request, *session, "/v1/requests/" + id + "/" + parts[4],
               parts[4] == "approve" ? "approved " + id : "denied " + id);
  }
  if (parts[2] == "grants" && parts[4] == "revoke") {
    return Act(request, *session, "/v1/grants/" + id + "/revoke",
               "revoked " + id);
  }
  return Html(404, Document("Not found", "<p>No such action.</p>"));
}

WebResponse WebUi::StartLogin(int64_t now, bool fresh) {
  auto endpoints = oidc_->Endpoints(*provider_, now);
  if (!endpoints.ok() || endpoints.value().authorization_endpoint.empty()) {
    LogEvent("error", {{"detail", "web sign-in: provider discovery failed"},
                       {"error", endpoints.ok() ? "no authorization_endpoint"
                                                : endpoints.error()}});
    return Html(503, Document("Sign-in unavailable",
                              "<p>The identity provider cannot be reached; "
                              "try again later.</p>"));
  }
  std::string state = RandomToken();
  if (state.empty()) throw std::runtime_error("RAND_bytes failed");
  std::string started = std::to_string(now);
  std::string location =
      endpoints.value().authorization_endpoint +
      "?response_type=code&client_id=" + PercentEncode(provider_->web_client_id) +
      "&redirect_uri=" + PercentEncode(redirect_uri_) +
      "&scope=" + PercentEncode("openid profile") + "&state=" + state +
      "&nonce=" + LoginSecret("nonce", state) +
      "&code_challenge=" + PkceChallenge(LoginSecret("pkce", state)) +
      "&code_challenge_method=S256";
  // Ask the provider for the sign-in that approvals need, so that a
  // session it reuses still passes the step-up rules.
  const ApprovalAuth& rules = oidc_->settings().approval;
  if (fresh) {
    location += "&prompt=login";
  } else if (rules.max_auth_age > 0) {
    location += "&max_age=" + std::to_string(rules.max_auth_age);
  }
  if (!rules.acr.empty()) {
    std::string values;
    for (const auto& acr : rules.acr) values += (values.empty() ? "" : " ") + acr;
    location += "&acr_values=" + PercentEncode(values);
  }
  std::string signed_part = state + "." + started;
  WebResponse out = Redirect(location);
  out.headers.emplace_back(
      "Set-Cookie",
      SetCookie(kLoginCookie, signed_part + "." + LoginSecret("cookie", signed_part),
                kLoginLifetimeSeconds));
  return out;
}

std::string WebUi::LoginSecret(const std::string& purpose,
                               const std::string& text) const {
  std::string message = purpose + ":" + text;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (login_key_.empty() ||
      HMAC(EVP_sha256(), login_key_.data(), static_cast<int>(login_key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), mac, &length) == nullptr) {
    throw std::runtime_error("HMAC of the sign-in state failed");
  }
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<char*>(mac), length));
}

std::string WebUi::CheckLoginCookie(const std::string& cookie,
                                    const std::string& state,
                                    int64_t now) const {
  if (cookie.empty()) {
    return "the browser sent no sign-in cookie; open the page at " +
           oidc_->settings().public_url + "/web/ and sign in there";
  }
  std::vector<std::string> parts = SplitString(cookie, '.');
  if (parts.size() != 3 || parts[1].empty() || parts[1].size() > 18 ||
      parts[1].find_first_not_of("0123456789") != std::string::npos ||
      !EqualSecrets(LoginSecret("cookie", parts[0] + "." + parts[1]),
                    parts[2])) {
    return "the sign-in cookie is invalid or from before a broker restart";
  }
  if (state.empty() || !EqualSecrets(parts[0], state)) {
    return "the state from the identity provider does not match the "
           "sign-in cookie";
  }
  int64_t started = std::stoll(parts[1]);
  if (now - started > kLoginLifetimeSeconds || started > now + 60) {
    return "the sign-in took longer than " +
           std::to_string(kLoginLifetimeSeconds / 60) + " minutes";
  }
  return "";
}

WebResponse WebUi::FinishLogin(const WebRequest& request, int64_t now) {
  auto param = [&request](const char* name) {
    auto it = request.query.find(name);
    return it == request.query.end() ? std::string() : it->second;
  };
  std::string state = param("state");
  std::string problem =
      CheckLoginCookie(CookieValue(request.cookie, kLoginCookie), state, now);
  if (problem.empty() && !param("iss").empty() &&
      param("iss") != provider_->issuer) {
    // RFC 9207: the callback names the issuer of the provider that sent it.
    problem = "the callback came from issuer " + EscapeForLog(param("iss"), 128) +
          ", not " + provider_->issuer;
  }
  if (problem.empty() && param("iss").empty()) {
    // RFC 9207: a provider that promises iss always sends it,
    // so a callback without it did not come from that provider.
    auto endpoints = oidc_->Endpoints(*provider_, now);
    if (endpoints.ok() && endpoints.value().sends_iss) {
      problem = "the callback has no iss parameter, though " +
                provider_->issuer + " sends one with every sign-in";
    }
  }
  if (!problem.empty()) {
    LogEvent("reject", {{"detail", "web sign-in: callback rejected"},
                        {"remote", request.remote},
                        {"error", problem}});
    return Html(400, Document("Sign-in failed",
                              "<p>The sign-in failed: " + HtmlEscape(problem) +
                                  ". <a href=\"/web/\">Start again</a>.</p>"));
  }
  std::string code = param("code");
  if (code.empty()) {
    std::string error = param("error");
    std::string description = param("error_description");
    LogEvent("reject", {{"detail", "web sign-in: the provider returned no code"},
                        {"remote", request.remote},
                        {"error", error},
                        {"description", description}});
    return Html(400, Document("Sign-in failed",
                              "<p>The identity provider returned no code: " +
                                  HtmlEscape(error) +
                                  (description.empty()
                                       ? std::string()
                                       : " (" + HtmlEscape(description) + ")") +
                                  ". <a href=\"/web/\">Start again</a>.</p>"));
  }
  std::string id_token =
      ExchangeCode(code, LoginSecret("pkce", state), now, request.remote);
  if (id_token.empty()) {
    return Html(502, Document("Sign-in failed",
                              "<p>The identity provider did not issue a "
                              "token. <a href=\"/web/\">Start again</a>.</p>"));
  }

  auto identity = oidc_->Verify(id_token, now);
  if (identity.ok()) {
    const OidcIdentity& id = identity.value();
    if (!EqualSecrets(id.nonce, LoginSecret("nonce", state))) {
      problem = "nonce does not match";
    } else if (id.issuer != provider_->issuer) {
      problem = "the ID token comes from issuer " + id.issuer + ", not " +
            provider_->issuer;
    } else if (id.client_id != provider_->web_client_id) {
      problem = "the ID token was issued to client \"" +
                EscapeForLog(id.client_id, 128) + "\"" +
            ", not to the web page's client " + provider_->web_client_id;
    } else if (std::find(id.audiences.begin(), id.audiences.end(),
                         provider_->web_client_id) == id.audiences.end()) {
      // OpenID Connect Core 3.1.3.7: aud must name the client as well.
      problem = "the ID token's audience does not name the web page's "
                "client " + provider_->web_client_id;
    }
  } else {
    problem = identity.error();
  }
  if (!problem.empty()) {
    LogEvent("reject", {{"detail", "web sign-in: ID token rejected"},
                        {"remote", request.remote},
                        {"error", problem}});
    return Html(401, Document("Sign-in failed",
                              "<p>" + HtmlEscape(problem) +
                                  ". Ask your zsp administrator if this "
                                  "persists.</p>"));
  }
  // A new sign-in in the same browser replaces the session it had.
  std::string old_session = CookieValue(request.cookie, kSessionCookie);
  if (!old_session.empty() && old_session.size() <= kMaxSessionIdBytes) {
    DropSession(old_session);
  }
  std::string session_id = RandomToken();
  WebSession session = NewSession(identity.value(), session_id, now);
  auto added = store_->AddWebSession(session, now, kMaxSessions,
                                     kMaxSessionsPerPerson);
  if (added.error == StoreError::kConflict) {
    return Html(503, Document("Busy", "<p>Too many sessions.</p>"));
  }
  if (!added.ok()) throw std::runtime_error("store: " + added.message);
  LogEvent("web_login", {{"user", session.person},
                         {"issuer", provider_->issuer},
                         {"subject", session.sign_in.subject},
                         {"session", session.sign_in.session},
                         {"remote", request.remote}});
  WebResponse out = Redirect("/web/");
  out.headers.emplace_back(
      "Set-Cookie",
      SetCookie(kSessionCookie, session_id,
                std::max<int64_t>(session.expires_at - now, 1)));
  out.headers.emplace_back("Set-Cookie", SetCookie(kLoginCookie, "", 0));
  return out;
}

std::string WebUi::ExchangeCode(const std::string& code,
                                const std::string& code_verifier, int64_t now,
                                const std::string& remote) {
  auto endpoints = oidc_->Endpoints(*provider_, now);
  if (!endpoints.ok()) throw std::runtime_error(endpoints.error());
  std::string form = "grant_type=authorization_code&code=" + PercentEncode(code) +
                     "&redirect_uri=" + PercentEncode(redirect_uri_) +
                     "&client_id=" + PercentEncode(provider_->web_client_id) +
                     "&code_verifier=" + code_verifier;
  const std::string& url = endpoints.value().token_endpoint;
  Result<HttpsResponse> response = Error{""};
  if (fetcher_) {
    response = fetcher_(*provider_, url, form);
  } else {
    HttpsOptions options;
    options.ca_file = provider_->ca_file;
    options.connect_timeout_ms = kTokenConnectTimeoutMs;
    options.total_timeout_ms = kTokenTotalTimeoutMs;
    options.max_response_bytes = kMaxTokenResponseBytes;
    options.content_type = "application/x-www-form-urlencoded";
    response = HttpsRequest(options, "POST", url, form);
  }

  json body;
  if (response.ok()) body = json::parse(response.value().body, nullptr, false);
  std::string id_token;
  if (body.is_object()) id_token = body.value("id_token", std::string());
  if (!response.ok() || response.value().status != 200 || id_token.empty()) {
    std::string error = response.ok()
                            ? "HTTP " + std::to_string(response.value().status)
                            : response.error();
    if (response.ok() && response.value().status == 200) {
      error += ": the token response has no id_token";
    }
    // RFC 6749 section 5.2: the provider's error code and description.
    if (body.is_object() && body.contains("error")) {
      error += ": " + EscapeForLog(body["error"].is_string()
                                       ? body["error"].get<std::string>()
                                       : body["error"].dump(),
                                   128);
      auto description = body.find("error_description");
      if (description != body.end() && description->is_string()) {
        error += " (" + EscapeForLog(description->get<std::string>(), 256) +
                 ")";
      }
    }
    LogEvent("reject", {{"detail", "web sign-in: token request failed"},
                        {"remote", remote},
                        {"error", error}});
    return "";
  }
  return id_token;
}

WebSession WebUi::NewSession(const OidcIdentity& identity,
                             const std::string& session_id, int64_t now) const {
  WebSession session;
  session.id_sha256 = Sha256Hex(session_id);
  session.person = identity.name;
  session.roles = identity.roles;
  session.may_request = identity.may_request;
  session.csrf = RandomToken();
  session.sign_in.method = "web_session";
  session.sign_in.token_type = identity.token_type;
  session.sign_in.issuer = identity.issuer;
  session.sign_in.acr = identity.acr;
  session.sign_in.amr = identity.amr;
  session.sign_in.auth_time = identity.auth_time;
  session.sign_in.subject = identity.subject;
  session.sign_in.session = session.id_sha256.substr(0, 16);
  session.created_at = now;
  // A provider may issue ID tokens for days, but a session ends after
  // kMaxSessionSeconds, so the next sign-in also renews the roles.
  session.expires_at = std::min(identity.expires_at, now + kMaxSessionSeconds);
  if (session.csrf.empty() || session_id.empty()) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return session;
}

std::optional<WebSession> WebUi::FindSession(const WebRequest& request,
                                             int64_t now) {
  std::string id = CookieValue(request.cookie, kSessionCookie);
  if (id.empty() || id.size() > kMaxSessionIdBytes) return std::nullopt;
  auto found = store_->FindWebSession(Sha256Hex(id), now);
  if (found.error == StoreError::kNotFound) return std::nullopt;
  if (!found.ok()) throw std::runtime_error("store: " + found.message);
  return std::move(found.value);
}

void WebUi::DropSession(const std::string& id) {
  auto deleted = store_->DeleteWebSession(Sha256Hex(id));
  if (!deleted.ok()) throw std::runtime_error("store: " + deleted.message);
}

ApiResponse WebUi::CallApi(const WebSession& session,
                           const std::string& remote_address,
                           const std::string& method, const std::string& path,
                           const std::map<std::string, std::string>& query,
                           const std::string& body) const {
  ApiRequest request;
  request.method = method;
  request.path = path;
  request.query = query;
  request.body = body;
  request.web_session = &session;
  request.remote = "web " + remote_address;
  request.remote_address = remote_address;
  return api_->Handle(request);
}

std::optional<WebResponse> WebUi::CheckForm(
    const WebRequest& request, const WebSession& session,
    std::map<std::string, std::string>* form) const {
  std::string expected_origin = OriginOf(oidc_->settings().public_url);
  if (!request.origin.empty() && OriginOf(request.origin) != expected_origin) {
    LogEvent("reject", {{"detail", "web form from another origin"},
                        {"user", session.person},
                        {"path", request.path},
                        {"origin", request.origin},
                        {"expected", expected_origin},
                        {"remote", request.remote}});
    return Html(403, Document("Rejected",
                              "<p>The request came from another site. Open "
                              "the page at " +
                                  HtmlEscape(oidc_->settings().public_url) +
                                  "/web/ and try again.</p>"));
  }
  if (request.body.size() > kMaxFormBytes || !ParseForm(request.body, form)) {
    return Html(400, Document("Rejected", "<p>The form is invalid.</p>"));
  }
  if (!EqualSecrets((*form)["csrf"], session.csrf)) {
    LogEvent("reject", {{"detail", "web action without a valid CSRF token"},
                        {"user", session.person},
                        {"path", request.path},
                        {"remote", request.remote}});
    return Html(403, Document("Rejected", "<p>The form's CSRF token is "
                                          "missing or wrong; reload the page "
                                          "and try again.</p>"));
  }
  return std::nullopt;
}

WebResponse WebUi::Logout(const WebRequest& request,
                          const std::optional<WebSession>& session) {
  if (request.method != "POST") {
    WebResponse out = Html(
        405, Document("Method not allowed",
                      "<p>Sign out with the button on the <a "
                      "href=\"/web/\">page</a>.</p>"));
    out.headers.emplace_back("Allow", "POST");
    return out;
  }
  if (session.has_value()) {
    std::map<std::string, std::string> form;
    std::optional<WebResponse> rejected = CheckForm(request, *session, &form);
    if (rejected.has_value()) return *rejected;
    DropSession(CookieValue(request.cookie, kSessionCookie));
    LogEvent("web_logout", {{"user", session->person},
                            {"session", session->sign_in.session},
                            {"remote", request.remote}});
  }
  WebResponse out = Html(200, Document("Signed out", "<p><a href=\"/web/\">"
                                                     "Sign in</a></p>"));
  // The cookie is cleared only after a checked sign-out. A POST with no
  // session is what another site's form produces, because the browser
  // withholds the SameSite=Lax cookie, and it must not sign anyone out.
  if (session.has_value()) {
    out.headers.emplace_back("Set-Cookie", SetCookie(kSessionCookie, "", 0));
  }
  return out;
}

WebResponse WebUi::Act(const WebRequest& request, const WebSession& session,
                       const std::string& api_path, const std::string& done) {
  std::map<std::string, std::string> form;
  std::optional<WebResponse> rejected = CheckForm(request, session, &form);
  if (rejected.has_value()) return *rejected;
  json body = json::object();
  const char* field = api_path.find("/revoke") != std::string::npos
                          ? "reason"
                          : "comment";
  if (!form[field].empty()) body[field] = form[field];
  ApiResponse result = CallApi(session, request.remote_address, "POST",
                               api_path, {}, body.dump());
  std::string notice =
      result.status == 200
          ? done
          : "failed: " + result.body.value("message", std::string("error"));
  bool step_up = result.body.value("error", std::string()) == "step_up_required";
  WebResponse page = ShowPage(session, request.remote_address, notice, step_up);
  if (result.status != 200) page.status = result.status;
  return page;
}

WebResponse WebUi::ShowPage(const WebSession& session,
                            const std::string& remote_address,
                            const std::string& notice, bool sign_in_again) {
  auto call = [&](const std::string& path,
                  const std::map<std::string, std::string>& query) {
    return CallApi(session, remote_address, "GET", path, query, "");
  };
  ApiResponse me = call("/v1/whoami", {});
  if (me.status != 200) {
    return Html(me.status,
                Document("Signed out",
                         "<p>" + HtmlEscape(me.body.value("message", "")) +
                             "</p>" + LogoutForm(session.csrf, "Sign in again")));
  }
  bool approver = false;
  for (const auto& role : me.body["roles"]) approver |= role == kRoleApprover;
  std::string html = "<p>Signed in as <strong>" + HtmlEscape(session.person) +
                     "</strong>.</p>" + LogoutForm(session.csrf, "Sign out") +
                     "\n";
  if (!notice.empty()) {
    html += "<p id=\"notice\">" + HtmlEscape(notice) + "</p>\n";
  }
  if (sign_in_again) {
    html += "<p><a id=\"sign-in-again\" href=\"/web/login\">Sign in "
            "again</a>, then retry.</p>\n";
  }

  html += "<h2>Pending requests you may approve</h2>\n";
  html += kRequestHeader;
  ApiResponse pending = call("/v1/requests", {{"state", "pending"}});
  for (const auto& r : pending.body.value("requests", json::array())) {
    if (!approver || SameUserName(Field(r, "requester"), session.person)) {
      continue;
    }
    bool voted = false;
    for (const auto& name : r.value("approvals", json::array())) {
      voted |= name.is_string() &&
               SameUserName(name.get<std::string>(), session.person);
    }
    if (voted) continue;
    std::string id = Field(r, "id");
    std::string actions =
        ActionForm("/web/requests/" + id + "/approve", id, "approve",
                   session.csrf, "comment") +
        ActionForm("/web/requests/" + id + "/deny", id, "deny", session.csrf,
                   "comment");
    html += RequestRow(r, actions);
  }
  html += "</table>\n<h2>Your requests</h2>\n";
  html += kRequestHeader;
  ApiResponse mine = call("/v1/requests", {{"mine", "1"}});
  for (const auto& r : mine.body.value("requests", json::array())) {
    html += RequestRow(r, "");
  }
  html += "</table>\n<h2>Active grants</h2>\n<table><tr><th>grant</th>"
          "<th>user</th><th>host</th><th>scope</th><th>time left</th>"
          "<th></th></tr>\n";
  ApiResponse grants = call("/v1/grants", {{"active", "1"}});
  bool admin = false;
  for (const auto& role : me.body["roles"]) admin |= role == kRoleAdmin;
  int64_t now = clock_();
  for (const auto& g : grants.body.value("grants", json::array())) {
    std::string id = Field(g, "id");
    int64_t left = g.value("expires_at", int64_t{0}) - now;
    std::string actions;
    if (admin || Field(g, "user") == session.person) {
      actions = ActionForm("/web/grants/" + id + "/revoke", id, "revoke",
                           session.csrf, "reason");
    }
    html += "<tr id=\"" + HtmlEscape(id) + "\"><td>" + HtmlEscape(id) +
            "</td><td>" + HtmlEscape(Field(g, "user")) + "</td><td>" +
            HtmlEscape(Field(g, "host")) + "</td><td>" +
            ScopeHtml(g) + "</td><td>" +
            std::to_string(std::max<int64_t>(left, 0)) + " s</td><td>" +
            actions + "</td></tr>\n";
  }
  html += "</table>\n";
  return Html(200, Document("zsp access requests", html));
}

}  // namespace zsp::broker

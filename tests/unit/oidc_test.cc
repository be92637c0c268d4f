// Tests for broker/oidc and common/jwk: token validation with RS256, PS256
// and ES256 keys made in process, every claim and header rejection, the
// JWKS refetch on an unknown kid and its rate limit, JWK parsing and
// oidc.toml parsing. A fake fetcher serves discovery and the JWKS.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "broker/ids.h"
#include "broker/oidc.h"
#include "broker/pki.h"
#include "broker/store.h"
#include "broker/web.h"
#include "common/base64url.h"
#include "common/jwk.h"

namespace {

using nlohmann::json;
using zsp::Base64UrlEncode;
using zsp::EvpPkeyPtr;
using zsp::broker::OidcSettings;
using zsp::broker::OidcVerifier;

constexpr char kIssuer[] = "https://idp.test";
constexpr int64_t kNow = 1800000000;

std::string BignumParam(EVP_PKEY* key, const char* name) {
  BIGNUM* value = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &value) != 1) return "";
  std::string bytes(static_cast<size_t>(BN_num_bytes(value)), '\0');
  BN_bn2bin(value, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(value);
  return bytes;
}

// The public JWK of an RSA or P-256 key.
json PublicJwk(EVP_PKEY* key, const std::string& kid) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    return {{"kty", "RSA"},
            {"kid", kid},
            {"n", Base64UrlEncode(BignumParam(key, OSSL_PKEY_PARAM_RSA_N))},
            {"e", Base64UrlEncode(BignumParam(key, OSSL_PKEY_PARAM_RSA_E))}};
  }
  std::string x = BignumParam(key, OSSL_PKEY_PARAM_EC_PUB_X);
  std::string y = BignumParam(key, OSSL_PKEY_PARAM_EC_PUB_Y);
  x.insert(0, 32 - x.size(), '\0');
  y.insert(0, 32 - y.size(), '\0');
  return {{"kty", "EC"},
          {"kid", kid},
          {"crv", "P-256"},
          {"x", Base64UrlEncode(x)},
          {"y", Base64UrlEncode(y)}};
}

// Signs header.claims with key as alg (RS256, PS256 or ES256).
std::string Sign(EVP_PKEY* key, const std::string& alg, const json& header,
                 const json& claims) {
  std::string input = Base64UrlEncode(header.dump()) + "." +
                      Base64UrlEncode(claims.dump());
  zsp::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key);
  if (alg == "PS256") {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t size = 0;
  EVP_DigestSign(ctx.get(), nullptr, &size,
                 reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string signature(size, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()),
                 &size, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  signature.resize(size);
  if (alg == "ES256") {
    // DER to the JWS form R || S, 32 bytes each.
    const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(size));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig),
                 reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig),
                 reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    signature = raw;
  }
  return input + "." + Base64UrlEncode(signature);
}

json Claims() {
  return {{"iss", kIssuer},
          {"sub", "u-1"},
          {"aud", "zspctl"},
          {"preferred_username", "bob"},
          {"groups", {"eng", "approvers"}},
          {"iat", kNow - 10},
          {"exp", kNow + 300},
          {"auth_time", kNow - 20},
          {"acr", "urn:mfa"},
          {"amr", {"pwd", "otp"}}};
}

OidcSettings Settings() {
  std::string text = std::string("[[provider]]\nissuer = \"") + kIssuer +
                     "\"\ncli_client_id = \"zspctl\"\n"
                     "[provider.roles]\nrequester = [\"eng\"]\n"
                     "approver = [\"approvers\"]\n";
  auto settings = zsp::broker::ParseOidcSettings(text, "oidc.toml");
  if (!settings.ok()) throw std::runtime_error(settings.error());
  return settings.value();
}

}  // namespace

class OidcTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(OidcTest);
  CPPUNIT_TEST(ValidTokensOfEachAlgorithm);
  CPPUNIT_TEST(RolesFromGroups);
  CPPUNIT_TEST(RejectsBadHeaders);
  CPPUNIT_TEST(RejectsBadClaims);
  CPPUNIT_TEST(RejectsBadSignature);
  CPPUNIT_TEST(RefetchesOnUnknownKidWithLimit);
  CPPUNIT_TEST(ParseJwkRejections);
  CPPUNIT_TEST(SettingsRejections);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    rsa_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    ec_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    jwks_ = {{"keys", {PublicJwk(rsa_.get(), "rsa-1"),
                       PublicJwk(ec_.get(), "ec-1")}}};
    fetches_ = 0;
  }

  OidcVerifier::Fetcher Fetcher() {
    return [this](const zsp::broker::OidcProvider&, const std::string& url)
               -> zsp::Result<zsp::HttpsResponse> {
      ++fetches_;
      if (url == std::string(kIssuer) + "/.well-known/openid-configuration") {
        json doc = {{"issuer", kIssuer},
                    {"jwks_uri", std::string(kIssuer) + "/jwks"}};
        return zsp::HttpsResponse{200, doc.dump()};
      }
      return zsp::HttpsResponse{200, jwks_.dump()};
    };
  }

  std::string Token(const std::string& alg, const json& claims,
                    const std::string& kid = "") {
    EVP_PKEY* key = alg == "ES256" ? ec_.get() : rsa_.get();
    std::string key_id = kid;
    if (key_id.empty()) key_id = alg == "ES256" ? "ec-1" : "rsa-1";
    return Sign(key, alg, {{"alg", alg}, {"kid", key_id}, {"typ", "JWT"}},
                claims);
  }

  void ValidTokensOfEachAlgorithm() {
    OidcVerifier verifier(Settings(), Fetcher());
    for (const char* alg : {"RS256", "PS256", "ES256"}) {
      auto identity = verifier.Verify(Token(alg, Claims()), kNow);
      CPPUNIT_ASSERT_MESSAGE(alg + std::string(": ") +
                                 (identity.ok() ? "" : identity.error()),
                             identity.ok());
      CPPUNIT_ASSERT_EQUAL(std::string("bob"), identity.value().name);
    }
  }

  void RolesFromGroups() {
    OidcVerifier verifier(Settings(), Fetcher());
    auto identity = verifier.Verify(Token("RS256", Claims()), kNow);
    CPPUNIT_ASSERT(identity.ok());
    CPPUNIT_ASSERT(identity.value().may_request);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, identity.value().roles.size());
    CPPUNIT_ASSERT_EQUAL(std::string("approver"), identity.value().roles[0]);
    CPPUNIT_ASSERT_EQUAL(kNow - 20, identity.value().auth_time);
    CPPUNIT_ASSERT_EQUAL(std::string("urn:mfa"), identity.value().acr);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, identity.value().amr.size());

    json no_groups = Claims();
    no_groups["groups"] = json::array({"sales"});
    auto rejected = verifier.Verify(Token("RS256", no_groups), kNow);
    CPPUNIT_ASSERT(!rejected.ok());
    CPPUNIT_ASSERT(rejected.error().find("no zsp role") != std::string::npos);
  }

  void RejectsBadHeaders() {
    OidcVerifier verifier(Settings(), Fetcher());
    std::string payload = Base64UrlEncode(Claims().dump());
    std::string none =
        Base64UrlEncode(json{{"alg", "none"}}.dump()) + "." + payload + ".";
    CPPUNIT_ASSERT(!verifier.Verify(none, kNow).ok());
    std::string hs256 = Base64UrlEncode(json{{"alg", "HS256"}}.dump()) + "." +
                        payload + "." + Base64UrlEncode("mac");
    auto result = verifier.Verify(hs256, kNow);
    CPPUNIT_ASSERT(!result.ok());
    CPPUNIT_ASSERT(result.error().find("not allowed") != std::string::npos);
    std::string crit = Sign(rsa_.get(), "RS256",
                            {{"alg", "RS256"}, {"kid", "rsa-1"}, {"crit", {"x"}}},
                            Claims());
    CPPUNIT_ASSERT(!verifier.Verify(crit, kNow).ok());
    std::string typ = Sign(rsa_.get(), "RS256",
                           {{"alg", "RS256"}, {"kid", "rsa-1"},
                            {"typ", "logout+jwt"}},
                           Claims());
    CPPUNIT_ASSERT(!verifier.Verify(typ, kNow).ok());
    CPPUNIT_ASSERT(!verifier.Verify("not a token", kNow).ok());
  }

  void RejectsBadClaims() {
    OidcVerifier verifier(Settings(), Fetcher());
    struct Case {
      const char* name;
      const char* claim;
      json value;
      const char* message;
    };
    const Case cases[] = {
        {"other issuer", "iss", "https://evil.test", "not trusted"},
        {"other audience", "aud", "other-app", "audience"},
        {"audience list without ours", "aud", {"a", "b"}, "audience"},
        {"expired", "exp", kNow - 31 - 60, "expired"},
        {"iat in the future", "iat", kNow + 3600, "future"},
        {"nbf in the future", "nbf", kNow + 3600, "not valid yet"},
        {"other azp", "azp", "other-app", "azp"},
        {"invalid user name", "preferred_username", "Bob Smith", "user name"},
        {"auth_time not a number", "auth_time", "yesterday", "auth_time"},
    };
    for (const Case& c : cases) {
      json claims = Claims();
      claims[c.claim] = c.value;
      auto result = verifier.Verify(Token("RS256", claims), kNow);
      CPPUNIT_ASSERT_MESSAGE(c.name, !result.ok());
      CPPUNIT_ASSERT_MESSAGE(std::string(c.name) + ": " + result.error(),
                             result.error().find(c.message) != std::string::npos);
    }
    json no_exp = Claims();
    no_exp.erase("exp");
    CPPUNIT_ASSERT(!verifier.Verify(Token("RS256", no_exp), kNow).ok());
  }

  void RejectsBadSignature() {
    OidcVerifier verifier(Settings(), Fetcher());
    std::string token = Token("RS256", Claims());
    json tampered = Claims();
    tampered["preferred_username"] = "root";
    size_t dot1 = token.find('.');
    size_t dot2 = token.find('.', dot1 + 1);
    std::string forged = token.substr(0, dot1) + "." +
                         Base64UrlEncode(tampered.dump()) + token.substr(dot2);
    auto result = verifier.Verify(forged, kNow);
    CPPUNIT_ASSERT(!result.ok());
    CPPUNIT_ASSERT(result.error().find("signature is invalid") !=
                   std::string::npos);
    // An RS256 header over an EC kid: the key does not fit the algorithm.
    std::string mixed = Sign(rsa_.get(), "RS256",
                             {{"alg", "RS256"}, {"kid", "ec-1"}}, Claims());
    CPPUNIT_ASSERT(!verifier.Verify(mixed, kNow).ok());
  }

  void RefetchesOnUnknownKidWithLimit() {
    OidcVerifier verifier(Settings(), Fetcher());
    CPPUNIT_ASSERT(verifier.Verify(Token("RS256", Claims()), kNow).ok());
    CPPUNIT_ASSERT_EQUAL(2, fetches_);  // discovery and JWKS

    // A new key appears at the provider after the first fetch.
    EvpPkeyPtr rotated(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    jwks_["keys"].push_back(PublicJwk(rotated.get(), "rsa-2"));
    std::string token =
        Sign(rotated.get(), "RS256", {{"alg", "RS256"}, {"kid", "rsa-2"}},
             Claims());
    // Within 30 s of the last fetch the JWKS is not fetched again.
    CPPUNIT_ASSERT(!verifier.Verify(token, kNow + 5).ok());
    CPPUNIT_ASSERT_EQUAL(2, fetches_);
    auto later = verifier.Verify(token, kNow + 40);
    CPPUNIT_ASSERT_MESSAGE(later.ok() ? "" : later.error(), later.ok());
    CPPUNIT_ASSERT_EQUAL(3, fetches_);
  }

  void ParseJwkRejections() {
    json good = PublicJwk(rsa_.get(), "k");
    CPPUNIT_ASSERT(zsp::ParseJwk(good).ok());
    json with_private = good;
    with_private["d"] = "AQAB";
    CPPUNIT_ASSERT(!zsp::ParseJwk(with_private).ok());
    json encryption = good;
    encryption["use"] = "enc";
    CPPUNIT_ASSERT(!zsp::ParseJwk(encryption).ok());
    json hmac = {{"kty", "oct"}, {"k", "c2VjcmV0"}};
    CPPUNIT_ASSERT(!zsp::ParseJwk(hmac).ok());
    json wrong_alg = good;
    wrong_alg["alg"] = "ES256";
    CPPUNIT_ASSERT(!zsp::ParseJwk(wrong_alg).ok());

    EvpPkeyPtr small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
    CPPUNIT_ASSERT(!zsp::ParseJwk(PublicJwk(small.get(), "s")).ok());

    json off_curve = PublicJwk(ec_.get(), "e");
    off_curve["y"] = Base64UrlEncode(std::string(32, '\x01'));
    CPPUNIT_ASSERT(!zsp::ParseJwk(off_curve).ok());
    CPPUNIT_ASSERT(!zsp::ParseJwks("{\"keys\": []}").ok());
  }

  void SettingsRejections() {
    struct Case {
      const char* text;
      const char* message;
    };
    const Case cases[] = {
        {"x = 1\n", "unknown field"},
        {"clock_skew = 5\n", "provider"},
        {"[[provider]]\nissuer = \"http://idp\"\naudiences = [\"a\"]\n",
         "https"},
        {"[[provider]]\nissuer = \"https://idp\"\n", "audiences"},
        {"[[provider]]\nissuer = \"https://idp\"\naudiences = [\"a\"]\n"
         "algorithms = [\"HS256\"]\n",
         "not supported"},
        {"[[provider]]\nissuer = \"https://idp\"\naudiences = [\"a\"]\n"
         "algorithms = [\"none\"]\n",
         "not supported"},
        {"[[provider]]\nissuer = \"https://idp\"\naudiences = [\"a\"]\n"
         "[provider.roles]\nroot = [\"x\"]\n",
         "unknown field"},
        {"[approval]\nmax_auth_age = -1\n[[provider]]\n"
         "issuer = \"https://idp\"\naudiences = [\"a\"]\n",
         "max_auth_age"},
        {"[[provider]]\nissuer = \"https://idp\"\naudiences = [\"a\", \"\"]\n",
         "oidc.toml:3: provider[0].audiences: \"\" must not be empty"},
        {"[[provider]]\nissuer = \"https://idp\"\naudiences = [\"a\"]\n"
         "scope = \"openid\"\n",
         "oidc.toml:4: provider[0].scope: unknown field; check its spelling "
         "in docs/identity.md"},
    };
    for (const Case& c : cases) {
      auto result = zsp::broker::ParseOidcSettings(c.text, "oidc.toml");
      CPPUNIT_ASSERT_MESSAGE(c.text, !result.ok());
      CPPUNIT_ASSERT_MESSAGE(c.text + std::string(" -> ") + result.error(),
                             result.error().find(c.message) != std::string::npos);
    }
  }

 private:
  EvpPkeyPtr rsa_;
  EvpPkeyPtr ec_;
  json jwks_;
  int fetches_ = 0;
};

CPPUNIT_TEST_SUITE_REGISTRATION(OidcTest);

class WebHelpersTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(WebHelpersTest);
  CPPUNIT_TEST(HtmlEscapeCoversMarkup);
  CPPUNIT_TEST(ParseFormDecodes);
  CPPUNIT_TEST(ParseFormRejectsBadEscapes);
  CPPUNIT_TEST(LogoutNeedsPost);
  CPPUNIT_TEST(SessionSurvivesRestart);
  CPPUNIT_TEST(OriginWithDefaultPortAccepted);
  CPPUNIT_TEST(SignInStateLivesInCookie);
  CPPUNIT_TEST(CallbackChecksClientAndCapsSession);
  CPPUNIT_TEST(CallbackNeedsPromisedIss);
  CPPUNIT_TEST_SUITE_END();

 public:
  void HtmlEscapeCoversMarkup() {
    CPPUNIT_ASSERT_EQUAL(
        std::string("&lt;script&gt;&amp;&quot;&#39;"),
        zsp::broker::HtmlEscape("<script>&\"'"));
    CPPUNIT_ASSERT_EQUAL(std::string("plain"), zsp::broker::HtmlEscape("plain"));
    // Direction overrides and C1 controls are shown as their code point;
    // other letters stay as they are.
    CPPUNIT_ASSERT_EQUAL(std::string("safe[U+202E]txt.exe caf\xc3\xa9[U+009B]"),
                         zsp::broker::HtmlEscape(
                             "safe\xe2\x80\xaetxt.exe caf\xc3\xa9\xc2\x9b"));
    // So are invisible characters, line separators and tag characters.
    CPPUNIT_ASSERT_EQUAL(
        std::string("rm[U+200B] -rf[U+2028]x[U+E0041]"),
        zsp::broker::HtmlEscape(
            "rm\xe2\x80\x8b -rf\xe2\x80\xa8x\xf3\xa0\x81\x81"));
  }

  void ParseFormDecodes() {
    std::map<std::string, std::string> form;
    CPPUNIT_ASSERT(zsp::broker::ParseForm(
        "csrf=a%2Bb&comment=looks+fine%21&csrf=second", &form));
    CPPUNIT_ASSERT_EQUAL(std::string("a+b"), form["csrf"]);
    CPPUNIT_ASSERT_EQUAL(std::string("looks fine!"), form["comment"]);
  }

  void setUp() override {
    char dir_template[] = "/tmp/zsp-web-test.XXXXXX";
    char* dir = mkdtemp(dir_template);
    CPPUNIT_ASSERT(dir != nullptr);
    dir_ = dir;
    OidcSettings settings;
    settings.public_url = "https://broker.test";
    zsp::broker::OidcProvider provider;
    provider.issuer = "https://idp.test";
    provider.web_client_id = "zsp-web";
    settings.providers.push_back(provider);
    // Discovery always fails, so a request without a session gets 503.
    oidc_ = std::make_unique<OidcVerifier>(
        settings, [](const auto&, const auto&) {
          return zsp::Result<zsp::HttpsResponse>(zsp::Error{"no network"});
        });
  }

  void tearDown() override { std::filesystem::remove_all(dir_); }

  // Sign-out is POST only. Without a session, as after another site's
  // form, it leaves the cookie alone.
  void LogoutNeedsPost() {
    Broker broker(this);
    zsp::broker::WebUi& web = *broker.web;
    CPPUNIT_ASSERT(web.enabled());

    zsp::broker::WebRequest get;
    get.method = "GET";
    get.path = "/web/logout";
    get.cookie = "__Host-zsp-session=unknown";
    zsp::broker::WebResponse rejected = web.Handle(get);
    CPPUNIT_ASSERT_EQUAL(405, rejected.status);
    bool allow_post = false;
    for (const auto& [name, value] : rejected.headers) {
      allow_post |= name == "Allow" && value == "POST";
    }
    CPPUNIT_ASSERT(allow_post);

    zsp::broker::WebRequest post = get;
    post.method = "POST";
    zsp::broker::WebResponse done = web.Handle(post);
    CPPUNIT_ASSERT_EQUAL(200, done.status);
    bool cookie_set = false;
    for (const auto& [name, value] : done.headers) {
      cookie_set |= name == "Set-Cookie";
    }
    CPPUNIT_ASSERT_MESSAGE("a sign-out without a session clears no cookie",
                           !cookie_set);
  }

  // A session in the store works after the broker restarts, until a
  // sign-out with its CSRF token ends it.
  void SessionSurvivesRestart() {
    auto broker = std::make_unique<Broker>(this);
    zsp::broker::WebSession session;
    session.id_sha256 = zsp::broker::Sha256Hex("session-one");
    session.person = "carol";
    session.roles = {"approver"};
    session.csrf = "csrf-one";
    session.sign_in.method = "web_session";
    session.created_at = kNow;
    session.expires_at = kNow + 600;
    CPPUNIT_ASSERT(broker->store->AddWebSession(session, kNow, 10, 10).ok());
    zsp::broker::WebRequest page;
    page.method = "GET";
    page.path = "/web/";
    page.cookie = "__Host-zsp-session=session-one";
    zsp::broker::WebResponse response = broker->web->Handle(page);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body, 200, response.status);
    CPPUNIT_ASSERT(response.body.find("Signed in as <strong>carol") !=
                   std::string::npos);

    broker = std::make_unique<Broker>(this);
    response = broker->web->Handle(page);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(response.body, 200, response.status);
    CPPUNIT_ASSERT(response.body.find("Signed in as <strong>carol") !=
                   std::string::npos);
    CPPUNIT_ASSERT(response.body.find("value=\"csrf-one\"") != std::string::npos);

    zsp::broker::WebRequest logout = page;
    logout.method = "POST";
    logout.path = "/web/logout";
    logout.body = "csrf=wrong";
    CPPUNIT_ASSERT_EQUAL(403, broker->web->Handle(logout).status);
    CPPUNIT_ASSERT_EQUAL(200, broker->web->Handle(page).status);
    logout.body = "csrf=csrf-one";
    CPPUNIT_ASSERT_EQUAL(200, broker->web->Handle(logout).status);
    CPPUNIT_ASSERT(broker->store->FindWebSession(session.id_sha256, kNow)
                       .error == zsp::broker::StoreError::kNotFound);
    // Without a session the page starts a sign-in, which fails here.
    CPPUNIT_ASSERT_EQUAL(503, broker->web->Handle(page).status);
  }

 private:
  static constexpr int64_t kNow = 1'800'000'000;

  // One broker process: store, Api and web page on the test's directory.
  struct Broker {
    explicit Broker(WebHelpersTest* test) {
      auto opened = zsp::broker::Store::Open(test->dir_ + "/broker.db");
      CPPUNIT_ASSERT(opened.ok());
      store = std::move(opened.value());
      auto generated = zsp::broker::GenerateEd25519Key();
      CPPUNIT_ASSERT(generated.ok());
      key = std::move(generated.value());
      api = std::make_unique<zsp::broker::Api>(
          store.get(), key.get(), zsp::broker::Settings{},
          [test] { return test->now_; });
      web = std::make_unique<zsp::broker::WebUi>(
          api.get(), store.get(), test->oidc_.get(),
          [test] { return test->now_; },
          [test](const auto&, const std::string&, const std::string&) {
            zsp::HttpsResponse response;
            response.status = 200;
            response.body = json{{"id_token", test->id_token_}}.dump();
            return zsp::Result<zsp::HttpsResponse>(response);
          });
    }
    std::unique_ptr<zsp::broker::Store> store;
    EvpPkeyPtr key;
    std::unique_ptr<zsp::broker::Api> api;
    std::unique_ptr<zsp::broker::WebUi> web;
  };

  std::string dir_;
  std::unique_ptr<OidcVerifier> oidc_;
  int64_t now_ = kNow;
  std::string id_token_;  // what the token endpoint returns

  // A provider whose discovery document is served, so that sign-ins start.
  static std::unique_ptr<OidcVerifier> ReachableProvider(
      const std::string& public_url) {
    OidcSettings settings;
    settings.public_url = public_url;
    settings.approval.max_auth_age = 600;
    settings.approval.acr = {"urn:mfa"};
    zsp::broker::OidcProvider provider;
    provider.issuer = "https://idp.test";
    provider.web_client_id = "zsp-web";
    settings.providers.push_back(provider);
    return std::make_unique<OidcVerifier>(
        settings, [](const auto&, const std::string& url) {
          zsp::HttpsResponse response;
          response.status = 200;
          response.body =
              json{{"issuer", "https://idp.test"},
                   {"jwks_uri", "https://idp.test/jwks"},
                   {"authorization_endpoint", "https://idp.test/auth"},
                   {"token_endpoint", "https://idp.test/token"}}
                  .dump();
          if (url.find("openid-configuration") == std::string::npos) {
            response.status = 404;
          }
          return zsp::Result<zsp::HttpsResponse>(response);
        });
  }

  static std::string Header(const zsp::broker::WebResponse& response,
                            const std::string& name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name) return value;
    }
    return "";
  }

  // The value of the login cookie that response sets.
  static std::string LoginCookie(const zsp::broker::WebResponse& response) {
    std::string header = Header(response, "Set-Cookie");
    size_t start = header.find('=') + 1;
    return header.substr(start, header.find(';') - start);
  }

  static std::string StateOf(const zsp::broker::WebResponse& response) {
    std::string location = Header(response, "Location");
    size_t start = location.find("&state=") + 7;
    return location.substr(start, location.find('&', start) - start);
  }

  // Browsers leave the scheme's default port out of Origin, so a
  // public_url that names it must still accept the page's own forms.
  void OriginWithDefaultPortAccepted() {
    oidc_ = ReachableProvider("https://Broker.test:443");
    Broker broker(this);
    zsp::broker::WebSession session;
    session.id_sha256 = zsp::broker::Sha256Hex("session-one");
    session.person = "carol";
    session.csrf = "csrf-one";
    session.sign_in.method = "web_session";
    session.created_at = kNow;
    session.expires_at = kNow + 600;
    CPPUNIT_ASSERT(broker.store->AddWebSession(session, kNow, 10, 10).ok());
    zsp::broker::WebRequest logout;
    logout.method = "POST";
    logout.path = "/web/logout";
    logout.cookie = "__Host-zsp-session=session-one";
    logout.body = "csrf=csrf-one";
    logout.origin = "https://evil.test";
    zsp::broker::WebResponse other = broker.web->Handle(logout);
    CPPUNIT_ASSERT_EQUAL(403, other.status);
    CPPUNIT_ASSERT(other.body.find("another site") != std::string::npos);
    logout.origin = "https://broker.test";
    zsp::broker::WebResponse own = broker.web->Handle(logout);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(own.body, 200, own.status);
  }

  // A sign-in in progress is kept in its cookie, not in the broker, so any
  // number of them can start. The cookie must match the state, be
  // unaltered and be younger than 10 minutes.
  void SignInStateLivesInCookie() {
    oidc_ = ReachableProvider("https://broker.test");
    Broker broker(this);
    zsp::broker::WebRequest page;
    page.method = "GET";
    page.path = "/web/";
    zsp::broker::WebResponse first = broker.web->Handle(page);
    for (int i = 0; i < 5000; ++i) {
      CPPUNIT_ASSERT_EQUAL(302, broker.web->Handle(page).status);
    }
    zsp::broker::WebResponse last = broker.web->Handle(page);
    CPPUNIT_ASSERT_EQUAL(302, last.status);
    std::string location = Header(first, "Location");
    CPPUNIT_ASSERT_MESSAGE(location, location.find("&max_age=600") !=
                                         std::string::npos);
    CPPUNIT_ASSERT(location.find("prompt=login") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(location, location.find("&acr_values=urn%3Amfa") !=
                                         std::string::npos);
    CPPUNIT_ASSERT(Header(first, "Strict-Transport-Security") != "");

    zsp::broker::WebRequest fresh = page;
    fresh.path = "/web/login";
    std::string again = Header(broker.web->Handle(fresh), "Location");
    CPPUNIT_ASSERT_MESSAGE(again, again.find("&prompt=login") !=
                                      std::string::npos);

    // The provider sends the person back with an error: past the cookie
    // check, the page shows the provider's error.
    zsp::broker::WebRequest callback;
    callback.method = "GET";
    callback.path = "/web/callback";
    callback.query = {{"state", StateOf(first)}, {"error", "access_denied"}};
    callback.cookie = "__Host-zsp-login=" + LoginCookie(first);
    zsp::broker::WebResponse denied = broker.web->Handle(callback);
    CPPUNIT_ASSERT_EQUAL(400, denied.status);
    CPPUNIT_ASSERT_MESSAGE(denied.body, denied.body.find("returned no code: "
                                                         "access_denied") !=
                                            std::string::npos);

    callback.cookie = "__Host-zsp-login=" + LoginCookie(last);
    zsp::broker::WebResponse swapped = broker.web->Handle(callback);
    CPPUNIT_ASSERT_EQUAL(400, swapped.status);
    CPPUNIT_ASSERT_MESSAGE(swapped.body,
                           swapped.body.find("does not match") !=
                               std::string::npos);

    std::string altered = LoginCookie(first);
    altered[altered.find('.') + 1] = '9';
    callback.cookie = "__Host-zsp-login=" + altered;
    zsp::broker::WebResponse forged = broker.web->Handle(callback);
    CPPUNIT_ASSERT_EQUAL(400, forged.status);
    CPPUNIT_ASSERT_MESSAGE(forged.body,
                           forged.body.find("cookie is invalid") !=
                               std::string::npos);

    callback.cookie = "__Host-zsp-login=" + LoginCookie(first);
    now_ = kNow + 601;
    zsp::broker::WebResponse late = broker.web->Handle(callback);
    CPPUNIT_ASSERT_EQUAL(400, late.status);
    CPPUNIT_ASSERT_MESSAGE(late.body, late.body.find("longer than 10 minutes") !=
                                          std::string::npos);
  }

  // The callback accepts only an ID token issued to the web page's own
  // client, and a session ends after 12 hours whatever the token's exp.
  void CallbackChecksClientAndCapsSession() { CheckCallback(false); }

  // RFC 9207: when the provider's discovery document promises iss, a
  // callback without it is rejected before the code is redeemed.
  void CallbackNeedsPromisedIss() { CheckCallback(true); }

  void CheckCallback(bool promises_iss) {
    EvpPkeyPtr key(EVP_EC_gen("P-256"));
    CPPUNIT_ASSERT(key != nullptr);
    json jwks = {{"keys", {PublicJwk(key.get(), "k1")}}};
    auto settings = zsp::broker::ParseOidcSettings(
        std::string("public_url = \"https://broker.test\"\n"
                    "[[provider]]\nissuer = \"") +
            kIssuer +
            "\"\ncli_client_id = \"zspctl\"\nweb_client_id = \"zsp-web\"\n"
            "[provider.roles]\napprover = [\"approvers\"]\n",
        "oidc.toml");
    CPPUNIT_ASSERT_MESSAGE(settings.ok() ? "" : settings.error(), settings.ok());
    std::string base = kIssuer;
    json discovery = {{"issuer", kIssuer},
                      {"jwks_uri", base + "/jwks"},
                      {"authorization_endpoint", base + "/auth"},
                      {"token_endpoint", base + "/token"}};
    if (promises_iss) {
      discovery["authorization_response_iss_parameter_supported"] = true;
    }
    oidc_ = std::make_unique<OidcVerifier>(
        settings.value(),
        [jwks, discovery](const auto&, const std::string& url) {
          zsp::HttpsResponse response;
          response.status = 200;
          response.body = url.find("openid-configuration") != std::string::npos
                              ? discovery.dump()
                              : jwks.dump();
          return zsp::Result<zsp::HttpsResponse>(response);
        });
    Broker broker(this);

    // Starts a sign-in and returns the callback request for it, with the
    // ID token the provider issues for claims.
    auto sign_in = [&](json claims, const std::string& iss = "") {
      zsp::broker::WebRequest page;
      page.method = "GET";
      page.path = "/web/";
      zsp::broker::WebResponse started = broker.web->Handle(page);
      std::string location = Header(started, "Location");
      size_t at = location.find("&nonce=") + 7;
      claims["nonce"] = location.substr(at, location.find('&', at) - at);
      id_token_ = Sign(key.get(), "ES256", {{"alg", "ES256"}, {"kid", "k1"}},
                       claims);
      zsp::broker::WebRequest callback;
      callback.method = "GET";
      callback.path = "/web/callback";
      callback.query = {{"state", StateOf(started)}, {"code", "c-1"}};
      if (!iss.empty()) callback.query["iss"] = iss;
      callback.cookie = "__Host-zsp-login=" + LoginCookie(started);
      return broker.web->Handle(callback);
    };
    json claims = {{"iss", kIssuer},
                   {"sub", "u-7"},
                   {"aud", "zspctl"},
                   {"preferred_username", "carol"},
                   {"groups", {"approvers"}},
                   {"iat", kNow - 10},
                   {"exp", kNow + 30 * 86400},
                   {"auth_time", kNow - 20}};
    if (promises_iss) {
      claims["aud"] = "zsp-web";
      zsp::broker::WebResponse bare = sign_in(claims);
      CPPUNIT_ASSERT_EQUAL(400, bare.status);
      CPPUNIT_ASSERT_MESSAGE(bare.body,
                             bare.body.find("has no iss parameter") !=
                                 std::string::npos);
      zsp::broker::WebResponse named = sign_in(claims, kIssuer);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(named.body, 302, named.status);
      return;
    }
    zsp::broker::WebResponse cli = sign_in(claims);
    CPPUNIT_ASSERT_EQUAL(401, cli.status);
    CPPUNIT_ASSERT_MESSAGE(cli.body, cli.body.find("issued to client") !=
                                         std::string::npos);

    // azp names the web client, but aud does not.
    claims["azp"] = "zsp-web";
    zsp::broker::WebResponse azp_only = sign_in(claims);
    CPPUNIT_ASSERT_EQUAL(401, azp_only.status);
    CPPUNIT_ASSERT_MESSAGE(azp_only.body,
                           azp_only.body.find("audience does not name") !=
                               std::string::npos);
    claims.erase("azp");

    claims["aud"] = "zsp-web";
    // RFC 9207: a callback that names another issuer is rejected before
    // the code is redeemed.
    zsp::broker::WebResponse mixed = sign_in(claims, "https://other.test");
    CPPUNIT_ASSERT_EQUAL(400, mixed.status);
    CPPUNIT_ASSERT_MESSAGE(mixed.body, mixed.body.find("came from issuer") !=
                                           std::string::npos);
    zsp::broker::WebResponse web = sign_in(claims, kIssuer);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(web.body, 302, web.status);
    std::string cookie = Header(web, "Set-Cookie");
    CPPUNIT_ASSERT_MESSAGE(cookie, cookie.find("__Host-zsp-session=") == 0);
    CPPUNIT_ASSERT_MESSAGE(cookie, cookie.find("Max-Age=43200") !=
                                       std::string::npos);
  }

  void ParseFormRejectsBadEscapes() {
    std::map<std::string, std::string> form;
    CPPUNIT_ASSERT(!zsp::broker::ParseForm("a=%2", &form));
    CPPUNIT_ASSERT(!zsp::broker::ParseForm("a=%zz", &form));
    CPPUNIT_ASSERT(!zsp::broker::ParseForm("a=%", &form));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(WebHelpersTest);

// Tests for common/decision: CheckSignedDecision on tokens signed here with
// a test key, so every claim can be changed one at a time, plus NewNonce,
// VerdictName and LoadPinnedKeys. Nothing here talks to a broker.
#include "common/decision.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/decision_fixture.h"

namespace {

using nlohmann::json;
using zsp::Decision;
using zsp::EvpPkeyPtr;
using zsp::Verdict;

constexpr int64_t kNow = 1700000000;
constexpr int64_t kSkew = 30;
constexpr char kNonce[] = "bm9uY2Utb2YtdGhlLXRlc3Q";

EvpPkeyPtr GenerateKey() {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

using zsp_test::Pin;

zsp::DecisionQuery SudoQuery() {
  return zsp_test::SudoQuery("web1.example.com");
}

// Claims of an allow that matches SudoQuery() with kNonce at kNow.
json AllowClaims() {
  return zsp_test::SudoAllowClaims("web1.example.com", kNonce, kNow, "g-42",
                                   "r-7");
}

json DenyClaims() {
  json claims = AllowClaims();
  claims.erase("grant");
  claims.erase("request");
  claims.erase("grant_exp");
  claims["decision"] = "deny";
  claims["code"] = "no_grant";
  claims["message"] = "No active grant covers this command.";
  return claims;
}

std::string VerdictText(Verdict verdict) { return zsp::VerdictName(verdict); }

}  // namespace

class DecisionTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DecisionTest);
  CPPUNIT_TEST(CheckAllow);
  CPPUNIT_TEST(CheckDeny);
  CPPUNIT_TEST(CheckLoginAllow);
  CPPUNIT_TEST(CheckGroupAndEnvAllow);
  CPPUNIT_TEST(CheckClaimMismatch);
  CPPUNIT_TEST(CheckMissingClaim);
  CPPUNIT_TEST(CheckIssuedInFuture);
  CPPUNIT_TEST(CheckExpired);
  CPPUNIT_TEST(CheckGrantEnded);
  CPPUNIT_TEST(CheckClockViews);
  CPPUNIT_TEST(CheckAllowWithoutGrant);
  CPPUNIT_TEST(CheckUnknownVerdict);
  CPPUNIT_TEST(CheckWrongClaimTypes);
  CPPUNIT_TEST(CheckPayloadNotObject);
  CPPUNIT_TEST(CheckUnpinnedKey);
  CPPUNIT_TEST(CheckForgedKid);
  CPPUNIT_TEST(CheckWrongTokenType);
  CPPUNIT_TEST(CheckGarbageToken);
  CPPUNIT_TEST(NewNonceFormat);
  CPPUNIT_TEST(VerdictNames);
  CPPUNIT_TEST(LoadPinnedKeysFromFiles);
  CPPUNIT_TEST(LoadPinnedKeysMissingFile);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    key_ = GenerateKey();
    CPPUNIT_ASSERT_MESSAGE("generate Ed25519 key", key_ != nullptr);
    keys_.clear();
    keys_.push_back(Pin(key_.get()));
    dir_.clear();
  }

  void tearDown() override {
    if (dir_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void CheckAllow() {
    Decision d = Check(Sign(AllowClaims()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict (" + d.detail + ")",
                                 VerdictText(Verdict::kAllow),
                                 VerdictText(d.verdict));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("grant", std::string("g-42"), d.grant);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("request", std::string("r-7"), d.request);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("grant_expires", kNow + 3600, d.grant_expires);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("no code", std::string(""), d.code);
  }

  void CheckDeny() {
    Decision d = Check(Sign(DenyClaims()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict (" + d.detail + ")",
                                 VerdictText(Verdict::kDeny),
                                 VerdictText(d.verdict));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("code", std::string("no_grant"), d.code);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "message", std::string("No active grant covers this command."),
        d.message);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("no grant", std::string(""), d.grant);
  }

  void CheckLoginAllow() {
    zsp::DecisionQuery query;
    query.user = "alice";
    query.host = "web1.example.com";
    query.kind = "login";
    json claims = AllowClaims();
    claims["kind"] = "login";
    claims["runas"] = "";
    claims["argv"] = json::array();
    Decision d = zsp::CheckSignedDecision(Sign(claims), keys_, query, kNonce,
                                          kNow, kSkew);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict (" + d.detail + ")",
                                 VerdictText(Verdict::kAllow),
                                 VerdictText(d.verdict));

    // A sudo allow for the same user must not open a login.
    Decision sudo = zsp::CheckSignedDecision(Sign(AllowClaims()), keys_, query,
                                             kNonce, kNow, kSkew);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("sudo decision for a login query",
                                 VerdictText(Verdict::kInvalid),
                                 VerdictText(sudo.verdict));
  }

  void CheckGroupAndEnvAllow() {
    zsp::DecisionQuery query = SudoQuery();
    query.runas_group = "adm";
    query.env = {"FOO", "*"};
    json claims = AllowClaims();
    claims["runas_group"] = "adm";
    claims["env"] = {"FOO", "*"};
    Decision d = zsp::CheckSignedDecision(Sign(claims), keys_, query, kNonce,
                                          kNow, kSkew);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict (" + d.detail + ")",
                                 VerdictText(Verdict::kAllow),
                                 VerdictText(d.verdict));

    claims["env"] = {"*", "FOO"};
    d = zsp::CheckSignedDecision(Sign(claims), keys_, query, kNonce, kNow,
                                 kSkew);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("env in another order",
                                 VerdictText(Verdict::kInvalid),
                                 VerdictText(d.verdict));
  }

  void CheckClaimMismatch() {
    using Change = std::function<void(json*)>;
    const std::vector<std::pair<std::string, Change>> cases = {
        {"iss", [](json* c) { (*c)["iss"] = "evil-broker"; }},
        {"ver 2", [](json* c) { (*c)["ver"] = 2; }},
        {"ver \"1\"", [](json* c) { (*c)["ver"] = "1"; }},
        {"sub", [](json* c) { (*c)["sub"] = "mallory"; }},
        {"sub case", [](json* c) { (*c)["sub"] = "Alice"; }},
        {"host", [](json* c) { (*c)["host"] = "db1.example.com"; }},
        {"kind", [](json* c) { (*c)["kind"] = "login"; }},
        {"runas", [](json* c) { (*c)["runas"] = "postgres"; }},
        {"argv shorter",
         [](json* c) {
           (*c)["argv"] = {"/usr/bin/systemctl", "restart"};
         }},
        {"argv longer", [](json* c) { (*c)["argv"].push_back("extra"); }},
        {"argv empty", [](json* c) { (*c)["argv"] = json::array(); }},
        {"argv element", [](json* c) { (*c)["argv"][2] = "sshd"; }},
        {"argv[0]", [](json* c) { (*c)["argv"][0] = "/bin/sh"; }},
        {"argv order",
         [](json* c) {
           (*c)["argv"] = {"/usr/bin/systemctl", "nginx", "restart"};
         }},
        {"argv as string",
         [](json* c) { (*c)["argv"] = "/usr/bin/systemctl restart nginx"; }},
        {"nonce", [](json* c) { (*c)["nonce"] = "b3RoZXItbm9uY2UtdmFsdWU"; }},
        {"nonce empty", [](json* c) { (*c)["nonce"] = ""; }},
        {"runas_group", [](json* c) { (*c)["runas_group"] = "adm"; }},
        {"runas_group missing", [](json* c) { c->erase("runas_group"); }},
        {"env", [](json* c) { (*c)["env"] = {"FOO"}; }},
        {"env whole", [](json* c) { (*c)["env"] = {"*"}; }},
        {"env missing", [](json* c) { c->erase("env"); }},
        {"env as string", [](json* c) { (*c)["env"] = ""; }},
    };
    for (const auto& [what, change] : cases) {
      json claims = AllowClaims();
      change(&claims);
      Decision d = Check(Sign(claims));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("wrong " + what + " (" + d.detail + ")",
                                   VerdictText(Verdict::kInvalid),
                                   VerdictText(d.verdict));
      CPPUNIT_ASSERT_MESSAGE("wrong " + what + ": detail set",
                             !d.detail.empty());
    }
  }

  void CheckMissingClaim() {
    for (const char* name : {"iss", "ver", "sub", "host", "kind", "runas",
                             "argv", "nonce", "iat", "exp", "decision"}) {
      json claims = AllowClaims();
      claims.erase(name);
      Decision d = Check(Sign(claims));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("without ") + name,
                                   VerdictText(Verdict::kInvalid),
                                   VerdictText(d.verdict));
    }
  }

  void CheckIssuedInFuture() {
    json beyond = AllowClaims();
    beyond["iat"] = kNow + kSkew + 1;
    beyond["exp"] = kNow + kSkew + 61;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("iat beyond the skew",
                                 VerdictText(Verdict::kInvalid),
                                 VerdictText(Check(Sign(beyond)).verdict));
    json within = AllowClaims();
    within["iat"] = kNow + kSkew;
    within["exp"] = kNow + kSkew + 60;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("iat at the skew",
                                 VerdictText(Verdict::kAllow),
                                 VerdictText(Check(Sign(within)).verdict));
  }

  void CheckExpired() {
    json beyond = AllowClaims();
    beyond["iat"] = kNow - 100;
    beyond["exp"] = kNow - kSkew - 1;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("exp beyond the skew",
                                 VerdictText(Verdict::kInvalid),
                                 VerdictText(Check(Sign(beyond)).verdict));
    json deny = DenyClaims();
    deny["exp"] = kNow - kSkew - 1;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("expired deny", VerdictText(Verdict::kInvalid),
                                 VerdictText(Check(Sign(deny)).verdict));
    json within = AllowClaims();
    within["iat"] = kNow - 100;
    within["exp"] = kNow - kSkew;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("exp at the skew",
                                 VerdictText(Verdict::kAllow),
                                 VerdictText(Check(Sign(within)).verdict));
  }

  void CheckGrantEnded() {
    for (int64_t grant_exp : {kNow, kNow - 1, int64_t{0}}) {
      json claims = AllowClaims();
      claims["grant_exp"] = grant_exp;
      Decision d = Check(Sign(claims));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("grant_exp " + std::to_string(grant_exp) +
                                       " at now " + std::to_string(kNow),
                                   VerdictText(Verdict::kInvalid),
                                   VerdictText(d.verdict));
    }
    json last_second = AllowClaims();
    last_second["grant_exp"] = kNow + 1;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("grant_exp one second ahead",
                                 VerdictText(Verdict::kAllow),
                                 VerdictText(Check(Sign(last_second)).verdict));
  }

  void CheckClockViews() {
    // Broker clock 20 s ahead: the time limit follows the broker's clock.
    json ahead = AllowClaims();
    ahead["iat"] = kNow + 20;
    ahead["exp"] = kNow + 80;
    ahead["grant_exp"] = kNow + 3600;
    Decision d = Check(Sign(ahead));
    CPPUNIT_ASSERT_EQUAL(VerdictText(Verdict::kAllow), VerdictText(d.verdict));
    CPPUNIT_ASSERT_EQUAL(int64_t{3580}, d.seconds_left);
    // Broker clock 20 s behind, grant over by this host's clock: a deny.
    json behind = AllowClaims();
    behind["iat"] = kNow - 20;
    behind["grant_exp"] = kNow - 5;
    Decision ended = Check(Sign(behind));
    CPPUNIT_ASSERT_EQUAL(VerdictText(Verdict::kDeny),
                         VerdictText(ended.verdict));
    CPPUNIT_ASSERT_EQUAL(std::string("expired"), ended.code);
    // The host's clock gives the shorter view otherwise.
    json normal = AllowClaims();
    normal["iat"] = kNow - 20;
    normal["grant_exp"] = kNow + 100;
    CPPUNIT_ASSERT_EQUAL(int64_t{100}, Check(Sign(normal)).seconds_left);
  }

  void CheckAllowWithoutGrant() {
    json no_grant = AllowClaims();
    no_grant.erase("grant");
    CPPUNIT_ASSERT_EQUAL_MESSAGE("no grant", VerdictText(Verdict::kInvalid),
                                 VerdictText(Check(Sign(no_grant)).verdict));
    json empty_grant = AllowClaims();
    empty_grant["grant"] = "";
    CPPUNIT_ASSERT_EQUAL_MESSAGE("empty grant", VerdictText(Verdict::kInvalid),
                                 VerdictText(Check(Sign(empty_grant)).verdict));
    json no_grant_exp = AllowClaims();
    no_grant_exp.erase("grant_exp");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "no grant_exp", VerdictText(Verdict::kInvalid),
        VerdictText(Check(Sign(no_grant_exp)).verdict));
  }

  void CheckUnknownVerdict() {
    for (const char* verdict : {"ALLOW", "allowed", "", "maybe"}) {
      json claims = AllowClaims();
      claims["decision"] = verdict;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("decision \"") + verdict + "\"",
                                   VerdictText(Verdict::kInvalid),
                                   VerdictText(Check(Sign(claims)).verdict));
    }
    json boolean = AllowClaims();
    boolean["decision"] = true;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("decision true",
                                 VerdictText(Verdict::kInvalid),
                                 VerdictText(Check(Sign(boolean)).verdict));
  }

  void CheckWrongClaimTypes() {
    using Change = std::function<void(json*)>;
    const std::vector<std::pair<std::string, Change>> cases = {
        {"iat as string", [](json* c) { (*c)["iat"] = std::to_string(kNow); }},
        {"exp as string",
         [](json* c) { (*c)["exp"] = std::to_string(kNow + 60); }},
        {"exp as float", [](json* c) { (*c)["exp"] = kNow + 60.5; }},
        {"grant_exp as string",
         [](json* c) { (*c)["grant_exp"] = std::to_string(kNow + 3600); }},
        {"sub as array", [](json* c) { (*c)["sub"] = {"alice"}; }},
        {"nonce as number", [](json* c) { (*c)["nonce"] = 1; }},
        {"argv element as number", [](json* c) { (*c)["argv"][1] = 1; }},
        {"host as null", [](json* c) { (*c)["host"] = nullptr; }},
    };
    for (const auto& [what, change] : cases) {
      json claims = AllowClaims();
      change(&claims);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(what, VerdictText(Verdict::kInvalid),
                                   VerdictText(Check(Sign(claims)).verdict));
    }
  }

  void CheckPayloadNotObject() {
    for (const char* payload : {"[]", "\"allow\"", "not json", ""}) {
      auto token = zsp::SignJws(key_.get(), payload, zsp::kDecisionJwsType);
      CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("payload ") + payload,
                                   VerdictText(Verdict::kInvalid),
                                   VerdictText(Check(token.value()).verdict));
    }
  }

  void CheckUnpinnedKey() {
    EvpPkeyPtr other = GenerateKey();
    auto token =
        zsp::SignJws(other.get(), AllowClaims().dump(), zsp::kDecisionJwsType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    Decision d = Check(token.value());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict", VerdictText(Verdict::kInvalid),
                                 VerdictText(d.verdict));
    CPPUNIT_ASSERT_MESSAGE("no grant", d.grant.empty());
  }

  void CheckForgedKid() {
    // The token names the pinned key's kid but is signed by another key, so
    // VerifyJws gets as far as the signature check and rejects it there.
    EvpPkeyPtr other = GenerateKey();
    auto genuine = Sign(AllowClaims());
    auto forged =
        zsp::SignJws(other.get(), AllowClaims().dump(), zsp::kDecisionJwsType);
    CPPUNIT_ASSERT_MESSAGE("sign", forged.ok());
    std::string header = genuine.substr(0, genuine.find('.'));
    std::string rest = forged.value().substr(forged.value().find('.'));
    Decision d = Check(header + rest);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verdict", VerdictText(Verdict::kInvalid),
                                 VerdictText(d.verdict));
  }

  void CheckWrongTokenType() {
    auto token = zsp::SignJws(key_.get(), AllowClaims().dump(), "JWT");
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("typ JWT", VerdictText(Verdict::kInvalid),
                                 VerdictText(Check(token.value()).verdict));
  }

  void CheckGarbageToken() {
    for (const char* token : {"", "a.b.c", "not a token"}) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("token \"") + token + "\"",
                                   VerdictText(Verdict::kInvalid),
                                   VerdictText(Check(token).verdict));
    }
  }

  void NewNonceFormat() {
    std::set<std::string> seen;
    for (int i = 0; i < 8; ++i) {
      std::string nonce = zsp::NewNonce();
      CPPUNIT_ASSERT_EQUAL_MESSAGE("length of " + nonce, size_t{22},
                                   nonce.size());
      CPPUNIT_ASSERT_MESSAGE(
          "base64url alphabet: " + nonce,
          nonce.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                  "qrstuvwxyz0123456789-_") ==
              std::string::npos);
      CPPUNIT_ASSERT_MESSAGE("unique: " + nonce, seen.insert(nonce).second);
    }
  }

  void VerdictNames() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("allow", std::string("allow"),
                                 VerdictText(Verdict::kAllow));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("deny", std::string("deny"),
                                 VerdictText(Verdict::kDeny));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("unavailable", std::string("unavailable"),
                                 VerdictText(Verdict::kUnavailable));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("invalid", std::string("invalid"),
                                 VerdictText(Verdict::kInvalid));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("error", std::string("error"),
                                 VerdictText(Verdict::kError));
  }

  void LoadPinnedKeysFromFiles() {
    MakeDir();
    EvpPkeyPtr next = GenerateKey();
    zsp::HostConfig config;
    config.decision_keys = {WritePublicPem("current.pub", key_.get()),
                            WritePublicPem("next.pub", next.get())};
    auto loaded = zsp::LoadPinnedKeys(config);
    CPPUNIT_ASSERT_MESSAGE("load", loaded.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("two keys", size_t{2}, loaded.value().size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("first kid", zsp::Ed25519KeyId(key_.get()),
                                 loaded.value()[0].kid);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("second kid", zsp::Ed25519KeyId(next.get()),
                                 loaded.value()[1].kid);

    Decision d = zsp::CheckSignedDecision(Sign(AllowClaims()), loaded.value(),
                                          SudoQuery(), kNonce, kNow, kSkew);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("allow checked with loaded keys",
                                 VerdictText(Verdict::kAllow),
                                 VerdictText(d.verdict));
  }

  void LoadPinnedKeysMissingFile() {
    MakeDir();
    zsp::HostConfig config;
    std::string missing = dir_ + "/absent.pub";
    config.decision_keys = {WritePublicPem("current.pub", key_.get()), missing};
    auto loaded = zsp::LoadPinnedKeys(config);
    CPPUNIT_ASSERT_MESSAGE("rejected", !loaded.ok());
    CPPUNIT_ASSERT_MESSAGE("message names the path: " + loaded.error(),
                           loaded.error().find(missing) != std::string::npos);
  }

 private:
  std::string Sign(const json& claims) {
    auto token = zsp::SignJws(key_.get(), claims.dump(), zsp::kDecisionJwsType);
    CPPUNIT_ASSERT_MESSAGE("sign: " + (token.ok() ? "" : token.error()),
                           token.ok());
    return token.value();
  }

  Decision Check(const std::string& token) {
    return zsp::CheckSignedDecision(token, keys_, SudoQuery(), kNonce, kNow,
                                    kSkew);
  }

  void MakeDir() {
    char pattern[] = "/tmp/zsp-decision-test.XXXXXX";
    CPPUNIT_ASSERT_MESSAGE("mkdtemp", mkdtemp(pattern) != nullptr);
    dir_ = pattern;
  }

  std::string WritePublicPem(const std::string& name, EVP_PKEY* key) {
    std::string path = dir_ + "/" + name;
    FILE* f = fopen(path.c_str(), "w");
    CPPUNIT_ASSERT_MESSAGE("create " + path, f != nullptr);
    int rc = PEM_write_PUBKEY(f, key);
    fclose(f);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("write " + path, 1, rc);
    return path;
  }

  EvpPkeyPtr key_;
  std::vector<zsp::PinnedKey> keys_;
  std::string dir_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(DecisionTest);

// Tests for common/breakglass: issuing and co-signing tokens, every
// rejection that VerifyBreakGlassToken makes, the spent-token file, and the
// breakglass_* settings of zsp.conf. Keys are generated in process; tokens
// with hand-made payloads are signed here with plain OpenSSL calls.
#include "common/breakglass.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/agent_protocol.h"
#include "common/base64url.h"
#include "common/config.h"

namespace {

using zsp::BreakGlassStatus;
using zsp::EvpPkeyPtr;

constexpr int64_t kNow = 1800000000;

EvpPkeyPtr GenerateKey() {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

zsp::PinnedKey Pin(EVP_PKEY* key) { return zsp::PinnedKeyOf(key).value(); }

std::string RawSign(EVP_PKEY* key, const std::string& input) {
  zsp::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  size_t size = sizeof sig;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &size,
                     reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return "";
  }
  return zsp::Base64UrlEncode(
      std::string(reinterpret_cast<const char*>(sig), size));
}

zsp::BreakGlassToken Fields() {
  zsp::BreakGlassToken t;
  t.id = "bg-0123456789abcdef";
  t.user = "alice";
  t.host_pattern = "db-*.example.org";
  t.scope = "sudo";
  t.runas = "root";
  t.reason = "database outage, broker down";
  t.not_before = kNow - 60;
  t.expires = kNow + 3600;
  return t;
}

zsp::BreakGlassUse SudoUse() {
  zsp::BreakGlassUse use;
  use.user = "alice";
  use.host = "db-1.example.org";
  use.kind = "sudo";
  use.runas = "root";
  use.now = kNow;
  return use;
}

// Signs payload text by hand with each key, in order.
std::string HandMadeToken(const std::string& payload,
                          const std::vector<EVP_PKEY*>& keys) {
  std::string input = "zsp-bg1." + zsp::Base64UrlEncode(payload);
  std::string token = input;
  for (EVP_PKEY* key : keys) {
    token += "." + zsp::Ed25519KeyId(key) + "." + RawSign(key, input);
  }
  return token;
}

nlohmann::json PayloadJson() {
  return {{"id", "bg-0123456789abcdef"},
          {"user", "alice"},
          {"host", "db-*.example.org"},
          {"scope", "sudo"},
          {"runas", "root"},
          {"reason", "outage"},
          {"nbf", kNow - 60},
          {"exp", kNow + 3600}};
}

std::string TempDir() {
  char pattern[] = "/tmp/zsp-breakglass-test.XXXXXX";
  const char* dir = mkdtemp(pattern);
  return dir == nullptr ? "" : dir;
}

}  // namespace

class BreakGlassTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BreakGlassTest);
  CPPUNIT_TEST(TwoOfThreeValid);
  CPPUNIT_TEST(OneSignatureWhenTwoNeeded);
  CPPUNIT_TEST(SameKeyTwiceRejected);
  CPPUNIT_TEST(SignRefusesSecondSignatureBySameKey);
  CPPUNIT_TEST(UnknownKeyRejected);
  CPPUNIT_TEST(BadSignatureRejected);
  CPPUNIT_TEST(TamperedFieldsRejected);
  CPPUNIT_TEST(WrongUserRejected);
  CPPUNIT_TEST(WrongHostRejected);
  CPPUNIT_TEST(HostPatternIgnoresCase);
  CPPUNIT_TEST(WrongScopeRejected);
  CPPUNIT_TEST(WrongRunAsRejected);
  CPPUNIT_TEST(BothScopeCoversLoginAndSudo);
  CPPUNIT_TEST(ExpiredRejected);
  CPPUNIT_TEST(NotYetValidRejected);
  CPPUNIT_TEST(WindowLongerThanHostAllows);
  CPPUNIT_TEST(MalformedTextRejected);
  CPPUNIT_TEST(UnknownPayloadMemberRejected);
  CPPUNIT_TEST(IssueChecksFields);
  CPPUNIT_TEST(DecodeListsSigners);
  CPPUNIT_TEST(NewIdsAreUnique);
  CPPUNIT_TEST(SpendOnce);
  CPPUNIT_TEST(SpendRejectsOpenDirectory);
  CPPUNIT_TEST(ConfigParsesBreakGlassSettings);
  CPPUNIT_TEST(ConfigRejectsMoreSignaturesThanKeys);
  CPPUNIT_TEST(PolicyRejectsDecisionKeyReuse);
  CPPUNIT_TEST(PlacementClaimsFromToken);
  CPPUNIT_TEST(PlacementRejectsInvalidTokens);
  CPPUNIT_TEST(WorkIdsCoverTokens);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    for (auto& key : keys_) key = GenerateKey();
    policy_ = zsp::BreakGlassPolicy{};
    policy_.required_signatures = 2;
    policy_.max_lifetime_sec = 4 * 3600;
    policy_.clock_skew_sec = 30;
    for (auto& key : keys_) policy_.keys.push_back(Pin(key.get()));
  }

  // Issues Fields() signed by keys_[i] for each i in signers.
  std::string Issue(const std::vector<int>& signers,
                    const zsp::BreakGlassToken& fields = Fields()) {
    auto token = zsp::IssueBreakGlassToken(fields, keys_[signers[0]].get());
    CPPUNIT_ASSERT_MESSAGE(token.ok() ? "" : token.error(), token.ok());
    std::string text = token.value();
    for (size_t i = 1; i < signers.size(); ++i) {
      auto more = zsp::AddBreakGlassSignature(text, keys_[signers[i]].get());
      CPPUNIT_ASSERT_MESSAGE(more.ok() ? "" : more.error(), more.ok());
      text = more.value();
    }
    return text;
  }

  BreakGlassStatus Verify(const std::string& text,
                          const zsp::BreakGlassUse& use = SudoUse()) {
    return zsp::VerifyBreakGlassToken(text, policy_, use).status;
  }

  void TwoOfThreeValid() {
    auto check = zsp::VerifyBreakGlassToken(Issue({0, 2}), policy_, SudoUse());
    CPPUNIT_ASSERT_EQUAL(std::string("valid"),
                         std::string(zsp::BreakGlassStatusName(check.status)));
    CPPUNIT_ASSERT_EQUAL(std::string("bg-0123456789abcdef"), check.token.id);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, check.token.signers.size());
    CPPUNIT_ASSERT_EQUAL(policy_.keys[0].kid, check.token.signers[0]);
    CPPUNIT_ASSERT_EQUAL(policy_.keys[2].kid, check.token.signers[1]);
  }

  void OneSignatureWhenTwoNeeded() {
    CPPUNIT_ASSERT(Verify(Issue({1})) == BreakGlassStatus::kTooFewSignatures);
    policy_.required_signatures = 1;
    CPPUNIT_ASSERT(Verify(Issue({1})) == BreakGlassStatus::kValid);
  }

  void SameKeyTwiceRejected() {
    // AddBreakGlassSignature refuses this, so append the pair by hand.
    std::string once = Issue({0});
    std::string pair = once.substr(once.find('.', once.find('.') + 1));
    CPPUNIT_ASSERT(Verify(once + pair) == BreakGlassStatus::kDuplicateSigner);
  }

  void SignRefusesSecondSignatureBySameKey() {
    auto again = zsp::AddBreakGlassSignature(Issue({0}), keys_[0].get());
    CPPUNIT_ASSERT(!again.ok());
    CPPUNIT_ASSERT(again.error().find("already signed") != std::string::npos);
  }

  void UnknownKeyRejected() {
    EvpPkeyPtr stranger = GenerateKey();
    auto token = zsp::IssueBreakGlassToken(Fields(), stranger.get());
    CPPUNIT_ASSERT(token.ok());
    CPPUNIT_ASSERT(Verify(token.value()) == BreakGlassStatus::kUnknownKey);
    // A known pair plus an unknown one is rejected too, not counted as one.
    auto mixed = zsp::AddBreakGlassSignature(Issue({0, 1}), stranger.get());
    CPPUNIT_ASSERT(mixed.ok());
    CPPUNIT_ASSERT(Verify(mixed.value()) == BreakGlassStatus::kUnknownKey);
  }

  void BadSignatureRejected() {
    std::string text = Issue({0, 1});
    // Flip one character inside the last signature.
    size_t at = text.size() - 10;
    text[at] = text[at] == 'A' ? 'B' : 'A';
    CPPUNIT_ASSERT(Verify(text) == BreakGlassStatus::kBadSignature);
    // A signature by key 1 presented under key 0's id.
    std::string good = Issue({0, 1});
    auto parts_begin = good.find('.', good.find('.') + 1) + 1;
    std::string swapped = good;
    swapped.replace(parts_begin, policy_.keys[0].kid.size(),
                    policy_.keys[2].kid);
    CPPUNIT_ASSERT(Verify(swapped) == BreakGlassStatus::kBadSignature);
  }

  void TamperedFieldsRejected() {
    std::string text = Issue({0, 1});
    size_t start = text.find('.') + 1;
    size_t end = text.find('.', start);
    std::string signatures = text.substr(end);
    const std::vector<std::pair<std::string, nlohmann::json>> changes = {
        {"user", "mallory"},  {"host", "*"},       {"scope", "both"},
        {"runas", "daemon"},  {"exp", kNow + 7200}, {"nbf", kNow - 7200},
        {"id", "bg-ffffffffffffffff"}, {"reason", "other"}};
    for (const auto& [name, value] : changes) {
      nlohmann::json payload = PayloadJson();
      payload["reason"] = Fields().reason;
      payload[name] = value;
      std::string forged =
          "zsp-bg1." + zsp::Base64UrlEncode(payload.dump()) + signatures;
      CPPUNIT_ASSERT_MESSAGE(name, Verify(forged) ==
                                       BreakGlassStatus::kBadSignature);
    }
  }

  void WrongUserRejected() {
    zsp::BreakGlassUse use = SudoUse();
    use.user = "bob";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kWrongUser);
  }

  void WrongHostRejected() {
    zsp::BreakGlassUse use = SudoUse();
    use.host = "web-1.example.org";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kWrongHost);
    use.host = "db-1.example.org.evil";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kWrongHost);
    use.host = "";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kWrongHost);
  }

  void HostPatternIgnoresCase() {
    zsp::BreakGlassUse use = SudoUse();
    use.host = "DB-7.Example.ORG";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kValid);
  }

  void WrongScopeRejected() {
    zsp::BreakGlassUse use = SudoUse();
    use.kind = "login";
    use.runas = "";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kWrongScope);
    zsp::BreakGlassToken login = Fields();
    login.scope = "login";
    login.runas = "";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}, login)) ==
                   BreakGlassStatus::kWrongScope);
  }

  void WrongRunAsRejected() {
    zsp::BreakGlassUse use = SudoUse();
    use.runas = "postgres";
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kWrongScope);
  }

  void BothScopeCoversLoginAndSudo() {
    zsp::BreakGlassToken both = Fields();
    both.scope = "both";
    std::string text = Issue({0, 1}, both);
    CPPUNIT_ASSERT(Verify(text) == BreakGlassStatus::kValid);
    zsp::BreakGlassUse login = SudoUse();
    login.kind = "login";
    login.runas = "";
    CPPUNIT_ASSERT(Verify(text, login) == BreakGlassStatus::kValid);
  }

  void ExpiredRejected() {
    zsp::BreakGlassUse use = SudoUse();
    use.now = Fields().expires;
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kExpired);
    use.now = Fields().expires - 1;
    CPPUNIT_ASSERT(Verify(Issue({0, 1}), use) == BreakGlassStatus::kValid);
  }

  void NotYetValidRejected() {
    zsp::BreakGlassToken later = Fields();
    later.not_before = kNow + 600;
    later.expires = kNow + 1200;
    CPPUNIT_ASSERT(Verify(Issue({0, 1}, later)) ==
                   BreakGlassStatus::kNotYetValid);
    // Within the clock skew it is accepted.
    later.not_before = kNow + 20;
    CPPUNIT_ASSERT(Verify(Issue({0, 1}, later)) == BreakGlassStatus::kValid);
  }

  void WindowLongerThanHostAllows() {
    zsp::BreakGlassToken longer = Fields();
    longer.expires = longer.not_before + 5 * 3600;
    CPPUNIT_ASSERT(Verify(Issue({0, 1}, longer)) == BreakGlassStatus::kTooLong);
  }

  void MalformedTextRejected() {
    const std::vector<std::string> texts = {
        "",
        "zsp-bg1",
        "zsp-bg2.e30.abc.def",
        "zsp-bg1.!!!.abc.def",
        "zsp-bg1." + zsp::Base64UrlEncode("[1]") + ".abc.def",
        Issue({0}) + ".only-a-key-id",
        Issue({0, 1}) + std::string(1100, 'A'),
    };
    for (const auto& text : texts) {
      CPPUNIT_ASSERT_MESSAGE(text.substr(0, 40),
                             Verify(text) == BreakGlassStatus::kMalformed);
    }
  }

  void UnknownPayloadMemberRejected() {
    nlohmann::json payload = PayloadJson();
    payload["extra"] = true;
    std::string text =
        HandMadeToken(payload.dump(), {keys_[0].get(), keys_[1].get()});
    CPPUNIT_ASSERT(Verify(text) == BreakGlassStatus::kMalformed);
    payload = PayloadJson();
    payload["exp"] = "soon";
    text = HandMadeToken(payload.dump(), {keys_[0].get(), keys_[1].get()});
    CPPUNIT_ASSERT(Verify(text) == BreakGlassStatus::kMalformed);
    // A hand-made payload with the right members verifies.
    text = HandMadeToken(PayloadJson().dump(), {keys_[0].get(), keys_[1].get()});
    CPPUNIT_ASSERT(Verify(text) == BreakGlassStatus::kValid);
  }

  void IssueChecksFields() {
    const std::vector<std::pair<std::string, zsp::BreakGlassToken>> cases = [] {
      std::vector<std::pair<std::string, zsp::BreakGlassToken>> out;
      zsp::BreakGlassToken t = Fields();
      t.user = "al ice";
      out.emplace_back("user with space", t);
      t = Fields();
      t.host_pattern = "db/1";
      out.emplace_back("host with slash", t);
      t = Fields();
      t.scope = "root";
      out.emplace_back("unknown scope", t);
      t = Fields();
      t.runas = "";
      out.emplace_back("sudo without runas", t);
      t = Fields();
      t.reason = std::string(200, 'x');
      out.emplace_back("long reason", t);
      t = Fields();
      t.reason = "line\nbreak";
      out.emplace_back("control character", t);
      t = Fields();
      t.expires = t.not_before;
      out.emplace_back("empty window", t);
      t = Fields();
      t.expires = t.not_before + 25 * 3600;
      out.emplace_back("window over 24h", t);
      return out;
    }();
    for (const auto& [name, fields] : cases) {
      auto token = zsp::IssueBreakGlassToken(fields, keys_[0].get());
      CPPUNIT_ASSERT_MESSAGE(name, !token.ok());
    }
  }

  void DecodeListsSigners() {
    auto token = zsp::DecodeBreakGlassToken(Issue({2, 0}) + "\n");
    CPPUNIT_ASSERT(token.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), token.value().user);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, token.value().signers.size());
    CPPUNIT_ASSERT_EQUAL(policy_.keys[2].kid, token.value().signers[0]);
  }

  void NewIdsAreUnique() {
    std::string a = zsp::NewBreakGlassId();
    std::string b = zsp::NewBreakGlassId();
    CPPUNIT_ASSERT_EQUAL(size_t{19}, a.size());
    CPPUNIT_ASSERT(a != b);
  }

  void SpendOnce() {
    if (geteuid() != 0) return;  // the file must be root's
    std::string dir = TempDir();
    CPPUNIT_ASSERT(!dir.empty());
    std::string spool = dir + "/spool";
    auto first = zsp::SpendBreakGlassToken(spool, "bg-0123456789abcdef",
                                           kNow + 60, kNow);
    CPPUNIT_ASSERT_MESSAGE(first.detail,
                           first.status == zsp::SpendStatus::kSpent);
    auto second = zsp::SpendBreakGlassToken(spool, "bg-0123456789abcdef",
                                            kNow + 60, kNow);
    CPPUNIT_ASSERT(second.status == zsp::SpendStatus::kAlreadySpent);
    auto other = zsp::SpendBreakGlassToken(spool, "bg-0123456789abcdee",
                                           kNow + 60, kNow);
    CPPUNIT_ASSERT(other.status == zsp::SpendStatus::kSpent);
    struct stat st {};
    CPPUNIT_ASSERT_EQUAL(0, stat((spool + "/breakglass-spent").c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(0600u, static_cast<unsigned>(st.st_mode & 0777));
    std::filesystem::remove_all(dir);
  }

  void SpendRejectsOpenDirectory() {
    if (geteuid() != 0) return;
    std::string dir = TempDir();
    CPPUNIT_ASSERT_EQUAL(0, chmod(dir.c_str(), 0755));
    auto spent = zsp::SpendBreakGlassToken(dir, "bg-0123456789abcdef",
                                           kNow + 60, kNow);
    CPPUNIT_ASSERT(spent.status == zsp::SpendStatus::kError);
    std::filesystem::remove_all(dir);
  }

  void ConfigParsesBreakGlassSettings() {
    std::string text =
        "broker_url = https://broker.example\n"
        "ca_file = /etc/zsp/ca.pem\n"
        "client_cert = /etc/zsp/host.pem\n"
        "client_key = /etc/zsp/host.key\n"
        "decision_key = /etc/zsp/decision.pub\n"
        "breakglass_key = /etc/zsp/bg1.pub\n"
        "breakglass_key = /etc/zsp/bg2.pub\n"
        "breakglass_key = /etc/zsp/bg3.pub\n"
        "breakglass_signatures = 3\n"
        "breakglass_max_lifetime = 2h\n"
        "breakglass_with_broker = true\n";
    auto config = zsp::ParseHostConfig(text, "t.conf");
    CPPUNIT_ASSERT_MESSAGE(config.ok() ? "" : config.error(), config.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{3}, config.value().breakglass_keys.size());
    CPPUNIT_ASSERT_EQUAL(3L, config.value().breakglass_signatures);
    CPPUNIT_ASSERT_EQUAL(7200L, config.value().breakglass_max_lifetime_sec);
    CPPUNIT_ASSERT(config.value().breakglass_with_broker);

    auto bad = zsp::ParseHostConfig(text + "breakglass_max_lifetime = 2d\n",
                                    "t.conf");
    CPPUNIT_ASSERT(!bad.ok());
    CPPUNIT_ASSERT(bad.error().find("t.conf:12") != std::string::npos);
  }

  void ConfigRejectsMoreSignaturesThanKeys() {
    std::string text =
        "broker_url = https://broker.example\n"
        "ca_file = /etc/zsp/ca.pem\n"
        "client_cert = /etc/zsp/host.pem\n"
        "client_key = /etc/zsp/host.key\n"
        "decision_key = /etc/zsp/decision.pub\n"
        "breakglass_key = /etc/zsp/bg1.pub\n";
    auto config = zsp::ParseHostConfig(text, "t.conf");
    CPPUNIT_ASSERT(!config.ok());
    CPPUNIT_ASSERT(config.error().find("breakglass_signatures") !=
                   std::string::npos);
    config = zsp::ParseHostConfig(text + "breakglass_signatures = 1\n",
                                  "t.conf");
    CPPUNIT_ASSERT(config.ok());
  }

  void PolicyRejectsDecisionKeyReuse() {
    std::string dir = TempDir();
    std::string path = dir + "/same.pub";
    FILE* file = fopen(path.c_str(), "w");
    CPPUNIT_ASSERT(file != nullptr);
    PEM_write_PUBKEY(file, keys_[0].get());
    fclose(file);
    zsp::HostConfig config;
    config.decision_keys = {path};
    config.breakglass_keys = {path};
    config.breakglass_signatures = 1;
    auto policy = zsp::LoadBreakGlassPolicy(config);
    CPPUNIT_ASSERT(!policy.ok());
    CPPUNIT_ASSERT(policy.error().find("also a decision_key") !=
                   std::string::npos);

    config.decision_keys = {};
    config.breakglass_keys = {path, path};
    policy = zsp::LoadBreakGlassPolicy(config);
    CPPUNIT_ASSERT(!policy.ok());
    CPPUNIT_ASSERT(policy.error().find("repeats a key") != std::string::npos);
    std::filesystem::remove_all(dir);
  }

 private:
  EvpPkeyPtr keys_[3];
  zsp::BreakGlassPolicy policy_;

  void PlacementClaimsFromToken() {
    auto claims = zsp::CheckBreakGlassPlacement(Issue({0, 1}), policy_,
                                                "db-1.example.org", kNow);
    CPPUNIT_ASSERT_MESSAGE(claims.ok() ? "" : claims.error(), claims.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("bg-0123456789abcdef"),
                         claims.value().grant);
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), claims.value().user);
    CPPUNIT_ASSERT_EQUAL(std::string(zsp::kBreakGlassKind),
                         claims.value().kind);
    CPPUNIT_ASSERT_EQUAL(kNow + 3600, claims.value().grant_expires);

    zsp::BreakGlassToken login = Fields();
    login.scope = "login";
    login.runas = "";
    claims = zsp::CheckBreakGlassPlacement(Issue({1, 2}, login), policy_,
                                           "db-1.example.org", kNow);
    CPPUNIT_ASSERT_MESSAGE(claims.ok() ? "" : claims.error(), claims.ok());
  }

  void PlacementRejectsInvalidTokens() {
    const std::string host = "db-1.example.org";
    std::string valid = Issue({0, 1});
    auto check = [&](const std::string& text, const std::string& where,
                     int64_t now, const char* name) {
      auto claims = zsp::CheckBreakGlassPlacement(text, policy_, where, now);
      CPPUNIT_ASSERT_MESSAGE(std::string("accepted: ") + name, !claims.ok());
    };
    check(Issue({0}), host, kNow, "one signature");
    check(valid, "web-1.example.org", kNow, "other host");
    check(valid, host, kNow + 3600 + 60, "expired");
    check(valid, host, kNow - 3600, "not yet valid");
    check("not a token", host, kNow, "garbage");
    std::string tampered = valid;
    tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
    check(tampered, host, kNow, "tampered payload");
    zsp::BreakGlassPolicy no_keys;
    auto claims = zsp::CheckBreakGlassPlacement(valid, no_keys, host, kNow);
    CPPUNIT_ASSERT_MESSAGE("accepted without keys", !claims.ok());
  }

  void WorkIdsCoverTokens() {
    CPPUNIT_ASSERT(zsp::IsWorkId("g-0123456789ab"));
    CPPUNIT_ASSERT(zsp::IsWorkId("bg-0123456789abcdef"));
    CPPUNIT_ASSERT(!zsp::IsWorkId("bg-0123456789ABCDEF"));
    CPPUNIT_ASSERT(!zsp::IsWorkId("bg-0123456789abcde"));
    CPPUNIT_ASSERT(!zsp::IsWorkId("bg-../../../etc/x"));
    CPPUNIT_ASSERT(!zsp::IsWorkId(""));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BreakGlassTest);

// Tests for common/jws: sign and verify round trips, every rejection that
// VerifyJws makes, key ids, PEM loading, and the RFC 8037 Ed25519 vector.
// Keys are generated in process. Tokens with hand-made headers are signed
// here with plain OpenSSL calls, so SignJws is not needed to build them.
#include "common/jws.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/base64url.h"

namespace {

using zsp::EvpPkeyPtr;
using zsp::JwsStatus;

constexpr char kType[] = "zsp-test+jwt";

// RFC 8037 appendix A.1 private key "d" and public key "x", as raw bytes.
constexpr unsigned char kRfcPrivate[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
    0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
    0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
constexpr unsigned char kRfcPublic[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
    0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
    0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
// RFC 8037 appendix A.4: header {"alg":"EdDSA"}, payload and signature.
constexpr char kRfcHeaderB64[] = "eyJhbGciOiJFZERTQSJ9";
constexpr char kRfcPayload[] = "Example of Ed25519 signing";
constexpr char kRfcPayloadB64[] = "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr char kRfcSignatureB64[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7"
    "sVvpAr_MuM0KAg";
// First 8 bytes of SHA-256 over kRfcPublic, computed with Python's hashlib.
constexpr char kRfcKeyId[] = "21fe31dfa154a261";

EvpPkeyPtr GenerateKey() {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

// The raw public half of `key`.
zsp::Ed25519PublicKey PublicOnly(EVP_PKEY* key) {
  return zsp::Ed25519PublicKeyOf(key).value();
}

zsp::PinnedKey Pin(EVP_PKEY* key) { return zsp::PinnedKeyOf(key).value(); }

// Ed25519 signature of input by plain OpenSSL, or "" on failure.
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
  return std::string(reinterpret_cast<const char*>(sig), size);
}

bool RawVerify(EVP_PKEY* key, const std::string& input,
               const std::string& sig) {
  zsp::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
         EVP_DigestVerify(
             ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
             sig.size(), reinterpret_cast<const unsigned char*>(input.data()),
             input.size()) == 1;
}

// A compact JWS with exactly this header text, signed by key.
std::string MakeToken(EVP_PKEY* key, const std::string& header,
                      const std::string& payload) {
  std::string input =
      zsp::Base64UrlEncode(header) + "." + zsp::Base64UrlEncode(payload);
  return input + "." + zsp::Base64UrlEncode(RawSign(key, input));
}

std::string HeaderFor(EVP_PKEY* key, const std::string& alg = "EdDSA",
                      const std::string& typ = kType) {
  return "{\"alg\":\"" + alg + "\",\"kid\":\"" + zsp::Ed25519KeyId(key) +
         "\",\"typ\":\"" + typ + "\"}";
}

std::vector<std::string> SplitToken(const std::string& token) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = token.find('.', start)) != std::string::npos;) {
    parts.push_back(token.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(token.substr(start));
  return parts;
}

std::string StatusName(JwsStatus status) {
  switch (status) {
    case JwsStatus::kValid:
      return "kValid";
    case JwsStatus::kMalformed:
      return "kMalformed";
    case JwsStatus::kUnknownKey:
      return "kUnknownKey";
    case JwsStatus::kBadSignature:
      return "kBadSignature";
    case JwsStatus::kLibraryError:
      return "kLibraryError";
  }
  return "unknown";
}

bool IsLowerHex(const std::string& text) {
  return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

class JwsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(JwsTest);
  CPPUNIT_TEST(SignVerifyRoundTrip);
  CPPUNIT_TEST(SignJwsHeaderFields);
  CPPUNIT_TEST(SignJwsVerifiesWithOpenSsl);
  CPPUNIT_TEST(SignJwsRejectsOtherKeyTypes);
  CPPUNIT_TEST(VerifyTamperedPayload);
  CPPUNIT_TEST(VerifyTamperedHeader);
  CPPUNIT_TEST(VerifyTamperedSignature);
  CPPUNIT_TEST(VerifyUnknownKid);
  CPPUNIT_TEST(VerifyMissingKid);
  CPPUNIT_TEST(VerifyPinnedKidWrongKey);
  CPPUNIT_TEST(VerifyPicksKeyByKid);
  CPPUNIT_TEST(VerifyRejectsOtherAlgorithms);
  CPPUNIT_TEST(VerifyRejectsWrongType);
  CPPUNIT_TEST(VerifyRejectsCrit);
  CPPUNIT_TEST(VerifyRejectsPartCount);
  CPPUNIT_TEST(VerifyRejectsBadEncoding);
  CPPUNIT_TEST(VerifyRejectsBadHeaderJson);
  CPPUNIT_TEST(VerifySizeLimit);
  CPPUNIT_TEST(VerifySignatureLength);
  CPPUNIT_TEST(KeyIdFormat);
  CPPUNIT_TEST(KeyIdOfOtherKeys);
  CPPUNIT_TEST(Rfc8037Ed25519Vector);
  CPPUNIT_TEST(LoadPemKeys);
  CPPUNIT_TEST(LoadRejectsBadFiles);
  CPPUNIT_TEST(LoadPemWithLeadingText);
  CPPUNIT_TEST(LoadRejectsSpecialFiles);
  CPPUNIT_TEST(HostKeyOwnerAndMode);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    key_ = GenerateKey();
    CPPUNIT_ASSERT_MESSAGE("generate Ed25519 key", key_ != nullptr);
    keys_.clear();
    keys_.push_back(Pin(key_.get()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("pinned key id", zsp::Ed25519KeyId(key_.get()),
                                 keys_[0].kid);
    dir_.clear();
  }

  void tearDown() override {
    if (dir_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void SignVerifyRoundTrip() {
    for (std::string payload : {std::string("{\"a\":1}"), std::string(""),
                                std::string("\x00\xff binary", 9)}) {
      auto token = zsp::SignJws(key_.get(), payload, kType);
      CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
      auto verified = zsp::VerifyJws(token.value(), keys_, kType);
      CPPUNIT_ASSERT_EQUAL_MESSAGE("status", StatusName(JwsStatus::kValid),
                                   StatusName(verified.status));
      CPPUNIT_ASSERT_MESSAGE("payload", payload == verified.payload);
    }
  }

  void SignJwsHeaderFields() {
    auto token = zsp::SignJws(key_.get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> parts = SplitToken(token.value());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("three parts", size_t{3}, parts.size());
    auto header_text = zsp::Base64UrlDecode(parts[0]);
    CPPUNIT_ASSERT_MESSAGE("header is base64url", header_text.has_value());
    auto header = nlohmann::json::parse(*header_text, nullptr, false);
    CPPUNIT_ASSERT_MESSAGE("header is an object", header.is_object());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("header members", size_t{3}, header.size());
    CPPUNIT_ASSERT_MESSAGE("alg", header.value("alg", "") == "EdDSA");
    CPPUNIT_ASSERT_EQUAL_MESSAGE("kid", zsp::Ed25519KeyId(key_.get()),
                                 header.value("kid", std::string()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("typ", std::string(kType),
                                 header.value("typ", std::string()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("payload part", zsp::Base64UrlEncode("{}"),
                                 parts[1]);
  }

  void SignJwsVerifiesWithOpenSsl() {
    auto token = zsp::SignJws(key_.get(), "payload", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> parts = SplitToken(token.value());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("three parts", size_t{3}, parts.size());
    auto sig = zsp::Base64UrlDecode(parts[2]);
    CPPUNIT_ASSERT_MESSAGE("signature is base64url", sig.has_value());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("signature length", size_t{64}, sig->size());
    CPPUNIT_ASSERT_MESSAGE(
        "OpenSSL verifies the signature over header.payload",
        RawVerify(key_.get(), parts[0] + "." + parts[1], *sig));
  }

  void SignJwsRejectsOtherKeyTypes() {
    EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    CPPUNIT_ASSERT_MESSAGE("generate P-256 key", ec != nullptr);
    CPPUNIT_ASSERT_MESSAGE("P-256 key rejected",
                           !zsp::SignJws(ec.get(), "x", kType).ok());
    EvpPkeyPtr x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
    CPPUNIT_ASSERT_MESSAGE("generate X25519 key", x25519 != nullptr);
    CPPUNIT_ASSERT_MESSAGE("X25519 key rejected",
                           !zsp::SignJws(x25519.get(), "x", kType).ok());
  }

  void VerifyTamperedPayload() {
    auto token = zsp::SignJws(key_.get(), "{\"decision\":\"deny\"}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> parts = SplitToken(token.value());
    std::string forged = parts[0] + "." +
                         zsp::Base64UrlEncode("{\"decision\":\"allow\"}") +
                         "." + parts[2];
    auto verified = zsp::VerifyJws(forged, keys_, kType);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("status", StatusName(JwsStatus::kBadSignature),
                                 StatusName(verified.status));
    CPPUNIT_ASSERT_MESSAGE("no payload returned", verified.payload.empty());
    CPPUNIT_ASSERT_MESSAGE("detail set", !verified.detail.empty());
  }

  void VerifyTamperedHeader() {
    auto token = zsp::SignJws(key_.get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> parts = SplitToken(token.value());
    // The same members in another order still pass every header check.
    std::string header = "{\"typ\":\"" + std::string(kType) + "\",\"kid\":\"" +
                         zsp::Ed25519KeyId(key_.get()) +
                         "\",\"alg\":\"EdDSA\"}";
    std::string forged =
        zsp::Base64UrlEncode(header) + "." + parts[1] + "." + parts[2];
    auto verified = zsp::VerifyJws(forged, keys_, kType);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("status", StatusName(JwsStatus::kBadSignature),
                                 StatusName(verified.status));
  }

  void VerifyTamperedSignature() {
    auto token = zsp::SignJws(key_.get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> parts = SplitToken(token.value());
    std::string sig = *zsp::Base64UrlDecode(parts[2]);
    for (size_t i : {size_t{0}, size_t{31}, size_t{63}}) {
      std::string bad = sig;
      bad[i] = static_cast<char>(bad[i] ^ 0x01);
      std::string forged =
          parts[0] + "." + parts[1] + "." + zsp::Base64UrlEncode(bad);
      auto verified = zsp::VerifyJws(forged, keys_, kType);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          "status with byte " + std::to_string(i) + " flipped",
          StatusName(JwsStatus::kBadSignature), StatusName(verified.status));
    }
  }

  void VerifyUnknownKid() {
    EvpPkeyPtr other = GenerateKey();
    std::vector<zsp::PinnedKey> others;
    others.push_back(Pin(other.get()));
    auto token = zsp::SignJws(key_.get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    auto verified = zsp::VerifyJws(token.value(), others, kType);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("status with another pinned key",
                                 StatusName(JwsStatus::kUnknownKey),
                                 StatusName(verified.status));
    auto none = zsp::VerifyJws(token.value(), {}, kType);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("status with no pinned key",
                                 StatusName(JwsStatus::kUnknownKey),
                                 StatusName(none.status));
  }

  void VerifyMissingKid() {
    std::string no_kid = MakeToken(
        key_.get(),
        "{\"alg\":\"EdDSA\",\"typ\":\"" + std::string(kType) + "\"}", "{}");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "status without kid", StatusName(JwsStatus::kUnknownKey),
        StatusName(zsp::VerifyJws(no_kid, keys_, kType).status));
    std::string number_kid = MakeToken(
        key_.get(),
        "{\"alg\":\"EdDSA\",\"kid\":7,\"typ\":\"" + std::string(kType) + "\"}",
        "{}");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "status with a number kid", StatusName(JwsStatus::kUnknownKey),
        StatusName(zsp::VerifyJws(number_kid, keys_, kType).status));
  }

  void VerifyPinnedKidWrongKey() {
    // An attacker's key signs a token that names the pinned key's kid.
    EvpPkeyPtr attacker = GenerateKey();
    std::string token = MakeToken(attacker.get(), HeaderFor(key_.get()), "{}");
    auto verified = zsp::VerifyJws(token, keys_, kType);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("status", StatusName(JwsStatus::kBadSignature),
                                 StatusName(verified.status));
  }

  void VerifyPicksKeyByKid() {
    EvpPkeyPtr second = GenerateKey();
    std::vector<zsp::PinnedKey> both;
    both.push_back(Pin(second.get()));
    both.push_back(Pin(key_.get()));
    for (EVP_PKEY* signer : {key_.get(), second.get()}) {
      auto token = zsp::SignJws(signer, "{}", kType);
      CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
      auto verified = zsp::VerifyJws(token.value(), both, kType);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          "status for kid " + zsp::Ed25519KeyId(signer),
          StatusName(JwsStatus::kValid), StatusName(verified.status));
    }
  }

  void VerifyRejectsOtherAlgorithms() {
    std::string typ = kType;
    std::string kid = zsp::Ed25519KeyId(key_.get());
    // alg "none" with an empty signature, the classic downgrade.
    std::string none_header =
        "{\"alg\":\"none\",\"kid\":\"" + kid + "\",\"typ\":\"" + typ + "\"}";
    std::string none_token = zsp::Base64UrlEncode(none_header) + "." +
                             zsp::Base64UrlEncode("{}") + ".";
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "alg none, empty signature", StatusName(JwsStatus::kMalformed),
        StatusName(zsp::VerifyJws(none_token, keys_, kType).status));

    for (const char* alg :
         {"none", "HS256", "ES256", "RS256", "eddsa", "EdDSA ", "Ed25519"}) {
      std::string token =
          MakeToken(key_.get(), HeaderFor(key_.get(), alg), "{}");
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          std::string("alg ") + alg, StatusName(JwsStatus::kMalformed),
          StatusName(zsp::VerifyJws(token, keys_, kType).status));
    }
    std::string no_alg = MakeToken(
        key_.get(), "{\"kid\":\"" + kid + "\",\"typ\":\"" + typ + "\"}", "{}");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "no alg", StatusName(JwsStatus::kMalformed),
        StatusName(zsp::VerifyJws(no_alg, keys_, kType).status));
  }

  void VerifyRejectsWrongType() {
    for (const char* typ : {"JWT", "zsp-decision+jwt", "", "ZSP-TEST+JWT"}) {
      std::string token =
          MakeToken(key_.get(), HeaderFor(key_.get(), "EdDSA", typ), "{}");
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          std::string("typ \"") + typ + "\"", StatusName(JwsStatus::kMalformed),
          StatusName(zsp::VerifyJws(token, keys_, kType).status));
    }
    std::string kid = zsp::Ed25519KeyId(key_.get());
    std::string no_typ = MakeToken(
        key_.get(), "{\"alg\":\"EdDSA\",\"kid\":\"" + kid + "\"}", "{}");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "no typ", StatusName(JwsStatus::kMalformed),
        StatusName(zsp::VerifyJws(no_typ, keys_, kType).status));
  }

  void VerifyRejectsCrit() {
    std::string header =
        "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"exp\":1,"
        "\"kid\":\"" +
        zsp::Ed25519KeyId(key_.get()) + "\",\"typ\":\"" + kType + "\"}";
    std::string token = MakeToken(key_.get(), header, "{}");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "crit", StatusName(JwsStatus::kMalformed),
        StatusName(zsp::VerifyJws(token, keys_, kType).status));
    std::string empty_crit = "{\"alg\":\"EdDSA\",\"crit\":[],\"kid\":\"" +
                             zsp::Ed25519KeyId(key_.get()) + "\",\"typ\":\"" +
                             kType + "\"}";
    token = MakeToken(key_.get(), empty_crit, "{}");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "empty crit", StatusName(JwsStatus::kMalformed),
        StatusName(zsp::VerifyJws(token, keys_, kType).status));
  }

  void VerifyRejectsPartCount() {
    auto token = zsp::SignJws(key_.get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> p = SplitToken(token.value());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"one part", p[0]},
        {"two parts", p[0] + "." + p[1]},
        {"four parts", token.value() + "." + p[2]},
        {"trailing dot", token.value() + "."},
        {"only dots", ".."},
    };
    for (const auto& [what, text] : cases) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          what, StatusName(JwsStatus::kMalformed),
          StatusName(zsp::VerifyJws(text, keys_, kType).status));
    }
  }

  void VerifyRejectsBadEncoding() {
    auto token = zsp::SignJws(key_.get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> p = SplitToken(token.value());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"padded header", p[0] + "=." + p[1] + "." + p[2]},
        {"'+' in payload", p[0] + "." + p[1] + "+." + p[2]},
        {"padded signature", p[0] + "." + p[1] + "." + p[2] + "=="},
        {"space in signature", p[0] + "." + p[1] + ". " + p[2]},
    };
    for (const auto& [what, text] : cases) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          what, StatusName(JwsStatus::kMalformed),
          StatusName(zsp::VerifyJws(text, keys_, kType).status));
    }
  }

  void VerifyRejectsBadHeaderJson() {
    for (const char* header : {"not json", "[\"alg\",\"EdDSA\"]", "\"EdDSA\"",
                               "", "{\"alg\":\"EdDSA\""}) {
      std::string token = MakeToken(key_.get(), header, "{}");
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          std::string("header ") + header, StatusName(JwsStatus::kMalformed),
          StatusName(zsp::VerifyJws(token, keys_, kType).status));
    }
  }

  void VerifySizeLimit() {
    // Base64url lengths skip every value of the form 4k+1, so the header
    // carries a pad member as well as the payload to reach the exact size.
    std::string token = TokenOfSize(zsp::kMaxJwsBytes);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("token built at the limit", zsp::kMaxJwsBytes,
                                 token.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "token of kMaxJwsBytes", StatusName(JwsStatus::kValid),
        StatusName(zsp::VerifyJws(token, keys_, kType).status));

    std::string longer = TokenOfSize(zsp::kMaxJwsBytes + 1);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("token built one over the limit",
                                 zsp::kMaxJwsBytes + 1, longer.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "token of kMaxJwsBytes + 1", StatusName(JwsStatus::kMalformed),
        StatusName(zsp::VerifyJws(longer, keys_, kType).status));
  }

  void VerifySignatureLength() {
    auto token = zsp::SignJws(key_.get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign", token.ok());
    std::vector<std::string> p = SplitToken(token.value());
    std::string sig = *zsp::Base64UrlDecode(p[2]);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty signature", ""},
        {"63 bytes", sig.substr(0, 63)},
        {"65 bytes", sig + "x"},
        {"128 bytes", sig + sig},
    };
    for (const auto& [what, bytes] : cases) {
      std::string text = p[0] + "." + p[1] + "." + zsp::Base64UrlEncode(bytes);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          what, StatusName(JwsStatus::kBadSignature),
          StatusName(zsp::VerifyJws(text, keys_, kType).status));
    }
  }

  void KeyIdFormat() {
    std::string kid = zsp::Ed25519KeyId(key_.get());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("16 digits", size_t{16}, kid.size());
    CPPUNIT_ASSERT_MESSAGE("lowercase hex: " + kid, IsLowerHex(kid));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("stable across calls", kid,
                                 zsp::Ed25519KeyId(key_.get()));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("same for the public half", kid,
                                 zsp::Ed25519KeyId(keys_[0].key));
    EvpPkeyPtr other = GenerateKey();
    CPPUNIT_ASSERT_MESSAGE("differs for another key",
                           kid != zsp::Ed25519KeyId(other.get()));
  }

  void KeyIdOfOtherKeys() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("null key", std::string(""),
                                 zsp::Ed25519KeyId(nullptr));
    EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("P-256 key", std::string(""),
                                 zsp::Ed25519KeyId(ec.get()));
    EvpPkeyPtr x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("X25519 key", std::string(""),
                                 zsp::Ed25519KeyId(x25519.get()));
  }

  void Rfc8037Ed25519Vector() {
    EvpPkeyPtr key(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, kRfcPrivate, sizeof kRfcPrivate));
    CPPUNIT_ASSERT_MESSAGE("RFC key from raw bytes", key != nullptr);
    unsigned char x[32];
    size_t x_size = sizeof x;
    CPPUNIT_ASSERT_MESSAGE(
        "public key", EVP_PKEY_get_raw_public_key(key.get(), x, &x_size) == 1);
    CPPUNIT_ASSERT_MESSAGE("public key is the RFC's x",
                           x_size == 32 && std::equal(x, x + 32, kRfcPublic));

    CPPUNIT_ASSERT_EQUAL_MESSAGE("header encoding", std::string(kRfcHeaderB64),
                                 zsp::Base64UrlEncode("{\"alg\":\"EdDSA\"}"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("payload encoding",
                                 std::string(kRfcPayloadB64),
                                 zsp::Base64UrlEncode(kRfcPayload));
    std::string input =
        std::string(kRfcHeaderB64) + "." + std::string(kRfcPayloadB64);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "signature", std::string(kRfcSignatureB64),
        zsp::Base64UrlEncode(RawSign(key.get(), input)));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("key id", std::string(kRfcKeyId),
                                 zsp::Ed25519KeyId(key.get()));

    // The same key through a PEM file and LoadEd25519PrivateKey.
    MakeDir();
    std::string path = WritePem("rfc.pem", key.get(), true);
    auto loaded = zsp::LoadEd25519PrivateKey(path);
    CPPUNIT_ASSERT_MESSAGE("load RFC key", loaded.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "signature with the loaded key", std::string(kRfcSignatureB64),
        zsp::Base64UrlEncode(RawSign(loaded.value().get(), input)));
    auto token = zsp::SignJws(loaded.value().get(), kRfcPayload, kType);
    CPPUNIT_ASSERT_MESSAGE("SignJws with the RFC key", token.ok());
    std::vector<zsp::PinnedKey> rfc_keys;
    rfc_keys.push_back({kRfcKeyId, PublicOnly(key.get())});
    auto verified = zsp::VerifyJws(token.value(), rfc_keys, kType);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("verify with the RFC public key",
                                 StatusName(JwsStatus::kValid),
                                 StatusName(verified.status));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("payload", std::string(kRfcPayload),
                                 verified.payload);
  }

  void LoadPemKeys() {
    MakeDir();
    std::string public_path = WritePem("pub.pem", key_.get(), false);
    std::string private_path = WritePem("key.pem", key_.get(), true);
    auto pub = zsp::LoadEd25519PublicKey(public_path);
    CPPUNIT_ASSERT_MESSAGE("load public key", pub.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("public key id", zsp::Ed25519KeyId(key_.get()),
                                 zsp::Ed25519KeyId(pub.value()));
    auto priv = zsp::LoadEd25519PrivateKey(private_path);
    CPPUNIT_ASSERT_MESSAGE("load private key", priv.ok());

    auto token = zsp::SignJws(priv.value().get(), "{}", kType);
    CPPUNIT_ASSERT_MESSAGE("sign with the loaded key", token.ok());
    std::vector<zsp::PinnedKey> loaded;
    loaded.push_back({zsp::Ed25519KeyId(pub.value()), pub.value()});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "verify with the loaded public key", StatusName(JwsStatus::kValid),
        StatusName(zsp::VerifyJws(token.value(), loaded, kType).status));
  }

  // A host key that someone other than root could replace is rejected;
  // an auditor's key file (LoadEd25519PublicKey) is not held to that.
  void HostKeyOwnerAndMode() {
    MakeDir();
    std::string path = WritePem("host.pub", key_.get(), false);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("chmod 644", 0, chmod(path.c_str(), 0644));
    if (geteuid() != 0) {
      // The file is this user's, so only the owner check can be seen.
      auto mine = zsp::LoadHostPublicKey(path);
      CPPUNIT_ASSERT_MESSAGE("key of a user other than root rejected",
                             !mine.ok());
      CPPUNIT_ASSERT_MESSAGE(
          "message says not owned by root: " + mine.error(),
          mine.error().find("is not owned by root") != std::string::npos);
      return;
    }
    auto ok = zsp::LoadHostPublicKey(path);
    CPPUNIT_ASSERT_MESSAGE(
        "root-owned 0644 key loads: " + (ok.ok() ? std::string() : ok.error()),
        ok.ok());

    CPPUNIT_ASSERT_EQUAL_MESSAGE("chmod 664", 0, chmod(path.c_str(), 0664));
    auto group = zsp::LoadHostPublicKey(path);
    CPPUNIT_ASSERT_MESSAGE("group-writable key rejected", !group.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "message names the mode: " + group.error(),
        group.error().find("writable by group or others") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE("message names the path: " + group.error(),
                           group.error().find(path) != std::string::npos);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("chmod 646", 0, chmod(path.c_str(), 0646));
    CPPUNIT_ASSERT_MESSAGE("world-writable key rejected",
                           !zsp::LoadHostPublicKey(path).ok());
    CPPUNIT_ASSERT_MESSAGE("the plain loader still reads it",
                           zsp::LoadEd25519PublicKey(path).ok());

    CPPUNIT_ASSERT_EQUAL_MESSAGE("chmod 644 again", 0,
                                 chmod(path.c_str(), 0644));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("chown to nobody", 0,
                                 chown(path.c_str(), 65534, 65534));
    auto owner = zsp::LoadHostPublicKey(path);
    CPPUNIT_ASSERT_MESSAGE("key not owned by root rejected", !owner.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "message says not owned by root: " + owner.error(),
        owner.error().find("is not owned by root") != std::string::npos);
  }

  void LoadRejectsBadFiles() {
    MakeDir();
    std::string missing = dir_ + "/absent.pem";
    auto absent = zsp::LoadEd25519PublicKey(missing);
    CPPUNIT_ASSERT_MESSAGE("missing file rejected", !absent.ok());
    CPPUNIT_ASSERT_MESSAGE("message names the path: " + absent.error(),
                           absent.error().find(missing) != std::string::npos);

    std::string garbage = dir_ + "/garbage.pem";
    FILE* f = fopen(garbage.c_str(), "w");
    CPPUNIT_ASSERT_MESSAGE("create garbage file", f != nullptr);
    fputs("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
          f);
    fclose(f);
    CPPUNIT_ASSERT_MESSAGE("garbage public key rejected",
                           !zsp::LoadEd25519PublicKey(garbage).ok());
    CPPUNIT_ASSERT_MESSAGE("garbage private key rejected",
                           !zsp::LoadEd25519PrivateKey(garbage).ok());

    EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    std::string ec_public = WritePem("ec.pub", ec.get(), false);
    std::string ec_private = WritePem("ec.pem", ec.get(), true);
    auto ec_pub = zsp::LoadEd25519PublicKey(ec_public);
    CPPUNIT_ASSERT_MESSAGE("P-256 public key rejected", !ec_pub.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "message says not Ed25519: " + ec_pub.error(),
        ec_pub.error().find("not an Ed25519 key") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE("P-256 private key rejected",
                           !zsp::LoadEd25519PrivateKey(ec_private).ok());

    // An Ed25519 key block whose algorithm OID is changed (1.3.101.112 to
    // 1.3.101.113, Ed448's) is rejected.
    std::string pem = ReadFile(WritePem("ed.pub", key_.get(), false));
    size_t body = pem.find('\n') + 1;
    CPPUNIT_ASSERT_EQUAL(std::string("MCowBQYDK2Vw"), pem.substr(body, 12));
    pem.replace(body, 12, "MCowBQYDK2Vx");
    std::string wrong_oid = dir_ + "/wrong-oid.pem";
    WriteText(wrong_oid, pem);
    CPPUNIT_ASSERT_MESSAGE("key with another OID rejected",
                           !zsp::LoadEd25519PublicKey(wrong_oid).ok());
  }

  void LoadPemWithLeadingText() {
    MakeDir();
    std::string path = dir_ + "/commented.pem";
    WriteText(path, "# decision key of broker-1\n" +
                        ReadFile(WritePem("plain.pem", key_.get(), false)));
    auto pub = zsp::LoadEd25519PublicKey(path);
    CPPUNIT_ASSERT_MESSAGE("key after a comment line loads", pub.ok());
    CPPUNIT_ASSERT_EQUAL(zsp::Ed25519KeyId(key_.get()),
                         zsp::Ed25519KeyId(pub.value()));
  }

 private:
  static std::string ReadFile(const std::string& path) {
    std::string text;
    FILE* f = fopen(path.c_str(), "r");
    CPPUNIT_ASSERT_MESSAGE("open " + path, f != nullptr);
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
    fclose(f);
    return text;
  }

  // A key file that is not a regular file is rejected with its name, and
  // a FIFO without a writer must not block. The loads run in a child
  // under alarm(), so that a blocking open fails the test instead of
  // hanging the suite.
  void LoadRejectsSpecialFiles() {
    MakeDir();
    std::string fifo = dir_ + "/fifo.pem";
    CPPUNIT_ASSERT_EQUAL(0, mkfifo(fifo.c_str(), 0600));
    pid_t child = fork();
    CPPUNIT_ASSERT(child >= 0);
    if (child == 0) {
      alarm(10);
      int failures = 0;
      for (const std::string& path : {fifo, dir_, std::string("/dev/zero")}) {
        auto key = zsp::LoadEd25519PublicKey(path);
        if (key.ok() || key.error().find(path) == std::string::npos ||
            key.error().find("is not a regular file") == std::string::npos) {
          ++failures;
        }
      }
      _exit(failures);
    }
    int status = 0;
    CPPUNIT_ASSERT_EQUAL(child, waitpid(child, &status, 0));
    CPPUNIT_ASSERT_MESSAGE("load of a FIFO blocked past the alarm",
                           !WIFSIGNALED(status));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("special files accepted or not named", 0,
                                 WEXITSTATUS(status));

    auto directory = zsp::LoadEd25519PublicKey(dir_);
    CPPUNIT_ASSERT_MESSAGE("directory rejected", !directory.ok());
    CPPUNIT_ASSERT_MESSAGE(
        "message says not a regular file: " + directory.error(),
        directory.error().find("is not a regular file") != std::string::npos);
  }

  static void WriteText(const std::string& path, const std::string& text) {
    FILE* f = fopen(path.c_str(), "w");
    CPPUNIT_ASSERT_MESSAGE("create " + path, f != nullptr);
    fputs(text.c_str(), f);
    fclose(f);
  }

  // A valid token signed by key_ of exactly `size` bytes, or "" if none of
  // the pad lengths tried gives that size.
  std::string TokenOfSize(size_t size) {
    for (size_t pad = 0; pad < 3; ++pad) {
      std::string header = "{\"alg\":\"EdDSA\",\"kid\":\"" +
                           zsp::Ed25519KeyId(key_.get()) + "\",\"pad\":\"" +
                           std::string(pad, 'x') + "\",\"typ\":\"" + kType +
                           "\"}";
      // Two dots and 86 characters of signature.
      size_t fixed = zsp::Base64UrlEncode(header).size() + 2 + 86;
      // n bytes encode to ceil(4n/3) characters.
      size_t first = (size - fixed) * 3 / 4 - 2;
      for (size_t n = first; n < first + 4; ++n) {
        if ((n * 4 + 2) / 3 + fixed == size) {
          return MakeToken(key_.get(), header, std::string(n, 'p'));
        }
      }
    }
    return "";
  }

  void MakeDir() {
    char pattern[] = "/tmp/zsp-jws-test.XXXXXX";
    CPPUNIT_ASSERT_MESSAGE("mkdtemp", mkdtemp(pattern) != nullptr);
    dir_ = pattern;
  }

  std::string WritePem(const std::string& name, EVP_PKEY* key,
                       bool private_key) {
    std::string path = dir_ + "/" + name;
    FILE* f = fopen(path.c_str(), "w");
    CPPUNIT_ASSERT_MESSAGE("create " + path, f != nullptr);
    int rc = private_key ? PEM_write_PrivateKey(f, key, nullptr, nullptr, 0,
                                                nullptr, nullptr)
                         : PEM_write_PUBKEY(f, key);
    fclose(f);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("write PEM " + path, 1, rc);
    return path;
  }

  EvpPkeyPtr key_;
  std::vector<zsp::PinnedKey> keys_;
  std::string dir_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(JwsTest);

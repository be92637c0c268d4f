// Tests for common/crypto: SHA-256 and Ed25519 checks through libsodium
// against the RFC vectors and against signatures made by OpenSSL (the
// broker's signer), and the PEM reader for the keys that hosts pin.
#include "common/crypto.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

#include "common/handles.h"
#include "common/jws.h"

namespace {

using zsp::SignatureCheck;

// RFC 8032 section 7.1, TEST 1: public key and the signature of the empty
// message.
constexpr unsigned char kRfcPublic[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
    0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
    0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
constexpr unsigned char kRfcSignature[64] = {
    0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2,
    0xcc, 0x80, 0x6e, 0x82, 0x8a, 0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5,
    0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49, 0x01, 0x55, 0x5f,
    0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e, 0x39, 0x70,
    0x1c, 0xf9, 0xb4, 0x6b, 0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe,
    0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b};

const char* CheckName(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kValid:
      return "valid";
    case SignatureCheck::kInvalid:
      return "invalid";
    case SignatureCheck::kLibraryError:
      return "library error";
  }
  return "?";
}

zsp::Ed25519PublicKey RfcKey() {
  zsp::Ed25519PublicKey key;
  std::copy(kRfcPublic, kRfcPublic + 32, key.begin());
  return key;
}

std::string RfcSignature() {
  return std::string(reinterpret_cast<const char*>(kRfcSignature), 64);
}

// The PEM "PUBLIC KEY" block that OpenSSL writes for key.
std::string PublicPem(EVP_PKEY* key) {
  zsp::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// The DER SubjectPublicKeyInfo of raw, an Ed25519 key, as a PEM block.
std::string PemOfRawKey(const unsigned char (&raw)[32]) {
  static constexpr unsigned char kPrefix[] = {
      0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
  std::string der(reinterpret_cast<const char*>(kPrefix), sizeof kPrefix);
  der.append(reinterpret_cast<const char*>(raw), 32);
  unsigned char base64[64] = {};
  EVP_EncodeBlock(base64, reinterpret_cast<const unsigned char*>(der.data()),
                  static_cast<int>(der.size()));
  return "-----BEGIN PUBLIC KEY-----\n" +
         std::string(reinterpret_cast<const char*>(base64)) +
         "\n-----END PUBLIC KEY-----\n";
}

// Returns whether OpenSSL accepts signature of message under raw key.
bool OpenSslVerifies(const zsp::Ed25519PublicKey& raw, std::string_view message,
                     std::string_view signature) {
  zsp::EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                  raw.data(), raw.size()));
  zsp::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  return key && ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr,
                              key.get()) == 1 &&
         EVP_DigestVerify(
             ctx.get(),
             reinterpret_cast<const unsigned char*>(signature.data()),
             signature.size(),
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size()) == 1;
}

}  // namespace

class CryptoTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CryptoTest);
  CPPUNIT_TEST(Sha256Vectors);
  CPPUNIT_TEST(KeyIdOfRfcKey);
  CPPUNIT_TEST(Rfc8032VectorVerifies);
  CPPUNIT_TEST(TamperedSignatureRejected);
  CPPUNIT_TEST(OpenSslSignaturesVerify);
  CPPUNIT_TEST(PemFromOpenSsl);
  CPPUNIT_TEST(PemLayoutVariants);
  CPPUNIT_TEST(PemRejections);
  CPPUNIT_TEST(NonCanonicalSignatureRejected);
  CPPUNIT_TEST(PemWeakKeysRejected);
  CPPUNIT_TEST_SUITE_END();

 public:
  void Sha256Vectors() {
    CPPUNIT_ASSERT_EQUAL(
        std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
                    "f20015ad"),
        zsp::Sha256Hex("abc"));
    CPPUNIT_ASSERT_EQUAL(
        std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                    "7852b855"),
        zsp::Sha256Hex(""));
  }

  void KeyIdOfRfcKey() {
    // The first 8 bytes of SHA-256 over the RFC's public key.
    CPPUNIT_ASSERT_EQUAL(std::string("21fe31dfa154a261"),
                         zsp::Ed25519KeyId(RfcKey()));
  }

  void Rfc8032VectorVerifies() {
    CPPUNIT_ASSERT_EQUAL(std::string("valid"),
                         std::string(CheckName(zsp::VerifyEd25519(
                             RfcKey(), "", RfcSignature()))));
  }

  void TamperedSignatureRejected() {
    std::string signature = RfcSignature();
    std::string flipped = signature;
    flipped[10] ^= 1;
    CPPUNIT_ASSERT_EQUAL(
        std::string("invalid"),
        std::string(CheckName(zsp::VerifyEd25519(RfcKey(), "", flipped))));
    CPPUNIT_ASSERT_EQUAL(
        std::string("invalid"),
        std::string(CheckName(zsp::VerifyEd25519(RfcKey(), "x", signature))));
    CPPUNIT_ASSERT_EQUAL(std::string("invalid"),
                         std::string(CheckName(zsp::VerifyEd25519(
                             RfcKey(), "", signature.substr(0, 63)))));
    CPPUNIT_ASSERT_EQUAL(std::string("invalid"),
                         std::string(CheckName(zsp::VerifyEd25519(
                             RfcKey(), "", signature + "x"))));
    zsp::Ed25519PublicKey other = RfcKey();
    other[0] ^= 1;
    CPPUNIT_ASSERT_EQUAL(
        std::string("invalid"),
        std::string(CheckName(zsp::VerifyEd25519(other, "", signature))));
  }

  // The broker signs with OpenSSL and hosts check with libsodium, so both
  // must agree on every signature, not only on the RFC's.
  void OpenSslSignaturesVerify() {
    for (int i = 0; i < 20; ++i) {
      zsp::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      CPPUNIT_ASSERT(key != nullptr);
      auto pinned = zsp::PinnedKeyOf(key.get());
      CPPUNIT_ASSERT(pinned.ok());
      std::string message(static_cast<size_t>(i * 37), static_cast<char>(i));
      auto signature = zsp::SignEd25519(key.get(), message);
      CPPUNIT_ASSERT(signature.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          "message of " + std::to_string(message.size()) + " bytes",
          std::string("valid"),
          std::string(CheckName(zsp::VerifyEd25519(pinned.value().key, message,
                                                   signature.value()))));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("key id", zsp::Ed25519KeyId(key.get()),
                                   zsp::Ed25519KeyId(pinned.value().key));
      std::string changed = message + "!";
      CPPUNIT_ASSERT_EQUAL_MESSAGE(
          "changed message", std::string("invalid"),
          std::string(CheckName(zsp::VerifyEd25519(pinned.value().key, changed,
                                                   signature.value()))));
    }
  }

  void PemFromOpenSsl() {
    zsp::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    auto parsed = zsp::ParseEd25519PublicKeyPem(PublicPem(key.get()), "k");
    CPPUNIT_ASSERT_MESSAGE(parsed.ok() ? "" : parsed.error(), parsed.ok());
    CPPUNIT_ASSERT(parsed.value() ==
                   zsp::Ed25519PublicKeyOf(key.get()).value());
  }

  void PemLayoutVariants() {
    zsp::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    zsp::Ed25519PublicKey expected = zsp::Ed25519PublicKeyOf(key.get()).value();
    std::string pem = PublicPem(key.get());
    size_t body = pem.find('\n') + 1;
    size_t body_end = pem.find('\n', body);
    std::string base64 = pem.substr(body, body_end - body);
    CPPUNIT_ASSERT_EQUAL(size_t{60}, base64.size());
    const std::string begin = "-----BEGIN PUBLIC KEY-----";
    const std::string end = "-----END PUBLIC KEY-----";
    struct Case {
      const char* name;
      std::string text;
    };
    const Case cases[] = {
        {"CRLF line ends", begin + "\r\n" + base64 + "\r\n" + end + "\r\n"},
        {"body in two lines", begin + "\n" + base64.substr(0, 30) + "\n" +
                                  base64.substr(30) + "\n" + end + "\n"},
        {"blanks around the body", begin + "\n  " + base64 + "\t\n" + end},
        {"text before and after",
         "# decision key\n" + begin + "\n" + base64 + "\n" + end + "\n# end\n"},
    };
    for (const Case& c : cases) {
      auto parsed = zsp::ParseEd25519PublicKeyPem(c.text, "k");
      CPPUNIT_ASSERT_MESSAGE(
          std::string(c.name) + ": " + (parsed.ok() ? "" : parsed.error()),
          parsed.ok());
      CPPUNIT_ASSERT_MESSAGE(c.name, parsed.value() == expected);
    }
  }

  void PemRejections() {
    zsp::EvpPkeyPtr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    zsp::EvpPkeyPtr x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
    zsp::EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));

    std::string pem = PublicPem(ed.get());
    size_t body = pem.find('\n') + 1;
    size_t body_end = pem.find('\n', body);
    std::string base64 = pem.substr(body, body_end - body);
    const std::string begin = "-----BEGIN PUBLIC KEY-----\n";
    const std::string end = "\n-----END PUBLIC KEY-----\n";

    struct Case {
      const char* name;
      std::string text;
      const char* message;  // expected part of the error
    };
    const Case cases[] = {
        {"empty", "", "invalid PEM key in k"},
        {"no END line", begin + base64 + "\n", "invalid PEM key in k"},
        {"private key block",
         "-----BEGIN PRIVATE KEY-----\n" + base64 +
             "\n-----END PRIVATE KEY-----\n",
         "invalid PEM key in k"},
        {"character outside base64", begin + "*" + base64.substr(1) + end,
         "invalid PEM key in k: bad base64"},
        {"X25519 key", PublicPem(x25519.get()), "not an Ed25519 key"},
        {"P-256 key", PublicPem(ec.get()), "not an Ed25519 key"},
        {"one byte short", begin + base64.substr(0, 56) + end,
         "not an Ed25519 key"},
        {"three bytes more", begin + base64.substr(0, 56) + "AAAAAAAA" + end,
         "not an Ed25519 key"},
        {"two key blocks", pem + PublicPem(x25519.get()),
         "more than one BEGIN or END line"},
        {"other key type first", PublicPem(x25519.get()) + pem,
         "more than one BEGIN or END line"},
        {"private key block after",
         pem + "-----BEGIN PRIVATE KEY-----\n" + base64 +
             "\n-----END PRIVATE KEY-----\n",
         "more than one BEGIN or END line"},
        {"block inside a comment",
         "# -----BEGIN PUBLIC KEY-----" + base64 + "-----END PUBLIC KEY-----\n",
         "not alone on its line"},
        {"text after END", begin + base64 + "\n-----END PUBLIC KEY-----x\n",
         "not alone on its line"},
        {"text after BEGIN", "-----BEGIN PUBLIC KEY----- x\n" + base64 + end,
         "not alone on its line"},
        {"padding in the middle",
         begin + base64.substr(0, 20) + "=" + base64.substr(20) + end,
         "bad base64"},
        {"base64 after the padding", begin + base64 + "AAAA" + end,
         "bad base64"},
    };

    for (const Case& c : cases) {
      auto parsed = zsp::ParseEd25519PublicKeyPem(c.text, "k");
      CPPUNIT_ASSERT_MESSAGE(std::string(c.name) + " accepted", !parsed.ok());
      CPPUNIT_ASSERT_MESSAGE(
          std::string(c.name) + ": " + parsed.error(),
          parsed.error().find(c.message) != std::string::npos);
    }
  }

  // S + L verifies the same equation as S (RFC 8032, section 5.1.7), so a
  // verifier that accepted it would let anyone make a second valid
  // signature for any token. libsodium and OpenSSL must both reject it.
  void NonCanonicalSignatureRejected() {
    static constexpr unsigned char kOrder[32] = {
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
        0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
    std::string signature = RfcSignature();
    unsigned carry = 0;
    for (size_t i = 0; i < 32; ++i) {
      unsigned sum =
          static_cast<unsigned char>(signature[32 + i]) + kOrder[i] + carry;
      signature[32 + i] = static_cast<char>(sum & 0xff);
      carry = sum >> 8;
    }
    CPPUNIT_ASSERT_EQUAL(0u, carry);
    CPPUNIT_ASSERT_MESSAGE("OpenSSL accepts the RFC signature",
                           OpenSslVerifies(RfcKey(), "", RfcSignature()));
    CPPUNIT_ASSERT_MESSAGE("OpenSSL rejects S + L",
                           !OpenSslVerifies(RfcKey(), "", signature));
    CPPUNIT_ASSERT_EQUAL(
        std::string("invalid"),
        std::string(CheckName(zsp::VerifyEd25519(RfcKey(), "", signature))));
  }

  // Keys that no key generator produces: libsodium rejects every signature
  // under them, so the reader must reject them with the file's name.
  void PemWeakKeysRejected() {
    struct Case {
      const char* name;
      unsigned char raw[32];
    };
    const Case cases[] = {
        {"neutral point", {0x01}},
        {"point of order 2",
         {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
        {"y not below p",
         {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
    };
    for (const Case& c : cases) {
      auto parsed = zsp::ParseEd25519PublicKeyPem(PemOfRawKey(c.raw), "k");
      CPPUNIT_ASSERT_MESSAGE(std::string(c.name) + " accepted", !parsed.ok());
      CPPUNIT_ASSERT_MESSAGE(
          std::string(c.name) + ": " + parsed.error(),
          parsed.error().find("key in k is not a valid Ed25519 public key") !=
              std::string::npos);
    }
    auto rfc = zsp::ParseEd25519PublicKeyPem(PemOfRawKey(kRfcPublic), "k");
    CPPUNIT_ASSERT_MESSAGE(rfc.ok() ? "" : rfc.error(), rfc.ok());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CryptoTest);

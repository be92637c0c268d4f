// Tests for common/base64url: RFC 4648 vectors in the URL-safe alphabet
// without padding, round trips, and rejection of every non-canonical input.
#include "common/base64url.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <utility>
#include <vector>

class Base64UrlTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(Base64UrlTest);
  CPPUNIT_TEST(EncodeRfc4648Vectors);
  CPPUNIT_TEST(DecodeRfc4648Vectors);
  CPPUNIT_TEST(EncodeUsesUrlAlphabet);
  CPPUNIT_TEST(RoundTripAllByteValues);
  CPPUNIT_TEST(EncodedLengthHasNoPadding);
  CPPUNIT_TEST(DecodeRejectsPadding);
  CPPUNIT_TEST(DecodeRejectsStandardAlphabet);
  CPPUNIT_TEST(DecodeRejectsWhitespace);
  CPPUNIT_TEST(DecodeRejectsOtherBytes);
  CPPUNIT_TEST(DecodeRejectsImpossibleLength);
  CPPUNIT_TEST(DecodeRejectsNonZeroLeftoverBits);
  CPPUNIT_TEST_SUITE_END();

 public:
  // RFC 4648 section 10, with the "=" padding removed.
  const std::vector<std::pair<std::string, std::string>> kRfcVectors = {
      {"", ""},
      {"f", "Zg"},
      {"fo", "Zm8"},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"},
  };

  void EncodeRfc4648Vectors() {
    for (const auto& [plain, encoded] : kRfcVectors) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE("encode \"" + plain + "\"", encoded,
                                   zsp::Base64UrlEncode(plain));
    }
  }

  void DecodeRfc4648Vectors() {
    for (const auto& [plain, encoded] : kRfcVectors) {
      auto decoded = zsp::Base64UrlDecode(encoded);
      CPPUNIT_ASSERT_MESSAGE("decode \"" + encoded + "\" succeeds",
                             decoded.has_value());
      CPPUNIT_ASSERT_EQUAL_MESSAGE("decode \"" + encoded + "\"", plain,
                                   *decoded);
    }
  }

  void EncodeUsesUrlAlphabet() {
    // Standard base64 would give "++++", "////" and "+/8=".
    CPPUNIT_ASSERT_EQUAL_MESSAGE("value 62 is '-'", std::string("----"),
                                 zsp::Base64UrlEncode("\xfb\xef\xbe"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("value 63 is '_'", std::string("____"),
                                 zsp::Base64UrlEncode("\xff\xff\xff"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("two bytes fb ff", std::string("-_8"),
                                 zsp::Base64UrlEncode("\xfb\xff"));
    auto decoded = zsp::Base64UrlDecode("-_8");
    CPPUNIT_ASSERT_MESSAGE("decode \"-_8\" succeeds", decoded.has_value());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("decode \"-_8\"", std::string("\xfb\xff"),
                                 *decoded);
  }

  void RoundTripAllByteValues() {
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    // Every prefix length covers each remainder of length mod 3.
    for (size_t n = 0; n <= all.size(); ++n) {
      std::string data = all.substr(0, n);
      std::string encoded = zsp::Base64UrlEncode(data);
      auto decoded = zsp::Base64UrlDecode(encoded);
      std::string label = "round trip of " + std::to_string(n) + " bytes";
      CPPUNIT_ASSERT_MESSAGE(label + " decodes", decoded.has_value());
      CPPUNIT_ASSERT_MESSAGE(label + " gives the input back", data == *decoded);
    }
    // The same bytes in reverse order, so each value sits at every position
    // of a 3-byte group.
    std::string reversed(all.rbegin(), all.rend());
    for (size_t shift = 0; shift < 3; ++shift) {
      std::string data = reversed.substr(shift);
      auto decoded = zsp::Base64UrlDecode(zsp::Base64UrlEncode(data));
      std::string label = "reversed bytes from " + std::to_string(shift);
      CPPUNIT_ASSERT_MESSAGE(label + " decode", decoded.has_value());
      CPPUNIT_ASSERT_MESSAGE(label + " round trip", data == *decoded);
    }
  }

  void EncodedLengthHasNoPadding() {
    std::string data;
    for (size_t n = 0; n < 50; ++n) {
      std::string encoded = zsp::Base64UrlEncode(data);
      std::string label = "encoding of " + std::to_string(n) + " bytes";
      CPPUNIT_ASSERT_EQUAL_MESSAGE(label + " is ceil(4n/3) long",
                                   (n * 4 + 2) / 3, encoded.size());
      CPPUNIT_ASSERT_MESSAGE(
          label + " uses only the base64url alphabet",
          encoded.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "abcdefghijklmnopqrstuvwxyz0123456789-_") ==
              std::string::npos);
      data += static_cast<char>(0xa5 ^ n);
    }
  }

  void DecodeRejectsPadding() {
    for (const char* text : {"Zg==", "Zm8=", "Zm9vYg==", "=", "===="}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("reject \"") + text + "\"",
                             !zsp::Base64UrlDecode(text).has_value());
    }
  }

  void DecodeRejectsStandardAlphabet() {
    for (const char* text : {"++++", "////", "+/8", "Zm9v+A", "Zm9v/A"}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("reject \"") + text + "\"",
                             !zsp::Base64UrlDecode(text).has_value());
    }
  }

  void DecodeRejectsWhitespace() {
    for (const char* text :
         {"Zm9v Yg", " Zm9v", "Zm9v\n", "Zm9v\r\nYg", "Zm\t9v"}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("reject \"") + text + "\"",
                             !zsp::Base64UrlDecode(text).has_value());
    }
  }

  void DecodeRejectsOtherBytes() {
    CPPUNIT_ASSERT_MESSAGE(
        "reject NUL",
        !zsp::Base64UrlDecode(std::string("Zm\0v", 4)).has_value());
    CPPUNIT_ASSERT_MESSAGE("reject '.'",
                           !zsp::Base64UrlDecode("Zm.v").has_value());
    CPPUNIT_ASSERT_MESSAGE("reject a byte above 0x7f",
                           !zsp::Base64UrlDecode("Zm\xc3\xa9").has_value());
  }

  void DecodeRejectsImpossibleLength() {
    for (const char* text : {"Z", "Zm9vY", "Zm9vYmFyZ"}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("reject length ") +
                                 std::to_string(std::string(text).size()),
                             !zsp::Base64UrlDecode(text).has_value());
    }
  }

  void DecodeRejectsNonZeroLeftoverBits() {
    // "Zg" is the only encoding of "f", and "Zh".."Zv" differ from it in the
    // 4 unused bits. "Zm8" is the only encoding of "fo", and "Zm9" sets one
    // of its 2 unused bits.
    for (const char* text : {"Zh", "Zv", "Z_", "Zm9", "Zm-", "Zm9vYh"}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("reject \"") + text + "\"",
                             !zsp::Base64UrlDecode(text).has_value());
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(Base64UrlTest);

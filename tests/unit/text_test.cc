// Tests for common/text: splitting, strict number and duration parsing,
// UTF-8 validation and decoding, and the C1 and bidirectional formatting
// character ranges.
#include "common/text.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using Strings = std::vector<std::string>;

std::string Show(const Strings& fields) {
  std::string out = "[";
  for (const auto& f : fields) out += "\"" + f + "\",";
  return out + "]";
}

// "e2 80 ae": the bytes of text in hex, for assertion messages.
std::string Hex(const std::string& text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    if (!out.empty()) out += ' ';
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

}  // namespace

class TextTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(TextTest);
  CPPUNIT_TEST(SplitStringKeepsEmptyFields);
  CPPUNIT_TEST(ParseUnsignedAccepts);
  CPPUNIT_TEST(ParseUnsignedRejects);
  CPPUNIT_TEST(ParseUnsignedLeavesOutputOnError);
  CPPUNIT_TEST(ParseDurationAccepts);
  CPPUNIT_TEST(ParseDurationRejects);
  CPPUNIT_TEST(IsValidUtf8Accepts);
  CPPUNIT_TEST(IsValidUtf8Rejects);
  CPPUNIT_TEST(DecodeUtf8ReturnsCodePoints);
  CPPUNIT_TEST(DecodeUtf8RejectsInvalid);
  CPPUNIT_TEST(C1AndBidiControlRanges);
  CPPUNIT_TEST(InvisibleAndSeparatorRanges);
  CPPUNIT_TEST(PercentEncodeKeepsUnreserved);
  CPPUNIT_TEST(PercentEncodeEscapesEverythingElse);
  CPPUNIT_TEST_SUITE_END();

 public:
  void SplitStringKeepsEmptyFields() {
    const std::vector<std::pair<std::string, Strings>> cases = {
        {"", {""}},
        {"a", {"a"}},
        {"/usr/bin:/bin", {"/usr/bin", "/bin"}},
        {":", {"", ""}},
        {"a::b", {"a", "", "b"}},
        {":a:", {"", "a", ""}},
    };
    for (const auto& [text, expected] : cases) {
      Strings actual = zsp::SplitString(text, ':');
      CPPUNIT_ASSERT_EQUAL_MESSAGE("split \"" + text + "\"", Show(expected),
                                   Show(actual));
    }
  }

  void ParseUnsignedAccepts() {
    const std::vector<std::pair<std::string, unsigned int>> cases = {
        {"0", 0},
        {"1", 1},
        {"1000", 1000},
        {"007", 7},
        {"4294967295", 4294967295u},
    };
    for (const auto& [text, expected] : cases) {
      unsigned int value = 12345;
      CPPUNIT_ASSERT_MESSAGE("parse \"" + text + "\" succeeds",
                             zsp::ParseUnsigned(text, &value));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("value of \"" + text + "\"", expected,
                                   value);
    }
  }

  void ParseUnsignedRejects() {
    for (const char* text : {"", "-1", "+1", " 1", "1 ", "99999999999",
                             "4294967296", "1x", "x1", "0x10", "1.0"}) {
      unsigned int value = 0;
      CPPUNIT_ASSERT_MESSAGE(std::string("reject \"") + text + "\"",
                             !zsp::ParseUnsigned(text, &value));
    }
  }

  void ParseUnsignedLeavesOutputOnError() {
    unsigned int value = 77;
    zsp::ParseUnsigned("99999999999", &value);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("output unchanged after overflow", 77u, value);
  }

  void ParseDurationAccepts() {
    const std::vector<std::pair<std::string, int64_t>> cases = {
        {"0", 0},
        {"90", 90},
        {"90s", 90},
        {"15m", 900},
        {"2h", 7200},
        {"1d", 86400},
        {"1h30m", 5400},
        {"1d2h3m4s", 93784},
        {"3650d", int64_t{10} * 365 * 86400},
    };
    for (const auto& [text, expected] : cases) {
      int64_t seconds = -1;
      CPPUNIT_ASSERT_MESSAGE("parse \"" + text + "\" succeeds",
                             zsp::ParseDurationSeconds(text, &seconds));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("seconds in \"" + text + "\"", expected,
                                   seconds);
    }
  }

  void ParseDurationRejects() {
    for (const char* text :
         {"", "h", "1x", "1h30", "-5", "+5", " 5", "5 ", "1H", "1.5h", "3651d",
          "999999999d", "9999999999", "99999999999999999999s", "1hm"}) {
      int64_t seconds = 0;
      CPPUNIT_ASSERT_MESSAGE(std::string("reject \"") + text + "\"",
                             !zsp::ParseDurationSeconds(text, &seconds));
    }
  }

  void IsValidUtf8Accepts() {
    for (const char* text :
         {"", "plain ascii", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
          "\xed\x9f\xbf", "\xee\x80\x80", "\xf4\x8f\xbf\xbf", "\xc2\x80"}) {
      CPPUNIT_ASSERT_MESSAGE(std::string("accept \"") + text + "\"",
                             zsp::IsValidUtf8(text));
    }
    CPPUNIT_ASSERT_MESSAGE("accept NUL",
                           zsp::IsValidUtf8(std::string("a\0b", 3)));
  }

  void IsValidUtf8Rejects() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\xff", "lone 0xff"},
        {"\x80", "lone continuation byte"},
        {"\xc0\xaf", "overlong '/'"},
        {"\xe0\x80\xaf", "overlong 3-byte '/'"},
        {"\xf0\x80\x80\xaf", "overlong 4-byte '/'"},
        {"\xed\xa0\x80", "surrogate U+D800"},
        {"\xed\xbf\xbf", "surrogate U+DFFF"},
        {"\xf4\x90\x80\x80", "U+110000"},
        {"\xf8\x88\x80\x80\x80", "5-byte form"},
        {"\xe2\x82", "truncated sequence"},
        {"a\xc3", "lead byte at the end"},
        {"\xc3\x28", "bad continuation byte"},
    };
    for (const auto& [text, what] : cases) {
      CPPUNIT_ASSERT_MESSAGE("reject " + what, !zsp::IsValidUtf8(text));
    }
  }

  void DecodeUtf8ReturnsCodePoints() {
    const std::vector<std::tuple<std::string, size_t, char32_t>> cases = {
        {"a", 1, U'a'},
        {"\xc3\xa9", 2, 0xe9},
        {"\xc2\x9b", 2, 0x9b},
        {"\xe2\x80\xae", 3, 0x202e},
        {"\xe2\x81\xa6", 3, 0x2066},
        {"\xf0\x9f\x98\x80", 4, 0x1f600},
        {"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
    };
    for (const auto& [text, length, expected] : cases) {
      char32_t code_point = 0;
      std::string label = "decode " + Hex(text);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(label + ": length", length,
                                   zsp::DecodeUtf8(text, 0, &code_point));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(label + ": code point",
                                   static_cast<uint32_t>(expected),
                                   static_cast<uint32_t>(code_point));
    }
    char32_t code_point = 0;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("decode at an offset", size_t{3},
                                 zsp::DecodeUtf8("ab\xe2\x80\xae", 2,
                                                 &code_point));
    CPPUNIT_ASSERT_EQUAL(uint32_t{0x202e}, static_cast<uint32_t>(code_point));
  }

  void DecodeUtf8RejectsInvalid() {
    for (const char* text : {"\xff", "\x80", "\xc0\xaf", "\xe0\x80\xae",
                             "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80",
                             "\xe2\x28\xae"}) {
      char32_t code_point = 0;
      CPPUNIT_ASSERT_EQUAL_MESSAGE("reject " + Hex(text), size_t{0},
                                   zsp::DecodeUtf8(text, 0, &code_point));
    }
  }

  void InvisibleAndSeparatorRanges() {
    for (char32_t code_point :
         {0x2028, 0x2029, 0xad, 0x34f, 0x115f, 0x1160, 0x17b4, 0x200b, 0x2060,
          0x2064, 0x2065, 0x206a, 0x206f, 0x3164, 0xfeff, 0xffa0, 0xfff0,
          0x1bca0, 0x1d173, 0x1d17a, 0xe0000, 0xe0041, 0xe007f, 0xe00ff,
          0xe01f0, 0xe0fff}) {
      CPPUNIT_ASSERT_MESSAGE("in range " + std::to_string(code_point),
                             zsp::IsInvisibleOrSeparator(code_point));
      CPPUNIT_ASSERT_MESSAGE("unsafe " + std::to_string(code_point),
                             zsp::IsUnsafeToDisplay(code_point));
    }
    for (char32_t code_point :
         {0x20, 0xe9, 0xac, 0xae, 0x180b, 0x180e, 0x200a, 0x200c, 0x200d,
          0x2027, 0x202a, 0x205f, 0x2070, 0xfe00, 0xfe0f, 0xfefe, 0xff00,
          0xfff9, 0x1d172, 0x1d17b, 0xdffff, 0xe0100, 0xe01ef, 0xe1000}) {
      CPPUNIT_ASSERT_MESSAGE("outside range " + std::to_string(code_point),
                             !zsp::IsInvisibleOrSeparator(code_point));
    }
    CPPUNIT_ASSERT_MESSAGE("bidi controls stay unsafe",
                           zsp::IsUnsafeToDisplay(0x202e));
    CPPUNIT_ASSERT_MESSAGE("zero width joiner stays safe",
                           !zsp::IsUnsafeToDisplay(0x200d));
  }

  void C1AndBidiControlRanges() {
    for (char32_t code_point :
         {0x80, 0x9b, 0x9f, 0x61c, 0x200e, 0x200f, 0x202a, 0x202e, 0x2066,
          0x2069}) {
      CPPUNIT_ASSERT_MESSAGE("in range " + std::to_string(code_point),
                             zsp::IsC1OrBidiControl(code_point));
    }
    for (char32_t code_point :
         {0x1b, 0x7f, 0xa0, 0xe9, 0x61b, 0x61d, 0x200d, 0x2010, 0x2029,
          0x202f, 0x2065, 0x206a, 0xfeff}) {
      CPPUNIT_ASSERT_MESSAGE("outside range " + std::to_string(code_point),
                             !zsp::IsC1OrBidiControl(code_point));
    }
  }

  void PercentEncodeKeepsUnreserved() {
    CPPUNIT_ASSERT_EQUAL(std::string("AZaz09-_.~"),
                         zsp::PercentEncode("AZaz09-_.~"));
    CPPUNIT_ASSERT_EQUAL(std::string(""), zsp::PercentEncode(""));
  }

  void PercentEncodeEscapesEverythingElse() {
    CPPUNIT_ASSERT_EQUAL(std::string("a%20b%2Bc%26d%3De%2F%3F%23"),
                         zsp::PercentEncode("a b+c&d=e/?#"));
    CPPUNIT_ASSERT_EQUAL(std::string("%00%0A%7F%C3%A9%FF"),
                         zsp::PercentEncode(
                             std::string("\0\n\x7f\xc3\xa9\xff", 6)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TextTest);

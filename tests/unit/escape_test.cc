// Tests for common/escape: control characters, bidirectional formatting
// characters and invalid UTF-8 shown as \xNN, valid UTF-8 kept, the
// length cap on values and argv, and the escapes in JSON output.
#include "common/escape.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace {

using zsp::EscapeControlsForLog;
using zsp::EscapeForLog;
using zsp::EscapeJsonForTerminal;
using zsp::JoinArgvForLog;

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The part of a capped output before its "...[N bytes]" suffix.
std::string KeptPart(const std::string& output) {
  size_t dots = output.rfind("...[");
  return dots == std::string::npos ? output : output.substr(0, dots);
}

}  // namespace

class EscapeTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(EscapeTest);
  CPPUNIT_TEST(EscapeKeepsPlainText);
  CPPUNIT_TEST(EscapeControlChars);
  CPPUNIT_TEST(EscapeStopsForgedLogLine);
  CPPUNIT_TEST(EscapeDoublesBackslash);
  CPPUNIT_TEST(EscapeC1Controls);
  CPPUNIT_TEST(EscapeKeepsValidUtf8);
  CPPUNIT_TEST(EscapeInvalidUtf8);
  CPPUNIT_TEST(EscapeCapExactFit);
  CPPUNIT_TEST(EscapeCapCutsLongInput);
  CPPUNIT_TEST(EscapeCapNeverSplitsEscape);
  CPPUNIT_TEST(EscapeCapNeverSplitsUtf8);
  CPPUNIT_TEST(EscapeCapCountsInputBytes);
  CPPUNIT_TEST(JoinArgvPlainWords);
  CPPUNIT_TEST(JoinArgvQuotesEmptyAndSpaced);
  CPPUNIT_TEST(JoinArgvEscapesWords);
  CPPUNIT_TEST(JoinArgvQuoteInWordStaysVisible);
  CPPUNIT_TEST(JoinArgvCapLongWord);
  CPPUNIT_TEST(JoinArgvCapManyEmptyWords);
  CPPUNIT_TEST(JoinArgvCapManyWords);
  CPPUNIT_TEST(ControlsKeepEscapedParts);
  CPPUNIT_TEST(ControlsStillEscapeControls);
  CPPUNIT_TEST(EscapeBidiControls);
  CPPUNIT_TEST(EscapeKeepsBidiNeighbours);
  CPPUNIT_TEST(EscapeBidiNextToOtherText);
  CPPUNIT_TEST(EscapeCapNeverSplitsBidi);
  CPPUNIT_TEST(JoinArgvEscapesBidi);
  CPPUNIT_TEST(JsonEscapesHiddenCharacters);
  CPPUNIT_TEST(JsonKeepsOtherText);
  CPPUNIT_TEST(EscapeInvisibleAndSeparators);
  CPPUNIT_TEST(JsonEscapesTagCharacters);
  CPPUNIT_TEST_SUITE_END();

 public:
  void EscapeKeepsPlainText() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("empty", std::string(""), EscapeForLog(""));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "printable ASCII", std::string("alice ran /usr/bin/id -u ~!\"'"),
        EscapeForLog("alice ran /usr/bin/id -u ~!\"'"));
  }

  void EscapeControlChars() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {std::string("\0", 1), "\\x00"},
        {"\x01", "\\x01"},
        {"\t", "\\x09"},
        {"\n", "\\x0a"},
        {"\r", "\\x0d"},
        {"\x1b[2J", "\\x1b[2J"},
        {"\x1f", "\\x1f"},
        {"\x7f", "\\x7f"},
        {"a\x7f"
         "b",
         "a\\x7fb"},
    };
    for (const auto& [text, expected] : cases) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE("escape of " + expected, expected,
                                   EscapeForLog(text));
    }
  }

  void EscapeStopsForgedLogLine() {
    std::string forged = "mallory\nallow user=root grant=g-1";
    std::string out = EscapeForLog(forged);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "newline shown as \\x0a",
        std::string("mallory\\x0aallow user=root grant=g-1"), out);
    CPPUNIT_ASSERT_MESSAGE("no newline left",
                           out.find('\n') == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(
        "no carriage return left",
        EscapeForLog("a\rb").find('\r') == std::string::npos);
  }

  void EscapeDoublesBackslash() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("one backslash", std::string("\\\\"),
                                 EscapeForLog("\\"));
    // A literal "\x0a" in the input must not look like an escaped newline.
    CPPUNIT_ASSERT_EQUAL_MESSAGE("literal backslash-x",
                                 std::string("a\\\\x0ab"),
                                 EscapeForLog("a\\x0ab"));
    CPPUNIT_ASSERT_MESSAGE("literal and real newline differ",
                           EscapeForLog("a\\x0ab") != EscapeForLog("a\nb"));
  }

  void EscapeC1Controls() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("U+0085 next line", std::string("\\xc2\\x85"),
                                 EscapeForLog("\xc2\x85"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("U+009B CSI", std::string("\\xc2\\x9b"),
                                 EscapeForLog("\xc2\x9b"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("U+0080", std::string("\\xc2\\x80"),
                                 EscapeForLog("\xc2\x80"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("U+009F", std::string("\\xc2\\x9f"),
                                 EscapeForLog("\xc2\x9f"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("U+00A0 is kept", std::string("\xc2\xa0"),
                                 EscapeForLog("\xc2\xa0"));
  }

  void EscapeKeepsValidUtf8() {
    for (const char* text :
         {"caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80",
          "\xe6\x97\xa5\xe6\x9c\xac", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"}) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("keep ") + text,
                                   std::string(text), EscapeForLog(text));
    }
  }

  void EscapeInvalidUtf8() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\xff", "\\xff"},
        {"a\xff"
         "b",
         "a\\xffb"},
        {"\x80", "\\x80"},
        {"\xc0\xaf", "\\xc0\\xaf"},
        {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},
        {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
        {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
        {"\xe2\x82", "\\xe2\\x82"},
        {"\xc3(", "\\xc3("},
        // A valid character after an invalid lead byte is kept.
        {"\xe2\xc3\xa9", "\\xe2\xc3\xa9"},
    };
    for (const auto& [text, expected] : cases) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE("escape to " + expected, expected,
                                   EscapeForLog(text));
    }
  }

  void EscapeCapExactFit() {
    std::string text(40, 'a');
    CPPUNIT_ASSERT_EQUAL_MESSAGE("output of max_bytes is not cut", text,
                                 EscapeForLog(text, 40));
    std::string escaped = EscapeForLog(std::string(10, '\n'), 40);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("escaped output of max_bytes is not cut",
                                 size_t{40}, escaped.size());
    CPPUNIT_ASSERT_MESSAGE("escaped output of max_bytes has no suffix",
                           escaped.find("...[") == std::string::npos);
  }

  void EscapeCapCutsLongInput() {
    std::string text(41, 'a');
    std::string out = EscapeForLog(text, 40);
    // "...[41 bytes]" is 13 bytes, which leaves 27 for the text.
    CPPUNIT_ASSERT_EQUAL_MESSAGE("cut to max_bytes",
                                 std::string(27, 'a') + "...[41 bytes]", out);

    std::string big(5000, 'b');
    std::string capped = EscapeForLog(big);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("default cap", zsp::kMaxLoggedValueBytes,
                                 capped.size());
    CPPUNIT_ASSERT_MESSAGE("default cap suffix",
                           EndsWith(capped, "...[5000 bytes]"));
  }

  void EscapeCapNeverSplitsEscape() {
    std::string text(100, '\n');
    for (size_t max = 16; max <= 60; ++max) {
      std::string out = EscapeForLog(text, max);
      std::string prefix = KeptPart(out);
      std::string label = "max_bytes " + std::to_string(max);
      CPPUNIT_ASSERT_MESSAGE(label + ": not longer than max_bytes",
                             out.size() <= max);
      CPPUNIT_ASSERT_MESSAGE(label + ": ends with the input size",
                             EndsWith(out, "...[100 bytes]"));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(label + ": kept prefix is whole escapes",
                                   size_t{0}, prefix.size() % 4);
      for (size_t i = 0; i < prefix.size(); i += 4) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(label + ": escape at " + std::to_string(i),
                                     std::string("\\x0a"), prefix.substr(i, 4));
      }
      CPPUNIT_ASSERT_MESSAGE(label + ": keeps as much as fits",
                             prefix.size() + 4 > max - 14);
    }
  }

  void EscapeCapNeverSplitsUtf8() {
    std::string euro = "\xe2\x82\xac";
    std::string text;
    for (int i = 0; i < 50; ++i) text += euro;
    for (size_t max = 16; max <= 60; ++max) {
      std::string out = EscapeForLog(text, max);
      std::string prefix = KeptPart(out);
      std::string label = "max_bytes " + std::to_string(max);
      CPPUNIT_ASSERT_MESSAGE(label + ": not longer than max_bytes",
                             out.size() <= max);
      CPPUNIT_ASSERT_MESSAGE(label + ": ends with the input size",
                             EndsWith(out, "...[150 bytes]"));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(label + ": kept prefix is whole characters",
                                   size_t{0}, prefix.size() % 3);
      CPPUNIT_ASSERT_MESSAGE(label + ": kept prefix is euro signs",
                             text.compare(0, prefix.size(), prefix) == 0);
    }
  }

  void EscapeCapCountsInputBytes() {
    // 300 control bytes escape to 1200 bytes, but N is the input size.
    std::string out = EscapeForLog(std::string(300, '\x01'), 100);
    CPPUNIT_ASSERT_MESSAGE("suffix names the input size",
                           EndsWith(out, "...[300 bytes]"));
    CPPUNIT_ASSERT_MESSAGE("not longer than max_bytes", out.size() <= 100);
  }

  void JoinArgvPlainWords() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("no words", std::string(""),
                                 JoinArgvForLog({}));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("one word", std::string("/usr/bin/id"),
                                 JoinArgvForLog({"/usr/bin/id"}));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("three words", std::string("/bin/ls -l /tmp"),
                                 JoinArgvForLog({"/bin/ls", "-l", "/tmp"}));
  }

  void JoinArgvQuotesEmptyAndSpaced() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("empty word", std::string("/bin/echo \"\""),
                                 JoinArgvForLog({"/bin/echo", ""}));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("empty first word", std::string("\"\" x"),
                                 JoinArgvForLog({"", "x"}));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("word with a space",
                                 std::string("/bin/echo \"a b\" c"),
                                 JoinArgvForLog({"/bin/echo", "a b", "c"}));
    CPPUNIT_ASSERT_MESSAGE(
        "one spaced word differs from two words",
        JoinArgvForLog({"a b"}) != JoinArgvForLog({"a", "b"}));
  }

  void JoinArgvEscapesWords() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE("newline in a word",
                                 std::string("/bin/echo a\\x0aallow"),
                                 JoinArgvForLog({"/bin/echo", "a\nallow"}));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("tab in a word",
                                 std::string("/bin/echo a\\x09b"),
                                 JoinArgvForLog({"/bin/echo", "a\tb"}));
  }

  // NOTE: fails while JoinArgvForLog copies '"' inside a word unescaped.
  void JoinArgvQuoteInWordStaysVisible() {
    // One word `a" "b` is quoted for its space, so it prints as `"a" "b"`,
    // which is also how the two words `"a"` and `"b"` print unless a '"'
    // inside a word is escaped.
    std::vector<std::string> one_word = {"a\" \"b"};
    std::vector<std::string> two_words = {"\"a\"", "\"b\""};
    CPPUNIT_ASSERT_MESSAGE(
        "one word with quotes differs from two quoted words",
        JoinArgvForLog(one_word) != JoinArgvForLog(two_words));
  }

  // Empty words print as "" and used to slip past the cap (found by the
  // escape fuzz target).
  void JoinArgvCapManyEmptyWords() {
    std::vector<std::string> argv(28, "");
    argv.push_back("@/u");
    std::string out = JoinArgvForLog(argv, 64);
    CPPUNIT_ASSERT_MESSAGE("not longer than the cap: " + out,
                           out.size() <= 64);
    CPPUNIT_ASSERT_MESSAGE("says words were left out: " + out,
                           EndsWith(out, "more arguments]"));
  }

  void JoinArgvCapLongWord() {
    std::string out = JoinArgvForLog({"/bin/echo", std::string(5000, 'x')});
    CPPUNIT_ASSERT_MESSAGE("not longer than the default cap",
                           out.size() <= 4 * zsp::kMaxLoggedValueBytes);
    CPPUNIT_ASSERT_MESSAGE("starts with the first word",
                           out.rfind("/bin/echo xxx", 0) == 0);
    CPPUNIT_ASSERT_MESSAGE("ends with the size of the cut word",
                           EndsWith(out, "...[5000 bytes]"));
  }

  // NOTE: fails while JoinArgvForLog appends the "...[N bytes]" suffix of a
  // word cut to less room than the suffix needs.
  void JoinArgvCapManyWords() {
    std::vector<std::string> long_argv(1000, "abcdefgh");
    std::string out = JoinArgvForLog(long_argv);
    CPPUNIT_ASSERT_MESSAGE(
        "1000 words, default cap: got " + std::to_string(out.size()) + " bytes",
        out.size() <= 4 * zsp::kMaxLoggedValueBytes);

    // Each max_bytes from 30 to 80 puts the cut at a different place in a
    // word, including right after a separator.
    std::vector<std::string> argv(40, "abcdefgh");
    for (size_t max = 30; max <= 80; ++max) {
      out = JoinArgvForLog(argv, max);
      CPPUNIT_ASSERT_MESSAGE("max_bytes " + std::to_string(max) + ": got " +
                                 std::to_string(out.size()) + " bytes",
                             out.size() <= max);
    }
    std::vector<std::string> spaced(40, "ab cd");
    for (size_t max = 30; max <= 80; ++max) {
      out = JoinArgvForLog(spaced, max);
      CPPUNIT_ASSERT_MESSAGE("spaced words, max_bytes " + std::to_string(max) +
                                 ": got " + std::to_string(out.size()) +
                                 " bytes",
                             out.size() <= max);
    }
  }

  void ControlsKeepEscapedParts() {
    std::string part = JoinArgvForLog({"/bin/echo", "a\nb"});
    CPPUNIT_ASSERT_EQUAL(std::string("/bin/echo a\\x0ab"), part);
    CPPUNIT_ASSERT_EQUAL("command=" + part,
                         EscapeControlsForLog("command=" + part, 4096));
  }

  void ControlsStillEscapeControls() {
    CPPUNIT_ASSERT_EQUAL(std::string("a\\x0ab\\x1b[2J\\xff\\ c"),
                         EscapeControlsForLog("a\nb\x1b[2J\xff\\ c", 64));
    CPPUNIT_ASSERT_EQUAL(std::string("aaa...[20 bytes]"),
                         EscapeControlsForLog(std::string(20, 'a'), 16));
  }

  // Every bidirectional formatting character becomes \xNN per byte.
  void EscapeBidiControls() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\xd8\x9c", "\\xd8\\x9c"},          // U+061C ARABIC LETTER MARK
        {"\xe2\x80\x8e", "\\xe2\\x80\\x8e"},  // U+200E LEFT-TO-RIGHT MARK
        {"\xe2\x80\x8f", "\\xe2\\x80\\x8f"},  // U+200F RIGHT-TO-LEFT MARK
        {"\xe2\x80\xaa", "\\xe2\\x80\\xaa"},  // U+202A
        {"\xe2\x80\xab", "\\xe2\\x80\\xab"},  // U+202B
        {"\xe2\x80\xac", "\\xe2\\x80\\xac"},  // U+202C
        {"\xe2\x80\xad", "\\xe2\\x80\\xad"},  // U+202D
        {"\xe2\x80\xae", "\\xe2\\x80\\xae"},  // U+202E RIGHT-TO-LEFT OVERRIDE
        {"\xe2\x81\xa6", "\\xe2\\x81\\xa6"},  // U+2066 LEFT-TO-RIGHT ISOLATE
        {"\xe2\x81\xa7", "\\xe2\\x81\\xa7"},  // U+2067
        {"\xe2\x81\xa8", "\\xe2\\x81\\xa8"},  // U+2068
        {"\xe2\x81\xa9", "\\xe2\\x81\\xa9"},  // U+2069 POP DIRECTIONAL ISOLATE
    };
    for (const auto& [text, expected] : cases) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE("EscapeForLog to " + expected, expected,
                                   EscapeForLog(text));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("EscapeControlsForLog to " + expected,
                                   expected, EscapeControlsForLog(text, 64));
    }
  }

  // Characters next to the escaped ranges are ordinary text.
  void EscapeKeepsBidiNeighbours() {
    for (const char* text : {
             "\xd8\x9b",      // U+061B ARABIC SEMICOLON
             "\xe2\x80\x8d",  // U+200D ZERO WIDTH JOINER
             "\xe2\x80\x90",  // U+2010 HYPHEN
             "\xe2\x80\xaf",  // U+202F NARROW NO-BREAK SPACE
             "\xef\xb8\x8f",  // U+FE0F VARIATION SELECTOR-16, in emoji
             "\xc2\xa0",      // U+00A0 NO-BREAK SPACE
         }) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("keep ") + text,
                                   std::string(text), EscapeForLog(text));
    }
  }

  // A "Trojan Source" line: U+202E and U+2066 around a hidden command, an
  // accented letter that stays, a C1 CSI, and invalid UTF-8 around and
  // inside a bidi character.
  void EscapeBidiNextToOtherText() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "reordered argument",
        std::string("/usr/bin/echo safe\\xe2\\x80\\xae\\xe2\\x81\\xa6 ;id"
                    "\\xe2\\x81\\xa9\\xe2\\x81\\xa6"),
        EscapeForLog("/usr/bin/echo safe\xe2\x80\xae\xe2\x81\xa6 ;id"
                     "\xe2\x81\xa9\xe2\x81\xa6"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "e acute kept, U+202E escaped",
        std::string("caf\xc3\xa9 \\xe2\\x80\\xae"),
        EscapeForLog("caf\xc3\xa9 \xe2\x80\xae"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("C1 CSI before a bidi character",
                                 std::string("\\xc2\\x9b\\xe2\\x80\\xae"),
                                 EscapeForLog("\xc2\x9b\xe2\x80\xae"));
    const std::vector<std::pair<std::string, std::string>> invalid = {
        // U+202E cut after two bytes.
        {"\xe2\x80", "\\xe2\\x80"},
        {"a\xe2\x80 b", "a\\xe2\\x80 b"},
        // An invalid byte before a whole U+202E.
        {"\xff\xe2\x80\xae", "\\xff\\xe2\\x80\\xae"},
        // An overlong form of '.' (U+002E) that ends like U+202E.
        {"\xe0\x80\xae", "\\xe0\\x80\\xae"},
    };
    for (const auto& [text, expected] : invalid) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE("invalid UTF-8 to " + expected, expected,
                                   EscapeForLog(text));
    }
  }

  void EscapeCapNeverSplitsBidi() {
    std::string text;
    for (int i = 0; i < 50; ++i) text += "\xe2\x80\xae";
    const std::string escaped = "\\xe2\\x80\\xae";
    for (size_t max = 16; max <= 60; ++max) {
      std::string out = EscapeForLog(text, max);
      std::string prefix = KeptPart(out);
      std::string label = "max_bytes " + std::to_string(max);
      CPPUNIT_ASSERT_MESSAGE(label + ": not longer than max_bytes",
                             out.size() <= max);
      CPPUNIT_ASSERT_MESSAGE(label + ": ends with the input size",
                             EndsWith(out, "...[150 bytes]"));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(label + ": kept prefix is whole escapes",
                                   size_t{0}, prefix.size() % escaped.size());
      for (size_t i = 0; i < prefix.size(); i += escaped.size()) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(label + ": escape at " + std::to_string(i),
                                     escaped,
                                     prefix.substr(i, escaped.size()));
      }
    }
  }

  void JoinArgvEscapesBidi() {
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "U+202E in a word",
        std::string("/bin/echo a\\xe2\\x80\\xaeb"),
        JoinArgvForLog({"/bin/echo", "a\xe2\x80\xae" "b"}));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "U+2066 in a quoted word",
        std::string("/bin/echo \"a \\xe2\\x81\\xa6\""),
        JoinArgvForLog({"/bin/echo", "a \xe2\x81\xa6"}));
  }

  void JsonEscapesHiddenCharacters() {
    // "a" U+202E "b" U+2066 "c" U+009B "d" DEL "e" U+00E9
    std::string reason =
        "a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xc2\x9b" "d\x7f" "e\xc3\xa9";
    nlohmann::json value = {{"reason", reason}};
    std::string out = EscapeJsonForTerminal(value.dump(2));
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\\u202e") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\\u2066") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\\u009b") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\\u007f") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("e\xc3\xa9") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\xe2\x80\xae") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\xe2\x81\xa6") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\xc2\x9b") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find('\x7f') == std::string::npos);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("parses to the same value", value,
                                 nlohmann::json::parse(out));
  }

  void EscapeInvisibleAndSeparators() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a\xe2\x80\xa8" "b", "a\\xe2\\x80\\xa8b"},  // U+2028 LINE SEPARATOR
        {"\xe2\x80\xa9", "\\xe2\\x80\\xa9"},        // U+2029
        {"r\xe2\x80\x8bm", "r\\xe2\\x80\\x8bm"},    // U+200B ZERO WIDTH SPACE
        {"\xe2\x81\xa0", "\\xe2\\x81\\xa0"},        // U+2060 WORD JOINER
        {"\xef\xbb\xbf" "x", "\\xef\\xbb\\xbfx"},   // U+FEFF
        {"\xf3\xa0\x81\x81", "\\xf3\\xa0\\x81\\x81"},  // U+E0041 TAG A
        {"\xe2\x80\x8d", "\xe2\x80\x8d"},          // U+200D kept
    };
    for (const auto& [text, escaped] : cases) {
      CPPUNIT_ASSERT_EQUAL(escaped, EscapeForLog(text));
    }
  }

  void JsonEscapesTagCharacters() {
    // "a" U+E0041 "b" U+2028 "c" U+FEFF
    std::string reason = "a\xf3\xa0\x81\x81" "b\xe2\x80\xa8" "c\xef\xbb\xbf";
    nlohmann::json value = {{"reason", reason}};
    std::string out = EscapeJsonForTerminal(value.dump());
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\\udb40\\udc41") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\\u2028") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\\ufeff") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(out, out.find("\xf3") == std::string::npos);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("parses to the same value", value,
                                 nlohmann::json::parse(out));
    // The first and the last tag character.
    CPPUNIT_ASSERT_EQUAL(std::string("\"\\udb40\\udc00\\udb40\\udc7f\""),
                         EscapeJsonForTerminal("\"\xf3\xa0\x80\x80"
                                               "\xf3\xa0\x81\xbf\""));
  }

  void JsonKeepsOtherText() {
    nlohmann::json value = {{"command", "/usr/bin/id -u"},
                            {"reason", "caf\xc3\xa9 \xe2\x82\xac"}};
    std::string dumped = value.dump(2);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("plain JSON unchanged", dumped,
                                 EscapeJsonForTerminal(dumped));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("invalid UTF-8 copied as it is",
                                 std::string("\"\xff\xe2\x80\""),
                                 EscapeJsonForTerminal("\"\xff\xe2\x80\""));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(EscapeTest);

// Small text helpers with strict parsing: no silent truncation, no locale.
#ifndef ZSP_COMMON_TEXT_H_
#define ZSP_COMMON_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zsp {

// Splits on sep; empty fields are kept.
std::vector<std::string> SplitString(std::string_view text, char sep);

// Parses a whole decimal number that fits in uid_t/gid_t; no sign, no space.
bool ParseUnsigned(std::string_view text, unsigned int* out);

// Parses "90", "90s", "15m", "2h", "1d" or combinations like "1h30m" into
// seconds. Rejects empty text, unknown units and overflow.
bool ParseDurationSeconds(std::string_view text, int64_t* out);

bool IsValidUtf8(std::string_view text);

// Decodes the UTF-8 sequence that starts at text[offset], which must be
// less than text.size(): stores its code point in *code_point and returns
// its length in bytes (1 to 4). Returns 0 for an invalid sequence: a stray
// continuation byte, a truncated or overlong form, a surrogate or a value
// above U+10FFFF.
size_t DecodeUtf8(std::string_view text, size_t offset, char32_t* code_point);

// True for the valid code points that can make text on a terminal or in a
// browser read differently from what it is. These are the C1 controls
// U+0080 to U+009F, because some terminals take U+009B as CSI, the start
// of an escape sequence. They are also the Unicode bidirectional
// formatting characters U+061C, U+200E, U+200F, U+202A to U+202E and
// U+2066 to U+2069, which reorder the text around them as displayed
// (CVE-2021-42574, "Trojan Source").
bool IsC1OrBidiControl(char32_t code_point);

// True for the valid code points that end a line or show nothing, so that
// text hides a word or seems to break where it does not. They are U+2028
// LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR and the default-ignorable
// code points of Unicode 14, such as U+00AD SOFT HYPHEN, U+200B ZERO
// WIDTH SPACE, U+2060 WORD JOINER, U+FEFF and the tag characters U+E0000
// to U+E007F. Not included, because scripts or emoji need them: the
// joiners U+200C and U+200D, the variation selectors U+FE00 to U+FE0F and
// U+E0100 to U+E01EF, and the Mongolian U+180B to U+180F.
bool IsInvisibleOrSeparator(char32_t code_point);

// True for the code points that zsp escapes in logs and messages and
// rejects in stored text: IsC1OrBidiControl or IsInvisibleOrSeparator.
bool IsUnsafeToDisplay(char32_t code_point);

// Percent-encodes every byte except the unreserved characters of RFC 3986
// (letters, digits, "-", "_", ".", "~"), for URL query and path values and
// application/x-www-form-urlencoded bodies.
std::string PercentEncode(std::string_view text);

}  // namespace zsp

#endif  // ZSP_COMMON_TEXT_H_

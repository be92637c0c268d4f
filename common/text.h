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

// Percent-encodes every byte except the unreserved characters of RFC 3986
// (letters, digits, "-", "_", ".", "~"), for URL query and path values and
// application/x-www-form-urlencoded bodies.
std::string PercentEncode(std::string_view text);

}  // namespace zsp

#endif  // ZSP_COMMON_TEXT_H_

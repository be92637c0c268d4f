#include "common/text.h"

#include <charconv>
#include <limits>

namespace zsp {

std::vector<std::string> SplitString(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      return out;
    }
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
}

bool ParseUnsigned(std::string_view text, unsigned int* out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  unsigned int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  *out = value;
  return true;
}

bool ParseDurationSeconds(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  constexpr int64_t kMax = int64_t{10} * 365 * 24 * 3600;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits_end = i;
    while (digits_end < text.size() && text[digits_end] >= '0' &&
           text[digits_end] <= '9') {
      ++digits_end;
    }
    if (digits_end == i || digits_end - i > 9) return false;
    int64_t number = 0;
    std::from_chars(text.data() + i, text.data() + digits_end, number);
    int64_t unit = 1;
    if (digits_end < text.size()) {
      switch (text[digits_end]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return false;
      }
      ++digits_end;
    } else if (i != 0) {
      return false;  // "1h30" is ambiguous
    }
    total += number * unit;
    if (total > kMax) return false;
    i = digits_end;
  }
  *out = total;
  return true;
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    char32_t code_point;
    size_t len = DecodeUtf8(text, i, &code_point);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

size_t DecodeUtf8(std::string_view text, size_t offset, char32_t* code_point) {
  unsigned char c = static_cast<unsigned char>(text[offset]);
  size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
             : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
  if (len == 0 || offset + len > text.size()) return 0;
  char32_t code = len == 1 ? c : c & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) {
    unsigned char b = static_cast<unsigned char>(text[offset + k]);
    if ((b & 0xc0) != 0x80) return 0;
    code = (code << 6) | (b & 0x3f);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMin[len] || code > 0x10ffff ||
      (code >= 0xd800 && code <= 0xdfff)) {
    return 0;
  }
  *code_point = code;
  return len;
}

bool IsC1OrBidiControl(char32_t code_point) {
  return (code_point >= 0x80 && code_point <= 0x9f) ||
         code_point == 0x061c || code_point == 0x200e ||
         code_point == 0x200f ||
         (code_point >= 0x202a && code_point <= 0x202e) ||
         (code_point >= 0x2066 && code_point <= 0x2069);
}

bool IsInvisibleOrSeparator(char32_t code_point) {
  if (code_point == 0x2028 || code_point == 0x2029) return true;
  // The Default_Ignorable_Code_Point ranges of Unicode 14
  // (DerivedCoreProperties.txt) without the bidirectional controls, which
  // IsC1OrBidiControl covers, and without the characters that scripts or
  // emoji need (see text.h).
  return code_point == 0x00ad || code_point == 0x034f ||
         code_point == 0x115f || code_point == 0x1160 ||
         code_point == 0x17b4 || code_point == 0x17b5 ||
         code_point == 0x200b ||
         (code_point >= 0x2060 && code_point <= 0x2065) ||
         (code_point >= 0x206a && code_point <= 0x206f) ||
         code_point == 0x3164 || code_point == 0xfeff ||
         code_point == 0xffa0 ||
         (code_point >= 0xfff0 && code_point <= 0xfff8) ||
         (code_point >= 0x1bca0 && code_point <= 0x1bca3) ||
         (code_point >= 0x1d173 && code_point <= 0x1d17a) ||
         (code_point >= 0xe0000 && code_point <= 0xe00ff) ||
         (code_point >= 0xe01f0 && code_point <= 0xe0fff);
}

bool IsUnsafeToDisplay(char32_t code_point) {
  return IsC1OrBidiControl(code_point) || IsInvisibleOrSeparator(code_point);
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

}  // namespace zsp

#include "common/escape.h"

namespace zsp {
namespace {

// Length of the valid UTF-8 sequence at text[i], or 0 if it is invalid
// (overlong forms, surrogates and values above U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  size_t len;
  unsigned min;
  unsigned code;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    len = 2, min = 0x80, code = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, min = 0x800, code = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, code = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
    return 0;
  }
  // C1 controls (U+0080..U+009F) can act as terminal escapes.
  if (code >= 0x80 && code <= 0x9f) return 0;
  return len;
}

void AppendHex(std::string* out, unsigned char c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  *out += "\\x";
  *out += kDigits[c >> 4];
  *out += kDigits[c & 15];
}

// Escapes text into *out; returns false when it had to be cut.
bool EscapeCapped(std::string_view text, size_t max_bytes, std::string* result) {
  std::string& out = *result;
  out.clear();
  std::string suffix = "...[" + std::to_string(text.size()) + " bytes]";
  size_t budget = max_bytes > suffix.size() ? max_bytes - suffix.size() : 0;
  size_t cut = 0;  // length of out at the last boundary within budget
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = Utf8SequenceLength(text, i);
    if (c == '\\') {
      out += "\\\\";
      len = 1;
    } else if (len == 0 || c < 0x20 || c == 0x7f) {
      AppendHex(&out, c);
      len = 1;
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
    if (out.size() <= budget) cut = out.size();
    if (out.size() > max_bytes) {
      out.resize(cut);
      out += suffix;
      return false;
    }
  }
  return true;
}

}  // namespace

std::string EscapeForLog(std::string_view text, size_t max_bytes) {
  std::string out;
  EscapeCapped(text, max_bytes, &out);
  return out;
}

std::string JoinArgvForLog(const std::vector<std::string>& argv,
                           size_t max_bytes) {
  std::string joined;
  for (const auto& word : argv) {
    if (!joined.empty()) joined += ' ';
    bool quote = word.empty() || word.find(' ') != std::string::npos;
    size_t room = max_bytes > joined.size() + 2 ? max_bytes - joined.size() - 2
                                                : 0;
    std::string escaped;
    bool whole = EscapeCapped(word, room, &escaped);
    joined += quote ? '"' + escaped + '"' : escaped;
    if (!whole) break;  // later words would not fit either
  }
  return joined;
}

}  // namespace zsp

#include "common/escape.h"

#include <algorithm>

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

// Escapes text into *result; returns false when it had to be cut. With
// escape_quotes, '"' becomes \x22 so quoted words keep visible boundaries.
// The result never exceeds max_bytes: the "...[N bytes]" marker is added
// only where it fits.
bool EscapeCapped(std::string_view text, size_t max_bytes, bool escape_quotes,
                  std::string* result, bool escape_backslashes = true) {
  std::string& out = *result;
  out.clear();
  std::string suffix = "...[" + std::to_string(text.size()) + " bytes]";
  if (suffix.size() > max_bytes) suffix.clear();
  size_t budget = max_bytes - suffix.size();
  size_t cut = 0;  // length of out at the last boundary within budget
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = Utf8SequenceLength(text, i);
    if (c == '\\' && escape_backslashes) {
      out += "\\\\";
      len = 1;
    } else if (len == 0 || c < 0x20 || c == 0x7f ||
               (escape_quotes && c == '"')) {
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
  EscapeCapped(text, max_bytes, false, &out);
  return out;
}

std::string EscapeControlsForLog(std::string_view text, size_t max_bytes) {
  std::string out;
  EscapeCapped(text, max_bytes, false, &out, false);
  return out;
}

std::string JoinArgvForLog(const std::vector<std::string>& argv,
                           size_t max_bytes) {
  auto more = [&](size_t left_out) {
    return " ...[" + std::to_string(left_out) + " more arguments]";
  };
  std::string joined;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    bool quote = word.empty() || word.find(' ') != std::string::npos;
    std::string separator = i > 0 ? " " : "";
    size_t overhead = separator.size() + (quote ? 2 : 0);
    bool last = i + 1 == argv.size();
    // Room kept after this word for the marker of the words after it.
    size_t reserve = last ? 0 : more(argv.size() - i - 1).size();

    std::string escaped;
    bool whole = EscapeCapped(word, max_bytes, true, &escaped);
    if (whole &&
        joined.size() + overhead + escaped.size() + reserve <= max_bytes) {
      joined += separator + (quote ? '"' + escaped + '"' : escaped);
      continue;
    }

    // This word does not fit: keep a cut part of it if there is room,
    // then say how many words were left out.
    size_t used = joined.size() + overhead + reserve;
    size_t room = max_bytes > used ? max_bytes - used : 0;
    EscapeCapped(word, room, true, &escaped);
    size_t left_out = argv.size() - i;
    if (!escaped.empty()) {
      joined += separator + (quote ? '"' + escaped + '"' : escaped);
      --left_out;
    }
    if (left_out > 0 && joined.size() + more(left_out).size() <= max_bytes) {
      joined += more(left_out);
    }
    break;
  }
  return joined;
}

}  // namespace zsp

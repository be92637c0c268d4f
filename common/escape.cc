#include "common/escape.h"

#include <algorithm>

#include "common/text.h"

namespace zsp {
namespace {

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
    char32_t code_point = 0;
    size_t len = DecodeUtf8(text, i, &code_point);
    if (c == '\\' && escape_backslashes) {
      out += "\\\\";
      len = 1;
    } else if (len == 0) {
      // Invalid UTF-8: escape this byte and decode again from the next.
      AppendHex(&out, c);
      len = 1;
    } else if (code_point < 0x20 || code_point == 0x7f ||
               IsUnsafeToDisplay(code_point) ||
               (escape_quotes && code_point == '"')) {
      // Every byte of the character is escaped, so a cut never splits it.
      for (size_t k = 0; k < len; ++k) {
        AppendHex(&out, static_cast<unsigned char>(text[i + k]));
      }
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

std::string EscapeJsonForTerminal(std::string_view json_text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(json_text.size());
  for (size_t i = 0; i < json_text.size();) {
    char32_t code_point = 0;
    size_t len = DecodeUtf8(json_text, i, &code_point);
    if (len == 0) {
      out += json_text[i];
      len = 1;
    } else if (code_point == 0x7f || IsUnsafeToDisplay(code_point)) {
      // JSON escapes a code point above U+FFFF (a tag character) as its
      // UTF-16 surrogate pair.
      auto append_unit = [&out](char32_t unit) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) {
          out += kDigits[(unit >> shift) & 15];
        }
      };
      if (code_point >= 0x10000) {
        char32_t offset = code_point - 0x10000;
        append_unit(0xd800 + (offset >> 10));
        append_unit(0xdc00 + (offset & 0x3ff));
      } else {
        append_unit(code_point);
      }
    } else {
      out.append(json_text.substr(i, len));
    }
    i += len;
  }
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

#include "broker/validate.h"

#include <arpa/inet.h>

#include "common/sudo_env.h"
#include "common/text.h"

namespace zsp::broker {
namespace {

bool IsLowerOrUnderscore(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool IsBase64UrlChar(char c) {
  return IsLetter(c) || IsDigit(c) || c == '-' || c == '_';
}

bool IsHostChar(char c) {
  return IsLetter(c) || IsDigit(c) || c == '.' || c == '-';
}

bool IsWildcardChar(char c) {
  return c == '*' || c == '?' || c == '[' || c == ']' || c == '!';
}

// "U+202E": the code point as the Unicode standard writes it.
std::string FormatCodePoint(char32_t code_point) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string digits;
  for (char32_t rest = code_point; rest > 0 || digits.size() < 4; rest >>= 4) {
    digits.insert(digits.begin(), kDigits[rest & 15]);
  }
  return "U+" + digits;
}

// The Unicode name of a bidirectional formatting character, or "".
const char* BidiCharacterName(char32_t code_point) {
  switch (code_point) {
    case 0x061c: return "ARABIC LETTER MARK";
    case 0x200e: return "LEFT-TO-RIGHT MARK";
    case 0x200f: return "RIGHT-TO-LEFT MARK";
    case 0x202a: return "LEFT-TO-RIGHT EMBEDDING";
    case 0x202b: return "RIGHT-TO-LEFT EMBEDDING";
    case 0x202c: return "POP DIRECTIONAL FORMATTING";
    case 0x202d: return "LEFT-TO-RIGHT OVERRIDE";
    case 0x202e: return "RIGHT-TO-LEFT OVERRIDE";
    case 0x2066: return "LEFT-TO-RIGHT ISOLATE";
    case 0x2067: return "RIGHT-TO-LEFT ISOLATE";
    case 0x2068: return "FIRST STRONG ISOLATE";
    case 0x2069: return "POP DIRECTIONAL ISOLATE";
    default: return "";
  }
}

// Checks that text is valid UTF-8 without control characters (C0, DEL and
// C1, with tab allowed when allow_tab is set), bidirectional formatting
// characters or invisible and line-separating characters, which could
// forge lines, hide words or reorder the text on an approver's terminal or
// page. Returns "" when it is, or what is wrong,
// naming the first such character.
std::string CheckCharacters(std::string_view text, bool allow_tab) {
  for (size_t i = 0; i < text.size();) {
    char32_t code_point = 0;
    size_t len = DecodeUtf8(text, i, &code_point);
    if (len == 0) return "is not valid UTF-8";
    i += len;
    if (code_point == '\t' && allow_tab) continue;
    if (code_point < 0x20 || code_point == 0x7f ||
        (code_point >= 0x80 && code_point <= 0x9f)) {
      return "contains the control character " + FormatCodePoint(code_point) +
             ", which is not allowed";
    }
    if (IsC1OrBidiControl(code_point)) {
      return "contains the bidirectional formatting character " +
             FormatCodePoint(code_point) + " (" +
             BidiCharacterName(code_point) +
             "), which is not allowed because it can reorder how the text "
             "is displayed";
    }
    if (IsInvisibleOrSeparator(code_point)) {
      return "contains the invisible or line-separating character " +
             FormatCodePoint(code_point) +
             ", which is not allowed because it can hide or split the text "
             "as displayed";
    }
  }
  return "";
}

}  // namespace

bool IsValidUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserNameBytes) return false;
  if (name[0] == '-' || name == "." || name == "..") return false;
  bool all_digits = true;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool last = i + 1 == name.size();
    if (c == '$' && last && i > 0) continue;
    if (!IsDigit(c)) all_digits = false;
    bool upper = c >= 'A' && c <= 'Z';
    if (IsLowerOrUnderscore(c) || upper || IsDigit(c) || c == '-' ||
        c == '.') {
      continue;
    }
    return false;
  }
  // A numeric name would read as a uid in chown, sudo -u and the like.
  return !all_digits;
}

bool IsValidGroupName(std::string_view name) { return IsValidUserName(name); }

bool SameUserName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? char(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? char(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

std::string CheckEnvGrantEntry(std::string_view entry) {
  if (entry == kWholeEnvironment) return "";
  if (!IsEnvName(entry)) {
    return "is not a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128 "
           "bytes) or \"*\"";
  }
  if (IsDeniedEnvName(entry)) {
    return "is removed by every host and cannot be granted";
  }
  if (IsReservedEnvName(entry)) {
    return "is set by the host for every command and cannot be granted";
  }
  return "";
}

bool IsValidHostName(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostNameBytes) return false;
  if (name[0] == '-' || name[0] == '.') return false;
  for (char c : name) {
    if (!IsHostChar(c)) return false;
  }
  return true;
}

bool IsValidHostPattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > kMaxHostNameBytes) return false;
  if (pattern[0] == '-' || pattern[0] == '.') return false;
  for (char c : pattern) {
    if (!IsHostChar(c) && !IsWildcardChar(c)) return false;
  }
  return true;
}

bool IsValidNonce(std::string_view nonce) {
  if (nonce.size() < kMinNonceChars || nonce.size() > kMaxNonceChars) {
    return false;
  }
  for (char c : nonce) {
    if (!IsBase64UrlChar(c)) return false;
  }
  return true;
}

std::string CheckCommandEntry(std::string_view entry) {
  if (entry.empty() || entry[0] != '/') {
    return "must start with an absolute path";
  }
  std::string characters = CheckCharacters(entry, false);
  if (!characters.empty()) return characters;
  std::vector<std::string> words = SplitString(entry, ' ');
  if (words[0].size() > kMaxPathBytes) return "path is longer than 4096 bytes";
  // Hosts ask about the resolved path of the program (no symlinks, no "."
  // or ".." parts), so an entry in any other form could never match.
  const std::string& path = words[0];
  if (path.find("//") != std::string::npos || path.back() == '/' ||
      path.find("/./") != std::string::npos ||
      path.find("/../") != std::string::npos ||
      path.ends_with("/.") || path.ends_with("/..")) {
    return "path must be written without \"//\", \".\" or \"..\" parts, "
           "as the resolved path of the program (for example /usr/bin/true)";
  }
  if (words.size() > kMaxArgvEntries) {
    return "has more than " + std::to_string(kMaxArgvEntries) + " arguments";
  }
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i].empty()) return "has an empty argument (double space)";
    if (words[i] == "\"\"" && words.size() != 2) {
      return "\"\" (no arguments) must be the only argument";
    }
  }
  return "";
}

size_t CountUtf8Chars(std::string_view text) {
  size_t count = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++count;
  }
  return count;
}

std::string CheckText(std::string_view text, size_t max_chars) {
  std::string characters = CheckCharacters(text, true);
  if (!characters.empty()) return characters;
  if (text.empty() || CountUtf8Chars(text) > max_chars) {
    return "must be 1 to " + std::to_string(max_chars) + " characters";
  }
  return "";
}

bool IsIpAddress(const std::string& text) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

}  // namespace zsp::broker

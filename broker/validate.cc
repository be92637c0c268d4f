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

bool HasControlChar(std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
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
  if (HasControlChar(entry) || !IsValidUtf8(entry)) {
    return "contains control characters or invalid UTF-8";
  }
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

bool IsValidText(std::string_view text, size_t max_chars) {
  if (text.empty() || !IsValidUtf8(text)) return false;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) return false;
  }
  return CountUtf8Chars(text) <= max_chars;
}

bool IsIpAddress(const std::string& text) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

}  // namespace zsp::broker

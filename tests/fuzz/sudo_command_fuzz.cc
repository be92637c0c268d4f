// libFuzzer target: the host side of command matching in sudo_zsp, which
// builds the argv the broker matches. The input is the words of a sudo
// command line, one per line. Checks, for every input:
// - The `SHELL -c` string that sudo builds for -s and -i, unescaped,
//   gives back the words joined by single spaces.
// - The first word resolved as a command (ResolveCommand with cwd / and a
//   fixed secure_path) is an error or a canonical absolute path, which
//   has no ".", ".." or empty segment and no trailing '/'.
// ResolveCommand reads the real file system with stat and realpath only.
#include <cstdint>
#include <string>
#include <vector>

#include "common/sudo_policy.h"
#include "common/text.h"

namespace {

// sudo 1.9's escaping of the words after -s or -i (parse_args.c): a
// backslash before every byte that is not alphanumeric, '_', '-' or '$',
// and one unescaped space between words.
std::string SudoShellEscape(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ' ';
    for (char c : words[i]) {
      bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '$';
      if (!plain) out += '\\';
      out += c;
    }
  }
  return out;
}

bool IsCanonicalAbsolute(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  std::vector<std::string> segments = zsp::SplitString(path.substr(1), '/');
  for (const auto& segment : segments) {
    if (segment.empty() || segment == "." || segment == "..") return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // sudo's argv are C strings, so nothing after a NUL reaches the plugin.
  text = text.substr(0, text.find('\0'));
  std::vector<std::string> words = zsp::SplitString(text, '\n');

  std::string joined;
  for (size_t i = 0; i < words.size(); ++i) {
    joined += (i > 0 ? " " : "") + words[i];
  }
  if (zsp::UnescapeShellCommand(SudoShellEscape(words)) != joined) {
    __builtin_trap();
  }

  auto resolved = zsp::ResolveCommand(words[0], "/", "/usr/sbin:/usr/bin");
  if (resolved.ok() && !IsCanonicalAbsolute(resolved.value())) {
    __builtin_trap();
  }
  return 0;
}

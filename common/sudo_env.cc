#include "common/sudo_env.h"

#include <algorithm>
#include <array>

namespace zsp {
namespace {

constexpr size_t kMaxEnvNameBytes = 128;

// Exact names that are never passed; see IsDeniedEnvName.
constexpr std::array<std::string_view, 47> kDeniedNames = {
    // sudoers' env_delete defaults.
    "IFS", "CDPATH", "LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES", "NLSPATH",
    "PATH_LOCALE", "TERMINFO", "TERMINFO_DIRS", "TERMPATH", "TERMCAP", "ENV",
    "BASH_ENV", "PS4", "GLOBIGNORE", "BASHOPTS", "SHELLOPTS",
    "JAVA_TOOL_OPTIONS", "PERLIO_DEBUG", "PERLLIB", "PERL5LIB", "PERL5OPT",
    "PERL5DB", "FPATH", "NULLCMD", "READNULLCMD", "ZDOTDIR", "TMPPREFIX",
    "PYTHONHOME", "PYTHONPATH", "PYTHONINSPECT", "PYTHONUSERBASE", "RUBYLIB",
    "RUBYOPT",
    // glibc's unsecure variables not listed above.
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "LOCPATH", "MALLOC_TRACE",
    "NIS_PATH", "RESOLV_HOST_CONF", "TMPDIR", "TZDIR",
    // TLS libraries: key logs and configuration that loads modules.
    "SSLKEYLOGFILE", "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES",
};

// Name prefixes that are never passed.
constexpr std::array<std::string_view, 4> kDeniedPrefixes = {
    "LD_", "_RLD", "BASH_FUNC_", "MALLOC_"};

constexpr std::array<std::string_view, 6> kReservedNames = {
    "PATH", "HOME", "SHELL", "LOGNAME", "USER", "MAIL"};

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// sudoers' env_check list: passed only with a harmless value.
bool IsCheckedEnvName(std::string_view name) {
  return name == "TERM" || name == "COLORTERM" || name == "LANG" ||
         name == "LANGUAGE" || name == "LINGUAS" || name == "TZ" ||
         StartsWith(name, "LC_");
}

// Locale and terminal names containing '/' or '%' have been used to make
// setuid programs load files the user chose.
bool IsHarmlessCheckedValue(std::string_view value) {
  if (value.size() > 256) return false;
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '/' || c == '%') return false;
  }
  return true;
}

}  // namespace

bool IsEnvName(std::string_view name) {
  if (name.empty() || name.size() > kMaxEnvNameBytes) return false;
  if (name[0] >= '0' && name[0] <= '9') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsDeniedEnvName(std::string_view name) {
  for (std::string_view denied : kDeniedNames) {
    if (name == denied) return true;
  }
  for (std::string_view prefix : kDeniedPrefixes) {
    if (StartsWith(name, prefix)) return true;
  }
  return false;
}

bool IsReservedEnvName(std::string_view name) {
  for (std::string_view reserved : kReservedNames) {
    if (name == reserved) return true;
  }
  return StartsWith(name, "SUDO_") || StartsWith(name, "ZSP_");
}

std::string CheckUserEnvEntry(std::string_view entry) {
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos) return "is not of the form NAME=value";
  std::string_view name = entry.substr(0, eq);
  std::string_view value = entry.substr(eq + 1);
  if (!IsEnvName(name)) return "is not a valid variable name";
  if (IsDeniedEnvName(name)) return "is never passed to commands run as root";
  if (IsReservedEnvName(name)) return "is set by sudo_zsp itself";
  if (entry.size() > kMaxUserEnvEntryBytes) {
    return "is longer than " + std::to_string(kMaxUserEnvEntryBytes) +
           " bytes";
  }
  if (StartsWith(value, "()")) return "holds a shell function definition";
  if (IsCheckedEnvName(name) && !IsHarmlessCheckedValue(value)) {
    return "has a value with '/', '%' or control characters";
  }
  return "";
}

std::vector<std::string> RequestedEnvNames(
    const std::vector<std::string>& env_add, bool preserve_all,
    std::string* problem) {
  problem->clear();
  std::vector<std::string> names;
  for (const auto& entry : env_add) {
    std::string reason = CheckUserEnvEntry(entry);
    if (!reason.empty()) {
      *problem = entry.substr(0, entry.find('=')) + " " + reason;
      return {};
    }
    names.push_back(entry.substr(0, entry.find('=')));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (preserve_all) names.push_back(kWholeEnvironment);
  return names;
}

}  // namespace zsp

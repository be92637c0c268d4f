// Rules for the environment variables that a command run through sudo_zsp
// may receive from the invoking user, with -E or VAR=value words. The
// broker uses the same rules to reject grants for names no host passes.
#ifndef ZSP_COMMON_SUDO_ENV_H_
#define ZSP_COMMON_SUDO_ENV_H_

#include <string>
#include <string_view>
#include <vector>

namespace zsp {

// The grant's env entry that allows -E: the user's whole environment,
// still without the variables that IsDeniedEnvName names.
inline constexpr char kWholeEnvironment[] = "*";

// Longest "NAME=value" entry passed from the user to a command.
inline constexpr size_t kMaxUserEnvEntryBytes = 32 * 1024;

// A POSIX environment variable name: [A-Za-z_][A-Za-z0-9_]*, 1 to 128
// bytes.
bool IsEnvName(std::string_view name);

// Names that sudo_zsp never passes from the user, whatever the grant lists:
// sudoers' default env_delete list (as `sudo -V` prints it as root with
// sudo 1.9.13p3), glibc's list of variables it ignores in setuid programs,
// BASH_FUNC_* function exports, and variables that make TLS libraries
// write secrets or load code (SSLKEYLOGFILE, OPENSSL_CONF and others).
bool IsDeniedEnvName(std::string_view name);

// Names that sudo_zsp sets itself for the command (PATH, HOME, SHELL,
// LOGNAME, USER, MAIL, SUDO_* and ZSP_*), which the user cannot replace.
bool IsReservedEnvName(std::string_view name);

// Checks one "NAME=value" entry from the user. Returns "" when it may be
// passed to the command, otherwise why not, for a message. Besides the
// name rules above it rejects shell function definitions (values starting
// with "()"), values over the size cap, and for TERM, COLORTERM, LANG,
// LANGUAGE, LINGUAS, TZ and LC_* (sudoers' env_check list) values holding
// '/', '%' or control characters.
std::string CheckUserEnvEntry(std::string_view entry);

// The variable names that VAR=value words set, sorted and without
// repeats, followed by kWholeEnvironment when preserve_all (-E) is set.
// These are what the broker must find in the grant's env list. Returns ""
// in *problem, or the first entry that may not be set and why.
std::vector<std::string> RequestedEnvNames(
    const std::vector<std::string>& env_add, bool preserve_all,
    std::string* problem);

}  // namespace zsp

#endif  // ZSP_COMMON_SUDO_ENV_H_

// Syntax checks for the names and values that reach the broker from people,
// hosts and the command line. Each check is strict: anything it does not
// recognise is invalid.
#ifndef ZSP_BROKER_VALIDATE_H_
#define ZSP_BROKER_VALIDATE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace zsp::broker {

inline constexpr size_t kMaxUserNameBytes = 32;
inline constexpr size_t kMaxHostNameBytes = 253;
// As many as the host sends (common/sudo_policy.cc); the 64 KiB body limit
// still bounds the total size.
inline constexpr size_t kMaxArgvEntries = 4096;
inline constexpr size_t kMaxArgBytes = 4096;
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMinNonceChars = 16;
inline constexpr size_t kMaxNonceChars = 128;
inline constexpr size_t kMaxReasonChars = 1024;
inline constexpr size_t kMaxCommentChars = 1024;
inline constexpr size_t kMaxRunasEntries = 32;
inline constexpr size_t kMaxCommandEntries = 64;
inline constexpr size_t kMaxRunasGroupEntries = 32;
inline constexpr size_t kMaxEnvEntries = 64;

// A user name as Debian 12's useradd accepts it: [A-Za-z0-9_.-]+ with an
// optional trailing '$', 1 to 32 bytes, not starting with '-', not "." or
// "..", and not all digits.
bool IsValidUserName(std::string_view name);

// A group name, with the same syntax and length limit as a user name.
bool IsValidGroupName(std::string_view name);

// True when two user names differ at most in the case of ASCII letters.
// Checks that keep a person from acting twice or on their own request
// use it, because an identity provider may spell "CSmith" the account
// that a host names "csmith".
bool SameUserName(std::string_view a, std::string_view b);

// The name the broker records as the actor of its own decisions: expiry
// and auto-approval. No person may have it, in any case.
inline constexpr char kBrokerActor[] = "broker";
inline bool IsBrokerActorName(std::string_view name) {
  return SameUserName(name, kBrokerActor);
}

// Checks an entry of a sudo grant's env list: "*" (the whole environment,
// as sudo -E keeps it) or a variable name that hosts can pass. Names that
// hosts always remove (LD_PRELOAD, BASH_FUNC_*) or set themselves (PATH,
// SUDO_USER) are invalid. Returns "" when valid, or what is wrong.
std::string CheckEnvGrantEntry(std::string_view entry);

// A host name: letters, digits, '.' and '-', 1 to 253 bytes, not starting
// with '-' or '.'.
bool IsValidHostName(std::string_view name);

// A host pattern in a request: a host name that may also contain the
// fnmatch(3) wildcards '*', '?', '[', ']' and '!'.
bool IsValidHostPattern(std::string_view pattern);

// 16 to 128 characters of the base64url alphabet, no padding.
bool IsValidNonce(std::string_view nonce);

// A sudo command entry: an absolute path of at most 4096 bytes, optionally
// followed by arguments separated by single spaces. The argument "" means
// "no arguments" and is valid only on its own. Valid UTF-8 without control
// characters (C0, DEL, C1) or the characters of IsUnsafeToDisplay in
// common/text.h (bidirectional formatting, invisible and line-separating
// characters). Returns "" when valid, or what is
// wrong, naming the first character that is not allowed.
std::string CheckCommandEntry(std::string_view entry);

// Free text from a person or host (reason, comment): valid UTF-8 without
// control characters other than tab and without the characters of
// IsUnsafeToDisplay, 1 to max_chars Unicode characters. Returns "" when valid, or
// what is wrong, naming the first character that is not allowed.
std::string CheckText(std::string_view text, size_t max_chars);

// Number of Unicode code points in valid UTF-8 text.
size_t CountUtf8Chars(std::string_view text);

// A literal IPv4 or IPv6 address.
bool IsIpAddress(const std::string& text);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_VALIDATE_H_

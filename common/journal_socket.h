// A client of journald's native protocol
// (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/), so that pam_zsp.so and
// sudo_zsp.so write journal entries without loading libsystemd and its
// compression and crypto libraries into every sudo and login.
#ifndef ZSP_COMMON_JOURNAL_SOCKET_H_
#define ZSP_COMMON_JOURNAL_SOCKET_H_

#include <string>
#include <string_view>
#include <vector>

namespace zsp {

// The datagram socket on which systemd-journald receives native entries.
inline constexpr char kJournalSocket[] = "/run/systemd/journal/socket";

// Returns whether journald accepts name as a field name from a client:
// 1 to 64 bytes of A-Z, 0-9 and '_', not starting with '_' or a digit
// (journal_field_valid() in systemd 252). journald drops a field with any
// other name.
bool IsValidJournalFieldName(std::string_view name);

// Serializes fields, each "NAME=value" with any bytes in the value, as one
// entry of the native protocol. A value without a newline is written as
// "NAME=value\n". A value with a newline is written as "NAME\n", its
// length as a 64-bit little-endian integer, the value and "\n".
// Returns 0 and stores the entry in *ret_entry, or -EINVAL when fields is
// empty, a field has no '=' or a name is invalid; *ret_entry is then left
// unchanged.
int SerializeJournalEntry(const std::vector<std::string>& fields,
                          std::string* ret_entry);

// Sends fields (as for SerializeJournalEntry) as one entry to the journald
// socket at socket_path, in one datagram, or in a sealed memfd passed with
// SCM_RIGHTS when the entry is too large for a datagram. Opens and closes
// its own socket on each call. Returns 0, or a negative errno: -EINVAL for
// invalid fields or an empty socket_path, -ENAMETOOLONG when socket_path
// does not fit in a sockaddr_un, -ENOENT when it does not exist,
// -ECONNREFUSED when nothing receives on it, -ETIMEDOUT when the receiver
// took nothing for 3 seconds, or the error of another failed system call.
int SendJournalEntry(const std::vector<std::string>& fields,
                     const std::string& socket_path = kJournalSocket);

}  // namespace zsp

#endif  // ZSP_COMMON_JOURNAL_SOCKET_H_

// Makes attacker-controlled text safe for logs, journal fields and
// terminals: no control characters that could forge a line or move the
// cursor, invalid UTF-8 shown as \xNN, and a hard length cap.
#ifndef ZSP_COMMON_ESCAPE_H_
#define ZSP_COMMON_ESCAPE_H_

#include <string>
#include <string_view>
#include <vector>

namespace zsp {

// Default cap for a single escaped value, in bytes of output.
inline constexpr size_t kMaxLoggedValueBytes = 1024;

// Escapes control characters (C0, DEL, C1), backslashes and invalid UTF-8
// as \xNN (backslash as \\). Output longer than max_bytes is cut at a
// character boundary and ends with "...[N bytes]", N being the input size;
// the output never exceeds max_bytes (the marker is left out if it alone
// would not fit).
std::string EscapeForLog(std::string_view text,
                         size_t max_bytes = kMaxLoggedValueBytes);

// Escapes like EscapeForLog but leaves backslashes as they are, for text
// assembled from parts that were escaped already, whose \xNN sequences
// would otherwise turn into \\xNN. The result still has no control
// characters or invalid UTF-8.
std::string EscapeControlsForLog(std::string_view text, size_t max_bytes);

// Joins argv with spaces after escaping each word ('"' too, as \x22); a
// word that is empty or holds a space is shown in double quotes so the
// boundaries stay visible. Words that do not fit in max_bytes are replaced
// by "...[K more arguments]".
std::string JoinArgvForLog(const std::vector<std::string>& argv,
                           size_t max_bytes = 4 * kMaxLoggedValueBytes);

}  // namespace zsp

#endif  // ZSP_COMMON_ESCAPE_H_

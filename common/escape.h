// Makes attacker-controlled text safe for logs, journal fields and
// terminals: no control characters that could forge a line or move the
// cursor, no bidirectional formatting characters that could reorder the
// text as displayed, no invisible or line-separating characters, invalid
// UTF-8 shown as \xNN, and a hard length cap.
#ifndef ZSP_COMMON_ESCAPE_H_
#define ZSP_COMMON_ESCAPE_H_

#include <string>
#include <string_view>
#include <vector>

namespace zsp {

// Default cap for a single escaped value, in bytes of output.
inline constexpr size_t kMaxLoggedValueBytes = 1024;

// Escapes control characters (C0, DEL, C1), the bidirectional formatting,
// invisible and line-separating characters (see IsUnsafeToDisplay in
// common/text.h), backslashes and
// invalid UTF-8 as \xNN, one per byte (backslash as \\), so U+202E
// becomes \xe2\x80\xae. Other valid UTF-8, such as U+00E9 (e acute), is
// copied unchanged. Output longer than max_bytes is cut at a character
// boundary and ends with "...[N bytes]", N being the input size. The
// output never exceeds max_bytes, because the marker is left out if it
// alone would not fit.
std::string EscapeForLog(std::string_view text,
                         size_t max_bytes = kMaxLoggedValueBytes);

// Escapes like EscapeForLog but leaves backslashes as they are, for text
// assembled from parts that were escaped already, whose \xNN sequences
// would otherwise turn into \\xNN. The result still has no control
// characters, characters of IsUnsafeToDisplay or invalid UTF-8.
std::string EscapeControlsForLog(std::string_view text, size_t max_bytes);

// Replaces DEL and the characters of IsUnsafeToDisplay (common/text.h)
// in JSON text (as nlohmann::json::dump writes it) with their \uXXXX
// escapes, such as \u202e, and a surrogate pair above U+FFFF. Everything
// else, U+00E9 (e acute) and invalid UTF-8 included, is copied unchanged.
// JSON text is ASCII outside its strings, and inside a string \uXXXX is a
// valid escape that parsers decode to the same character, so the result
// is the same JSON value, safe to print on a terminal.
std::string EscapeJsonForTerminal(std::string_view json_text);

// Joins argv with spaces after escaping each word ('"' too, as \x22); a
// word that is empty or holds a space is shown in double quotes so the
// boundaries stay visible. Words that do not fit in max_bytes are replaced
// by "...[K more arguments]".
std::string JoinArgvForLog(const std::vector<std::string>& argv,
                           size_t max_bytes = 4 * kMaxLoggedValueBytes);

}  // namespace zsp

#endif  // ZSP_COMMON_ESCAPE_H_

// Base64url without padding (RFC 4648 section 5), as JWS uses it.
#ifndef ZSP_COMMON_BASE64URL_H_
#define ZSP_COMMON_BASE64URL_H_

#include <optional>
#include <string>
#include <string_view>

namespace zsp {

std::string Base64UrlEncode(std::string_view data);

// Returns nullopt for characters outside the alphabet, for padding and for a
// length that no encoding produces (length mod 4 == 1).
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace zsp

#endif  // ZSP_COMMON_BASE64URL_H_

// Random identifiers and bearer tokens.
#ifndef ZSP_BROKER_IDS_H_
#define ZSP_BROKER_IDS_H_

#include <string>
#include <string_view>

#include "common/result.h"

namespace zsp::broker {

// Prefix of every bearer token, so that leaked tokens are easy to scan for.
inline constexpr char kTokenPrefix[] = "zsp_";

// prefix followed by 12 random lowercase hex digits, e.g. "r-3f9c0a1b2c4d".
Result<std::string> NewId(std::string_view prefix);

// "zsp_" followed by 32 random bytes in base64url.
Result<std::string> NewToken();

// Lowercase hex SHA-256 of text, or "" if OpenSSL failed.
std::string Sha256Hex(std::string_view text);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_IDS_H_

// Random identifiers and bearer tokens.
#ifndef ZSP_BROKER_IDS_H_
#define ZSP_BROKER_IDS_H_

#include <string>
#include <string_view>

#include "common/crypto.h"
#include "common/result.h"

namespace zsp::broker {

// Prefix of every bearer token, so that leaked tokens are easy to scan for.
inline constexpr char kTokenPrefix[] = "zsp_";

// prefix followed by 12 random lowercase hex digits, e.g. "r-3f9c0a1b2c4d".
Result<std::string> NewId(std::string_view prefix);

// "zsp_" followed by 32 random bytes in base64url.
Result<std::string> NewToken();

// The lowercase hex SHA-256 of a text, shared with the hosts.
using zsp::Sha256Hex;

}  // namespace zsp::broker

#endif  // ZSP_BROKER_IDS_H_

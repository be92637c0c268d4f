// Strict JSON parsing for signed payloads and broker responses: the objects
// that zsp exchanges are shallow and never repeat a key, so anything else
// is rejected before a field is read.
#ifndef ZSP_COMMON_STRICT_JSON_H_
#define ZSP_COMMON_STRICT_JSON_H_

#include <nlohmann/json.hpp>
#include <string_view>

namespace zsp {

// Deepest nesting that ParseStrictJson accepts.
inline constexpr int kMaxJsonDepth = 8;

// Parses text as JSON, rejecting nesting deeper than kMaxJsonDepth and
// objects that repeat a key (nlohmann keeps the last value, but another
// reader might keep the first). Returns a discarded value on any problem.
nlohmann::json ParseStrictJson(std::string_view text);

}  // namespace zsp

#endif  // ZSP_COMMON_STRICT_JSON_H_

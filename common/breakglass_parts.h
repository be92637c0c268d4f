// The text form of a break-glass token, shared by the verifying half
// (common/breakglass.cc, which the modules link) and the signing half
// (common/breakglass_issue.cc, OpenSSL, for zspctl). See breakglass.h for
// the format.
#ifndef ZSP_COMMON_BREAKGLASS_PARTS_H_
#define ZSP_COMMON_BREAKGLASS_PARTS_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/breakglass.h"
#include "common/result.h"

namespace zsp {

// A token split into its payload and (key id, signature) pairs.
struct BreakGlassParts {
  std::string payload_b64;
  std::vector<std::pair<std::string, std::string>> signatures;
};

// The text that each key signs: "zsp-bg1." and the base64url payload.
std::string BreakGlassSigningInput(std::string_view payload_b64);

// Splits a token's text, after trimming surrounding blanks, without
// decoding or checking anything but the layout and the limits.
Result<BreakGlassParts> SplitBreakGlassToken(std::string_view text);

// Decodes a payload and checks its members (CheckBreakGlassFields).
Result<BreakGlassToken> DecodeBreakGlassPayload(const std::string& payload_b64);

}  // namespace zsp

#endif  // ZSP_COMMON_BREAKGLASS_PARTS_H_

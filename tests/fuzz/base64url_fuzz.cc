// libFuzzer target: base64url decoding accepts only canonical text, and
// what it accepts encodes back to the same text.
#include <cstdint>
#include <string_view>

#include "common/base64url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = zsp::Base64UrlDecode(text);
  if (decoded && zsp::Base64UrlEncode(*decoded) != text) __builtin_trap();
  return 0;
}

// libFuzzer target: escaped log text never contains a control character
// (C0, DEL, C1), a bidirectional formatting character or invalid UTF-8
// and never exceeds its cap.
#include <cstdint>
#include <string>
#include <vector>

#include "common/escape.h"
#include "common/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  size_t cap = size > 0 ? data[0] : 0;
  std::string out = zsp::EscapeForLog(text, cap);
  if (out.size() > cap || !zsp::IsValidUtf8(out)) __builtin_trap();
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) __builtin_trap();
  }
  for (size_t i = 0; i < out.size();) {
    char32_t code_point = 0;
    size_t len = zsp::DecodeUtf8(out, i, &code_point);
    if (len == 0 || zsp::IsC1OrBidiControl(code_point)) __builtin_trap();
    i += len;
  }

  std::vector<std::string> argv;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\0') {
      argv.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  std::string joined = zsp::JoinArgvForLog(argv, 64 + cap);
  if (joined.size() > 64 + cap || !zsp::IsValidUtf8(joined)) __builtin_trap();
  return 0;
}

// libFuzzer target: the small text parsers that read user and broker
// input (durations such as sudo -T values, unsigned numbers such as
// "#uid", UTF-8 validation, list splitting) and the broker's command entry
// syntax. Checks round trips where the functions promise them.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/host_requests.h"
#include "common/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  int64_t seconds = 0;
  if (zsp::ParseDurationSeconds(text, &seconds) && seconds < 0) {
    __builtin_trap();
  }
  unsigned int number = 0;
  if (zsp::ParseUnsigned(text, &number)) {
    size_t nonzero = text.find_first_not_of('0');
    std::string_view digits =
        nonzero == std::string_view::npos ? "0" : text.substr(nonzero);
    if (std::to_string(number) != digits) __builtin_trap();
  }
  zsp::IsValidUtf8(text);

  std::vector<std::string> words = zsp::SplitString(text, ' ');
  size_t total = words.size() - 1;  // the separators
  for (const auto& w : words) total += w.size();
  if (total != text.size()) __builtin_trap();

  std::string entry = zsp::CommandEntryFor(words);
  if (!entry.empty() && entry.rfind(words[0], 0) != 0) {
    __builtin_trap();
  }
  return 0;
}

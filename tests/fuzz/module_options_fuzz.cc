// libFuzzer target: the module and plugin argument parser (the words after
// the module path in pam.d or sudo.conf), split at newlines. An accepted
// argument list names an absolute configuration path.
#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string word;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      args.push_back(word);
      word.clear();
    } else {
      word += static_cast<char>(data[i]);
    }
  }
  if (!word.empty()) args.push_back(word);

  auto options = zsp::ParseModuleOptions(args);
  if (options.ok()) {
    const std::string& path = options.value().config_path;
    if (path.empty() || path[0] != '/') __builtin_trap();
  }
  return 0;
}

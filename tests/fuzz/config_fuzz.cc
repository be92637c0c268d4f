// libFuzzer target: the host configuration parser must reject or accept
// any text without crashing, and an accepted configuration has every
// required setting.
#include <cstdint>
#include <string_view>

#include "common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = zsp::ParseHostConfig(text, "fuzz.conf");
  if (config.ok()) {
    const zsp::HostConfig& c = config.value();
    if (c.broker_url.empty() || c.ca_file.empty() || c.client_cert.empty() ||
        c.client_key.empty() || c.decision_keys.empty()) {
      __builtin_trap();
    }
  }
  return 0;
}

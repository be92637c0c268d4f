// libFuzzer target: the audit chain checker reads lines an attacker may
// have edited; it must report, never crash.
#include <cstdint>
#include <string>
#include <vector>

#include "common/audit_spool.h"
#include "common/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines = zsp::SplitString(text, '\n');
  zsp::ChainCheck check = zsp::CheckChain(lines);
  if (check.intact && check.records != lines.size()) __builtin_trap();
  return 0;
}

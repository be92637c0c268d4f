// libFuzzer target: the auditor's chain verifier (VerifyAuditChain) on
// arbitrary spool lines, with one anchor taken from the input. Findings
// come sorted by sequence number, and an intact report never counts more
// records than lines.
#include <cstdint>
#include <string>
#include <vector>

#include "common/audit_spool.h"
#include "common/audit_verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }

  std::vector<zsp::ChainAnchor> anchors;
  if (!lines.empty() && !lines[0].empty()) {
    anchors.push_back({static_cast<uint64_t>(lines[0][0] % 8),
                       zsp::Sha256Hex(lines.back()), "fuzz anchor"});
  }
  zsp::ChainReport report = zsp::VerifyAuditChain(lines, anchors);
  if (report.records > lines.size()) __builtin_trap();
  for (size_t i = 1; i < report.findings.size(); ++i) {
    if (report.findings[i].seq < report.findings[i - 1].seq) __builtin_trap();
  }
  zsp::ChainReport plain = zsp::VerifyAuditChain(lines, {});
  if (plain.records > lines.size()) __builtin_trap();
  return 0;
}

// Verification of an audit chain as an auditor sees it: the lines of one
// host's spool or of the remote store, plus the store's signed checkpoints.
// Unlike CheckChain, which stops at the first break, this walks the whole
// chain and names each record that is missing, altered or out of order.
#ifndef ZSP_COMMON_AUDIT_VERIFY_H_
#define ZSP_COMMON_AUDIT_VERIFY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace zsp {

// A point of the chain that someone outside the host vouches for: a signed
// checkpoint of the store, or the delivery state of the host.
struct ChainAnchor {
  uint64_t seq = 0;
  std::string hash;    // SHA-256 (hex) of the line of record seq
  std::string source;  // for messages, such as "checkpoint of 2026-12-04..."
};

struct ChainFinding {
  uint64_t seq = 0;     // the first record concerned
  std::string problem;  // "missing", "altered: ...", and so on
};

struct ChainReport {
  uint64_t records = 0;   // lines that parsed as records
  uint64_t last_seq = 0;  // highest sequence number seen
  std::vector<ChainFinding> findings;  // sorted by seq; empty when intact
};

// Checks lines (in file or store order) against each other and against the
// anchors. A record whose hash does not match the "prev" of its successor
// or an anchor is reported as altered. When a record's own "prev" was
// changed, both links around it break, and that record alone is named.
ChainReport VerifyAuditChain(const std::vector<std::string>& lines,
                             const std::vector<ChainAnchor>& anchors);

}  // namespace zsp

#endif  // ZSP_COMMON_AUDIT_VERIFY_H_

// The local audit spool: an append-only file of JSON lines, one per
// decision, chained by SHA-256 so that a removed, reordered or altered
// record breaks the chain. Every record has a sequence number one higher
// than the record before it and carries the hash of that record's line.
// Concurrent writers (several sudo and login processes) serialise on an
// exclusive flock, so the host has one unbroken chain.
#ifndef ZSP_COMMON_AUDIT_SPOOL_H_
#define ZSP_COMMON_AUDIT_SPOOL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace zsp {

inline constexpr char kDefaultSpoolDir[] = "/var/lib/zsp/spool";
inline constexpr char kSpoolFileName[] = "audit.jsonl";
// The "prev" of the first record.
inline constexpr char kGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";
// Longest line the spool writes or reads back.
inline constexpr size_t kMaxSpoolLineBytes = 32 * 1024;

struct SpoolPosition {
  uint64_t seq = 0;   // sequence number of the appended record
  std::string hash;   // SHA-256 (hex) of its line
};

// Lower-case hex SHA-256 of data.
std::string Sha256Hex(std::string_view data);

// Encodes one spool record as a single JSON line without a newline.
// fields are "NAME=value" strings, which become string members. Entries
// without '=' are skipped, and a later NAME replaces an earlier one. seq,
// prev and time are set last, so a field cannot replace them. Invalid
// UTF-8 becomes U+FFFD and control characters are escaped, so the line
// never contains a raw newline.
std::string EncodeSpoolRecord(const std::vector<std::string>& fields,
                              uint64_t seq, const std::string& prev,
                              int64_t time);

// Appends one record. fields are "NAME=value" strings; they become JSON
// members next to "seq", "prev" and "time". Creates the directory (0700)
// and file (0600) if missing, refuses a directory or file not owned by
// root or open to group or others, and fsyncs before returning.
Result<SpoolPosition> AppendToSpool(const std::string& dir,
                                    const std::vector<std::string>& fields);

struct ChainCheck {
  bool intact = false;
  uint64_t records = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string last_hash;
  std::string problem;  // where and why the chain breaks, if it does
};

// Checks a chain of spool lines, starting after (expected_seq - 1,
// expected_prev).
ChainCheck CheckChain(const std::vector<std::string>& lines,
                      uint64_t expected_seq = 1,
                      const std::string& expected_prev = kGenesisHash);

// Reads the spool file's lines (without newlines).
Result<std::vector<std::string>> ReadSpoolLines(const std::string& path);

}  // namespace zsp

#endif  // ZSP_COMMON_AUDIT_SPOOL_H_

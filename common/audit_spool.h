// The local audit spool: an append-only file of JSON lines, one per
// decision, chained by SHA-256 so that a removed, reordered or altered
// record breaks the chain. Every record has a sequence number one higher
// than the record before it and carries the hash of that record's line.
// Concurrent writers (several sudo and login processes) serialise on an
// exclusive flock, so the host has one unbroken chain.
#ifndef ZSP_COMMON_AUDIT_SPOOL_H_
#define ZSP_COMMON_AUDIT_SPOOL_H_

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.h"
#include "common/result.h"

namespace zsp {

inline constexpr char kDefaultSpoolDir[] = "/var/lib/zsp/spool";
inline constexpr char kSpoolFileName[] = "audit.jsonl";
// The "prev" of the first record.
inline constexpr char kGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";
// Longest line the spool writes or reads back.
inline constexpr size_t kMaxSpoolLineBytes = 32 * 1024;

// The MESSAGE_ID of the record that AppendToSpool writes when it removes
// an incomplete last line (journal.h, AuditEvent::kSpoolRepaired).
inline constexpr char kSpoolRepairedMessageId[] =
    "ad824d3cfa1543faaeccc4cecd77d996";

// An incomplete last line that AppendToSpool removed before it appended,
// and the record that it wrote about it.
struct SpoolRepair {
  uint64_t seq = 0;          // the repair record's sequence number; 0: none
  std::string hash;          // SHA-256 (hex) of the repair record's line
  size_t removed_bytes = 0;  // length of the incomplete line
  std::string removed_hash;  // SHA-256 (hex) of the incomplete line
  // The user that the incomplete line names, as far as it got; "" if none.
  std::string removed_user;
};

struct SpoolPosition {
  uint64_t seq = 0;   // sequence number of the appended record
  std::string hash;   // SHA-256 (hex) of its line
  SpoolRepair repair;
};

// Checks st, the status of the spool directory or of a file in it: owned
// by root, with no access for group or others, because only root may
// write evidence. Returns "" when it passes, else the problem with path.
std::string SpoolPrivacyProblem(const struct stat& st, const std::string& path);

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
//
// A last line without a newline can only be left by a writer that ended
// in the middle of its write (SIGKILL, a crash), because every writer
// holds the lock and undoes a failed write. No caller received success
// for such a record, so AppendToSpool writes in its place a record with
// MESSAGE_ID kSpoolRepairedMessageId that gives its length, hash, text
// and user (position.repair), then the new record.
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

// Reads the spool file's lines (without newlines). A last line without a
// newline is an error, or, with incomplete given, is stored there and left
// out of the lines.
Result<std::vector<std::string>> ReadSpoolLines(
    const std::string& path, std::string* incomplete = nullptr);

}  // namespace zsp

#endif  // ZSP_COMMON_AUDIT_SPOOL_H_

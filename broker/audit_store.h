// The remote audit store: each host's chain of spool records, kept
// append-only (in DIR/audit.db with SQLite, or in the broker's PostgreSQL
// database), with alerts for
// records that do not continue the chain and checkpoints signed by the
// audit key (DIR/audit.key), which is separate from the decision key.
#ifndef ZSP_BROKER_AUDIT_STORE_H_
#define ZSP_BROKER_AUDIT_STORE_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/store.h"
#include "common/audit_spool.h"
#include "common/handles.h"
#include "common/result.h"

namespace zsp::broker {

// The header "typ" of a signed checkpoint.
inline constexpr char kCheckpointJwsType[] = "zsp-audit-checkpoint+jwt";

// A new checkpoint is signed at the end of an accepted batch once this
// many records or seconds have passed since the host's last checkpoint.
inline constexpr uint64_t kCheckpointEveryRecords = 100;
inline constexpr int64_t kCheckpointEverySeconds = 60;

// The chain of the broker's own records (votes and the voters' sign-in)
// in the audit store. The name ends in ".invalid" (RFC 6761), so it is no
// real host's name, and the broker rejects enrollment and records under it.
inline constexpr char kBrokerAuditChain[] = "zsp-broker.invalid";

// Returns true for a host name in the ".invalid" domain, in any letter
// case and with or without a trailing dot. Such names are kept for the
// broker's own chains, so that no host enrolls under a look-alike name.
inline bool IsReservedHostName(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  static constexpr std::string_view kSuffix = ".invalid";
  return name == "invalid" ||
         (name.size() > kSuffix.size() &&
          name.compare(name.size() - kSuffix.size(), kSuffix.size(),
                       kSuffix) == 0);
}

// Most records one host may send in one batch.
inline constexpr size_t kMaxAuditBatchRecords = 1000;
// Most rows one list call returns.
inline constexpr int kMaxAuditListedRows = 5000;

struct AuditRow {
  std::string host;
  uint64_t seq = 0;
  std::string hash;  // SHA-256 (hex) of line, computed on arrival
  std::string line;  // the spool line exactly as the host sent it
  int64_t received_at = 0;
  std::string reviewed_by;  // break-glass records: "" until reviewed
};

// An approver's review of a break-glass record.
struct AuditReview {
  std::string host;
  uint64_t seq = 0;
  std::string reviewer;
  std::string comment;
  int64_t time = 0;
};

struct AuditCheckpoint {
  std::string host;
  uint64_t seq = 0;
  std::string hash;
  int64_t time = 0;
  std::string jws;  // compact JWS over {"host","seq","hash","time"}
};

struct AuditAlert {
  int64_t id = 0;
  std::string host;
  // gap, hash_mismatch, conflict or invalid_record for a rejected record,
  // kSpoolRepairedAlert for a stored one
  std::string kind;
  uint64_t seq = 0;  // the record that caused it
  std::string detail;
  int64_t time = 0;
};

// Filters of ListRecords; unset fields match everything.
struct AuditFilter {
  std::optional<std::string> host;
  std::optional<std::string> user;
  std::optional<std::string> decision;
  std::optional<std::string> grant;
  std::optional<int64_t> since;  // record time, Unix seconds, inclusive
  std::optional<int64_t> until;  // exclusive
  uint64_t after_seq = 0;        // with host: records after this one
  bool break_glass = false;      // only break-glass allow and deny records
  bool unreviewed = false;       // only records that no review covers
  int limit = kMaxAuditListedRows;
};

// What Append did with one batch.
struct AppendOutcome {
  uint64_t accepted_through = 0;  // the host's last stored record
  uint64_t stored = 0;            // new records in this batch
  uint64_t duplicates = 0;        // records that were stored already
  // Set when a record does not continue the chain; it and the rest of the
  // batch were not stored, and an alert was recorded.
  std::optional<AuditAlert> rejected;
  // The alerts that this call recorded for the first time, the rejection's
  // included. A host that sends the same records again raises none.
  std::vector<AuditAlert> raised;
};

// The kind of alert kept for a stored record in which a host reports that
// it replaced a torn, incomplete line at the end of its spool (a writer
// killed in the middle of its write). The record itself is stored.
inline constexpr char kSpoolRepairedAlert[] = "spool_repaired";

// The string member name of a parsed spool record, if it has one.
std::optional<std::string> StringMember(const nlohmann::json& record,
                                        const char* name);

// Returns the detail of the kSpoolRepairedAlert alert for a spool-repaired
// record (MESSAGE_ID kSpoolRepairedMessageId), or std::nullopt for any
// other record. The host wrote the record, so the detail quotes only the
// fields that pass a syntax check: length, SHA-256 and user name.
std::optional<std::string> SpoolRepairedDetail(const nlohmann::json& record);

class AuditStore {
 public:
  // Opens the store that location names: a PostgreSQL connection URI
  // (postgresql://...) or else the path of a SQLite file, created with its
  // schema when missing. signing_key (Ed25519) signs checkpoints; the store
  // keeps it.
  static Result<std::unique_ptr<AuditStore>> Open(
      const std::string& location, EvpPkeyPtr signing_key,
      const StoreOptions& options = {});

  AuditStore() = default;
  AuditStore(const AuditStore&) = delete;
  AuditStore& operator=(const AuditStore&) = delete;
  virtual ~AuditStore() = default;

  // Appends host's records in order. A record whose seq is already stored
  // counts as a duplicate when its line is byte-identical; otherwise, and
  // for a gap or a prev that is not the hash of the last stored record,
  // the batch stops there with an alert.
  virtual StoreResult<AppendOutcome> Append(
      const std::string& host, const std::vector<std::string>& lines,
      int64_t now) = 0;

  // Appends one record of fields ("NAME=value") to chain as its next
  // record: seq and prev come from the stored head, in the same
  // transaction, so that several broker instances extend one chain.
  // Returns the record's seq and hash.
  virtual StoreResult<SpoolPosition> AppendRecord(
      const std::string& chain, const std::vector<std::string>& fields,
      int64_t now) = 0;

  // Records by host and seq, oldest first.
  virtual StoreResult<std::vector<AuditRow>> ListRecords(
      const AuditFilter& filter) = 0;
  // Records reviewer's review of host's break-glass record seq.
  // kNotFound for no such record, kConflict for a record that is not a
  // break-glass one or was reviewed already, kForbidden when the record's
  // user is the reviewer.
  virtual StoreResult<AuditReview> AddReview(const std::string& host,
                                             uint64_t seq,
                                             const std::string& reviewer,
                                             const std::string& comment,
                                             int64_t now) = 0;

  virtual StoreResult<std::vector<AuditCheckpoint>> ListCheckpoints(
      const std::optional<std::string>& host) = 0;
  virtual StoreResult<std::vector<AuditAlert>> ListAlerts(
      const std::optional<std::string>& host) = 0;
};

// Loads DIR/audit.key, creating it and DIR/audit.pub first if the broker
// directory does not have them yet (directories made before the audit
// store existed).
Result<EvpPkeyPtr> LoadOrCreateAuditKey(const std::string& dir);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_AUDIT_STORE_H_

// The SQLite back end of AuditStore: DIR/audit.db, one connection behind
// one mutex.
#ifndef ZSP_BROKER_AUDIT_STORE_SQLITE_H_
#define ZSP_BROKER_AUDIT_STORE_SQLITE_H_

#include <sqlite3.h>

#include <mutex>

#include "broker/sqlite_statement.h"
#include "broker/audit_store.h"

namespace zsp::broker {

class SqliteAuditStore final : public AuditStore {
 public:
  static Result<std::unique_ptr<SqliteAuditStore>> Open(const std::string& path,
                                                        EvpPkeyPtr signing_key);

  ~SqliteAuditStore() override;

  StoreResult<AppendOutcome> Append(const std::string& host,
                                    const std::vector<std::string>& lines,
                                    int64_t now) override;
  StoreResult<SpoolPosition> AppendRecord(
      const std::string& chain, const std::vector<std::string>& fields,
      int64_t now) override;

  StoreResult<std::vector<AuditRow>> ListRecords(
      const AuditFilter& filter) override;
  StoreResult<AuditReview> AddReview(const std::string& host, uint64_t seq,
                                     const std::string& reviewer,
                                     const std::string& comment,
                                     int64_t now) override;

  StoreResult<std::vector<AuditCheckpoint>> ListCheckpoints(
      const std::optional<std::string>& host) override;
  StoreResult<std::vector<AuditAlert>> ListAlerts(
      const std::optional<std::string>& host) override;

 private:
  SqliteAuditStore(sqlite3* db, EvpPkeyPtr key)
      : db_(db), key_(std::move(key)) {}

  bool Exec(const char* sql);
  StoreResult<AppendOutcome> AppendLocked(const std::string& host,
                                          const std::vector<std::string>& lines,
                                          int64_t now);
  StoreResult<AuditAlert> RecordAlert(AuditAlert alert);
  StoreResult<bool> MaybeCheckpoint(const std::string& host, uint64_t seq,
                                    const std::string& hash, int64_t now);

  std::mutex mutex_;
  sqlite3* db_;
  // Compiled statements of the calls above, used under mutex_.
  StatementCache statements_;
  EvpPkeyPtr key_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_AUDIT_STORE_SQLITE_H_

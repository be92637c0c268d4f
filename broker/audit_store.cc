#include "broker/audit_store_sqlite.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "broker/log.h"
#include "broker/pki.h"
#include "broker/sqlite_statement.h"
#include "broker/validate.h"
#include "common/audit_spool.h"
#include "common/journal.h"
#include "common/jws.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

constexpr int kBusyTimeoutMs = 5000;

// Records, checkpoints and alerts are evidence: triggers reject every
// UPDATE and DELETE, so that the broker itself can only add to them.
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS audit_records (
  host TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  line TEXT NOT NULL,
  time INTEGER,
  user TEXT,
  decision TEXT,
  grant_id TEXT,
  message_id TEXT,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (host, seq)
);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (time);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  host TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  time INTEGER NOT NULL,
  jws TEXT NOT NULL,
  PRIMARY KEY (host, seq)
);
CREATE TABLE IF NOT EXISTS audit_alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  host TEXT NOT NULL,
  kind TEXT NOT NULL,
  seq INTEGER NOT NULL,
  detail TEXT NOT NULL,
  time INTEGER NOT NULL,
  UNIQUE (host, kind, seq)
);
CREATE TABLE IF NOT EXISTS audit_reviews (
  host TEXT NOT NULL,
  seq INTEGER NOT NULL,
  reviewer TEXT NOT NULL,
  comment TEXT NOT NULL,
  time INTEGER NOT NULL,
  PRIMARY KEY (host, seq)
);
CREATE INDEX IF NOT EXISTS audit_records_message_id
  ON audit_records (message_id);
CREATE TRIGGER IF NOT EXISTS audit_reviews_no_update
  BEFORE UPDATE ON audit_reviews
  BEGIN SELECT RAISE(ABORT, 'audit reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_reviews_no_delete
  BEFORE DELETE ON audit_reviews
  BEGIN SELECT RAISE(ABORT, 'audit reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_update
  BEFORE UPDATE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete
  BEFORE DELETE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update
  BEFORE UPDATE ON audit_checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete
  BEFORE DELETE ON audit_checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_alerts_no_update
  BEFORE UPDATE ON audit_alerts
  BEGIN SELECT RAISE(ABORT, 'audit alerts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_alerts_no_delete
  BEFORE DELETE ON audit_alerts
  BEGIN SELECT RAISE(ABORT, 'audit alerts are append-only'); END;
)sql";

// The searchable fields of a spool line. Values are the escaped strings
// the host wrote; absent ones stay unset.
struct IndexedFields {
  std::optional<int64_t> time;
  std::optional<std::string> user;
  std::optional<std::string> decision;
  std::optional<std::string> grant;
  std::optional<std::string> message_id;
};

IndexedFields IndexFields(const json& record) {
  IndexedFields fields;
  auto time = record.find("time");
  if (time != record.end() && time->is_number_integer()) {
    fields.time = time->get<int64_t>();
  }
  fields.user = StringMember(record, "ZSP_USER");
  fields.decision = StringMember(record, "ZSP_DECISION");
  fields.grant = StringMember(record, "ZSP_GRANT");
  fields.message_id = StringMember(record, "MESSAGE_ID");
  return fields;
}

struct ChainHead {
  uint64_t seq = 0;
  std::string hash = kGenesisHash;
};

}  // namespace

std::optional<std::string> StringMember(const json& record, const char* name) {
  auto it = record.find(name);
  if (it == record.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<std::string> SpoolRepairedDetail(const json& record) {
  if (StringMember(record, "MESSAGE_ID") != kSpoolRepairedMessageId) {
    return std::nullopt;
  }
  auto consists_of = [](const std::string& text, const char* allowed) {
    return text.find_first_not_of(allowed) == std::string::npos;
  };
  std::string detail = "the host replaced an incomplete line at the end of "
                       "its spool";
  auto bytes = StringMember(record, "ZSP_REMOVED_BYTES");
  if (bytes && !bytes->empty() && bytes->size() <= 9 &&
      consists_of(*bytes, "0123456789")) {
    detail += ", " + *bytes + " bytes";
  }
  auto hash = StringMember(record, "ZSP_REMOVED_SHA256");
  if (hash && hash->size() == 64 && consists_of(*hash, "0123456789abcdef")) {
    detail += " with SHA-256 " + *hash;
  }
  auto user = StringMember(record, "ZSP_REMOVED_USER");
  if (user && IsValidUserName(*user)) detail += ", written for user " + *user;
  return detail + ". This record holds the removed text in ZSP_REMOVED_TEXT.";
}

Result<std::unique_ptr<SqliteAuditStore>> SqliteAuditStore::Open(const std::string& path,
                                                     EvpPkeyPtr signing_key) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
              SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<SqliteAuditStore> store(new SqliteAuditStore(db, std::move(signing_key)));
  if (rc != SQLITE_OK) {
    return Error{path + ": " + (db ? sqlite3_errmsg(db) : "out of memory")};
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // FULL makes every commit durable before the host is told it was stored.
  if (!store->Exec("PRAGMA journal_mode = WAL") ||
      !store->Exec("PRAGMA synchronous = FULL") || !store->Exec(kSchema)) {
    return Error{path + ": " + sqlite3_errmsg(db)};
  }
  return store;
}

SqliteAuditStore::~SqliteAuditStore() { sqlite3_close_v2(db_); }

bool SqliteAuditStore::Exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

StoreResult<AuditAlert> SqliteAuditStore::RecordAlert(AuditAlert alert) {
  // The same problem reported again by a retrying host is one alert.
  Statement stmt(db_, &statements_,
                 "INSERT OR IGNORE INTO audit_alerts (host, kind, seq, detail, "
                 "time) VALUES (?1, ?2, ?3, ?4, ?5)");
  stmt.Bind(1, alert.host);
  stmt.Bind(2, alert.kind);
  stmt.Bind(3, static_cast<int64_t>(alert.seq));
  stmt.Bind(4, alert.detail);
  stmt.Bind(5, alert.time);
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<AuditAlert>(StoreError::kInternal, stmt.error());
  }
  if (sqlite3_changes(db_) == 1) {
    alert.id = sqlite3_last_insert_rowid(db_);
    LogEvent("alert", {{"host", alert.host},
                       {"kind", alert.kind},
                       {"seq", std::to_string(alert.seq)},
                       {"detail", alert.detail}});
  }
  return Ok(std::move(alert));
}

StoreResult<bool> SqliteAuditStore::MaybeCheckpoint(const std::string& host,
                                              uint64_t seq,
                                              const std::string& hash,
                                              int64_t now) {
  Statement last(db_, &statements_,
                 "SELECT seq, time FROM audit_checkpoints WHERE host = ?1 "
                 "ORDER BY seq DESC LIMIT 1");
  last.Bind(1, host);
  int rc = last.Step();
  if (rc == SQLITE_ROW) {
    uint64_t last_seq = static_cast<uint64_t>(last.Int(0));
    int64_t last_time = last.Int(1);
    if (seq <= last_seq) return Ok(false);
    if (seq - last_seq < kCheckpointEveryRecords &&
        now - last_time < kCheckpointEverySeconds) {
      return Ok(false);
    }
  } else if (rc != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, last.error());
  }

  json payload = {{"host", host}, {"seq", seq}, {"hash", hash}, {"time", now}};
  auto jws = SignJws(key_.get(), payload.dump(), kCheckpointJwsType);
  if (!jws.ok()) return Fail<bool>(StoreError::kInternal, jws.error());
  Statement insert(db_, &statements_,
                   "INSERT INTO audit_checkpoints (host, seq, hash, time, jws) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)");
  insert.Bind(1, host);
  insert.Bind(2, static_cast<int64_t>(seq));
  insert.Bind(3, hash);
  insert.Bind(4, now);
  insert.Bind(5, jws.value());
  if (insert.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, insert.error());
  }
  return Ok(true);
}

StoreResult<AppendOutcome> SqliteAuditStore::Append(
    const std::string& host, const std::vector<std::string>& lines,
    int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  return AppendLocked(host, lines, now);
}

StoreResult<SpoolPosition> SqliteAuditStore::AppendRecord(
    const std::string& chain, const std::vector<std::string>& fields,
    int64_t now) {
  // One broker owns a SQLite store, and the mutex keeps the head from
  // moving between this read and the append.
  std::lock_guard<std::mutex> lock(mutex_);
  ChainHead head;
  {
    Statement stmt(db_, &statements_,
                   "SELECT seq, hash FROM audit_records WHERE host = ?1 "
                   "ORDER BY seq DESC LIMIT 1");
    stmt.Bind(1, chain);
    int rc = stmt.Step();
    if (rc == SQLITE_ROW) {
      head.seq = static_cast<uint64_t>(stmt.Int(0));
      head.hash = stmt.Text(1);
    } else if (rc != SQLITE_DONE) {
      return Fail<SpoolPosition>(StoreError::kInternal, stmt.error());
    }
  }
  std::string line = EncodeSpoolRecord(fields, head.seq + 1, head.hash, now);
  auto appended = AppendLocked(chain, {line}, now);
  if (!appended.ok()) {
    return Fail<SpoolPosition>(appended.error, appended.message);
  }
  if (appended.value.stored != 1) {
    return Fail<SpoolPosition>(StoreError::kInternal,
                               "record " + std::to_string(head.seq + 1) +
                                   " of " + chain + " was not stored");
  }
  return Ok(SpoolPosition{head.seq + 1, Sha256Hex(line)});
}

StoreResult<AppendOutcome> SqliteAuditStore::AppendLocked(
    const std::string& host, const std::vector<std::string>& lines,
    int64_t now) {
  if (!Exec("BEGIN IMMEDIATE")) {
    return Fail<AppendOutcome>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  // Alerts and the records before a rejected one are kept, so every path
  // below commits; only a SQLite failure rolls back.
  struct Rollback {
    SqliteAuditStore* store;
    bool armed = true;
    ~Rollback() {
      if (armed) store->Exec("ROLLBACK");
    }
  } rollback{this};

  ChainHead head;
  {
    Statement stmt(db_, &statements_,
                   "SELECT seq, hash FROM audit_records WHERE host = ?1 "
                   "ORDER BY seq DESC LIMIT 1");
    stmt.Bind(1, host);
    int rc = stmt.Step();
    if (rc == SQLITE_ROW) {
      head.seq = static_cast<uint64_t>(stmt.Int(0));
      head.hash = stmt.Text(1);
    } else if (rc != SQLITE_DONE) {
      return Fail<AppendOutcome>(StoreError::kInternal, stmt.error());
    }
  }

  AppendOutcome outcome;
  auto raise = [&](const char* kind, uint64_t seq, std::string detail) {
    auto alert =
        RecordAlert(AuditAlert{0, host, kind, seq, std::move(detail), now});
    if (alert.ok() && alert.value.id != 0) outcome.raised.push_back(alert.value);
    return alert;
  };
  for (const auto& line : lines) {
    json record = json::parse(line, nullptr, false);
    auto seq_it = record.is_object() ? record.find("seq") : record.end();
    auto prev = record.is_object() ? StringMember(record, "prev") : std::nullopt;
    if (seq_it == record.end() || !seq_it->is_number_unsigned() || !prev) {
      auto alert = raise("invalid_record", head.seq + 1,
                         "a record after " + std::to_string(head.seq) +
                             " is not a JSON object with seq and prev");
      if (!alert.ok()) return Fail<AppendOutcome>(alert.error, alert.message);
      outcome.rejected = alert.value;
      break;
    }
    uint64_t seq = seq_it->get<uint64_t>();
    std::string hash = Sha256Hex(line);

    if (seq <= head.seq) {
      Statement stored(db_, &statements_,
                       "SELECT line FROM audit_records WHERE host = ?1 AND "
                       "seq = ?2");
      stored.Bind(1, host);
      stored.Bind(2, static_cast<int64_t>(seq));
      int rc = stored.Step();
      if (rc == SQLITE_ROW && stored.Text(0) == line) {
        ++outcome.duplicates;
        continue;
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return Fail<AppendOutcome>(StoreError::kInternal, stored.error());
      }
      auto alert = raise("conflict", seq,
                         "record " + std::to_string(seq) +
                             " differs from the record stored under that "
                             "sequence number");
      if (!alert.ok()) return Fail<AppendOutcome>(alert.error, alert.message);
      outcome.rejected = alert.value;
      break;
    }
    if (seq != head.seq + 1) {
      auto alert = raise("gap", seq,
                         "expected record " + std::to_string(head.seq + 1) +
                             ", received " + std::to_string(seq));
      if (!alert.ok()) return Fail<AppendOutcome>(alert.error, alert.message);
      outcome.rejected = alert.value;
      break;
    }
    if (*prev != head.hash) {
      auto alert = raise("hash_mismatch", seq,
                         "prev of record " + std::to_string(seq) +
                             " is not the SHA-256 of stored record " +
                             std::to_string(head.seq));
      if (!alert.ok()) return Fail<AppendOutcome>(alert.error, alert.message);
      outcome.rejected = alert.value;
      break;
    }

    IndexedFields fields = IndexFields(record);
    Statement insert(db_, &statements_,
                     "INSERT INTO audit_records (host, seq, hash, line, time, "
                     "user, decision, grant_id, message_id, received_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    insert.Bind(1, host);
    insert.Bind(2, static_cast<int64_t>(seq));
    insert.Bind(3, hash);
    insert.Bind(4, line);
    insert.Bind(5, fields.time);
    insert.Bind(6, fields.user);
    insert.Bind(7, fields.decision);
    insert.Bind(8, fields.grant);
    insert.Bind(9, fields.message_id);
    insert.Bind(10, now);
    if (insert.Step() != SQLITE_DONE) {
      return Fail<AppendOutcome>(StoreError::kInternal, insert.error());
    }
    if (auto detail = SpoolRepairedDetail(record)) {
      auto alert = raise(kSpoolRepairedAlert, seq, std::move(*detail));
      if (!alert.ok()) return Fail<AppendOutcome>(alert.error, alert.message);
    }
    head.seq = seq;
    head.hash = hash;
    ++outcome.stored;
  }

  if (outcome.stored > 0) {
    auto signed_checkpoint = MaybeCheckpoint(host, head.seq, head.hash, now);
    if (!signed_checkpoint.ok()) {
      return Fail<AppendOutcome>(signed_checkpoint.error,
                                 signed_checkpoint.message);
    }
  }
  outcome.accepted_through = head.seq;
  rollback.armed = false;
  if (!Exec("COMMIT")) {
    Exec("ROLLBACK");
    return Fail<AppendOutcome>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return Ok(std::move(outcome));
}

StoreResult<std::vector<AuditRow>> SqliteAuditStore::ListRecords(
    const AuditFilter& filter) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT host, seq, hash, line, received_at,"
                 " (SELECT reviewer FROM audit_reviews r WHERE"
                 " r.host = audit_records.host AND r.seq = audit_records.seq)"
                 " FROM audit_records"
                 " WHERE (?1 IS NULL OR host = ?1)"
                 " AND (?2 IS NULL OR user = ?2)"
                 " AND (?3 IS NULL OR decision = ?3)"
                 " AND (?4 IS NULL OR grant_id = ?4)"
                 " AND (?5 IS NULL OR time >= ?5)"
                 " AND (?6 IS NULL OR time < ?6)"
                 " AND seq > ?7"
                 " AND (?9 = 0 OR message_id IN (?10, ?11))"
                 " AND (?12 = 0 OR NOT EXISTS (SELECT 1 FROM audit_reviews r"
                 " WHERE r.host = audit_records.host"
                 " AND r.seq = audit_records.seq))"
                 " ORDER BY host, seq LIMIT ?8");
  stmt.Bind(1, filter.host);
  stmt.Bind(2, filter.user);
  stmt.Bind(3, filter.decision);
  stmt.Bind(4, filter.grant);
  stmt.Bind(5, filter.since);
  stmt.Bind(6, filter.until);
  stmt.Bind(7, static_cast<int64_t>(filter.after_seq));
  stmt.Bind(8, static_cast<int64_t>(filter.limit));
  stmt.Bind(9, int64_t{filter.break_glass ? 1 : 0});
  stmt.Bind(10, std::string(MessageId(AuditEvent::kBreakGlassAllow)));
  stmt.Bind(11, std::string(MessageId(AuditEvent::kBreakGlassDeny)));
  stmt.Bind(12, int64_t{filter.unreviewed ? 1 : 0});
  std::vector<AuditRow> rows;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    rows.push_back(AuditRow{stmt.Text(0), static_cast<uint64_t>(stmt.Int(1)),
                            stmt.Text(2), stmt.Text(3), stmt.Int(4),
                            stmt.Text(5)});
  }
  if (rc != SQLITE_DONE) {
    return Fail<std::vector<AuditRow>>(StoreError::kInternal, stmt.error());
  }
  return Ok(std::move(rows));
}

StoreResult<AuditReview> SqliteAuditStore::AddReview(const std::string& host,
                                               uint64_t seq,
                                               const std::string& reviewer,
                                               const std::string& comment,
                                               int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement record(db_, &statements_,
                   "SELECT message_id, user FROM audit_records WHERE host = ?1"
                   " AND seq = ?2");
  record.Bind(1, host);
  record.Bind(2, static_cast<int64_t>(seq));
  int rc = record.Step();
  if (rc == SQLITE_DONE) {
    return Fail<AuditReview>(StoreError::kNotFound,
                             "no record " + std::to_string(seq) +
                                 " from host " + host);
  }
  if (rc != SQLITE_ROW) {
    return Fail<AuditReview>(StoreError::kInternal, record.error());
  }
  std::string message_id = record.Text(0);
  if (message_id != MessageId(AuditEvent::kBreakGlassAllow) &&
      message_id != MessageId(AuditEvent::kBreakGlassDeny)) {
    return Fail<AuditReview>(StoreError::kConflict,
                             "record " + std::to_string(seq) +
                                 " is not a break-glass record");
  }
  if (record.Text(1) == reviewer) {
    return Fail<AuditReview>(StoreError::kForbidden,
                             "nobody may review their own emergency access");
  }
  Statement insert(db_, &statements_,
                   "INSERT OR IGNORE INTO audit_reviews (host, seq, reviewer,"
                   " comment, time) VALUES (?1, ?2, ?3, ?4, ?5)");
  insert.Bind(1, host);
  insert.Bind(2, static_cast<int64_t>(seq));
  insert.Bind(3, reviewer);
  insert.Bind(4, comment);
  insert.Bind(5, now);
  if (insert.Step() != SQLITE_DONE) {
    return Fail<AuditReview>(StoreError::kInternal, insert.error());
  }
  if (sqlite3_changes(db_) != 1) {
    return Fail<AuditReview>(StoreError::kConflict,
                             "record " + std::to_string(seq) +
                                 " has been reviewed already");
  }
  return Ok(AuditReview{host, seq, reviewer, comment, now});
}

StoreResult<std::vector<AuditCheckpoint>> SqliteAuditStore::ListCheckpoints(
    const std::optional<std::string>& host) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT host, seq, hash, time, jws FROM audit_checkpoints"
                 " WHERE (?1 IS NULL OR host = ?1) ORDER BY host, seq"
                 " LIMIT ?2");
  stmt.Bind(1, host);
  stmt.Bind(2, static_cast<int64_t>(kMaxAuditListedRows));
  std::vector<AuditCheckpoint> rows;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    rows.push_back(AuditCheckpoint{stmt.Text(0),
                                   static_cast<uint64_t>(stmt.Int(1)),
                                   stmt.Text(2), stmt.Int(3), stmt.Text(4)});
  }
  if (rc != SQLITE_DONE) {
    return Fail<std::vector<AuditCheckpoint>>(StoreError::kInternal,
                                              stmt.error());
  }
  return Ok(std::move(rows));
}

StoreResult<std::vector<AuditAlert>> SqliteAuditStore::ListAlerts(
    const std::optional<std::string>& host) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT id, host, kind, seq, detail, time FROM audit_alerts"
                 " WHERE (?1 IS NULL OR host = ?1) ORDER BY id LIMIT ?2");
  stmt.Bind(1, host);
  stmt.Bind(2, static_cast<int64_t>(kMaxAuditListedRows));
  std::vector<AuditAlert> rows;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    rows.push_back(AuditAlert{stmt.Int(0), stmt.Text(1), stmt.Text(2),
                              static_cast<uint64_t>(stmt.Int(3)), stmt.Text(4),
                              stmt.Int(5)});
  }
  if (rc != SQLITE_DONE) {
    return Fail<std::vector<AuditAlert>>(StoreError::kInternal, stmt.error());
  }
  return Ok(std::move(rows));
}

Result<EvpPkeyPtr> LoadOrCreateAuditKey(const std::string& dir) {
  std::string key_path = dir + "/audit.key";
  struct stat st {};
  if (stat(key_path.c_str(), &st) != 0) {
    auto key = GenerateEd25519Key();
    if (!key.ok()) return Error{key.error()};
    auto private_pem = PrivateKeyPem(key.value().get());
    if (!private_pem.ok()) return Error{private_pem.error()};
    auto written = WriteNewFile(key_path, private_pem.value(), 0600);
    WipeString(&private_pem.value());
    if (!written.ok()) return Error{written.error()};
    auto public_pem = PublicKeyPem(key.value().get());
    if (!public_pem.ok()) return Error{public_pem.error()};
    written = WriteNewFile(dir + "/audit.pub", public_pem.value(), 0644);
    if (!written.ok()) return Error{written.error()};
    return std::move(key.value());
  }
  if ((st.st_mode & 077) != 0) {
    return Error{key_path +
                 " is accessible by group or others; run chmod 600 " +
                 key_path};
  }
  return LoadEd25519PrivateKey(key_path);
}

}  // namespace zsp::broker

#include "broker/store.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "broker/ids.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

constexpr int kBusyTimeoutMs = 5000;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS persons (
  name TEXT PRIMARY KEY,
  roles TEXT NOT NULL,
  token_sha256 TEXT UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY,
  requester TEXT NOT NULL,
  host TEXT NOT NULL,
  kind TEXT NOT NULL,
  runas TEXT NOT NULL,
  commands TEXT NOT NULL,
  duration INTEGER NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  decided_by TEXT,
  decided_at INTEGER,
  decision_comment TEXT,
  grant_id TEXT,
  filed_by_host TEXT
);
CREATE INDEX IF NOT EXISTS requests_requester ON requests (requester);
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  user TEXT NOT NULL,
  host TEXT NOT NULL,
  kind TEXT NOT NULL,
  runas TEXT NOT NULL,
  commands TEXT NOT NULL,
  approved_by TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_by TEXT,
  revoked_at INTEGER,
  revoke_reason TEXT
);
CREATE INDEX IF NOT EXISTS grants_user_kind ON grants (user, kind);
PRAGMA user_version = 1;
)sql";

constexpr char kRequestColumns[] =
    "id, requester, host, kind, runas, commands, duration, reason, state, "
    "created_at, decided_by, decided_at, decision_comment, grant_id, "
    "filed_by_host";
constexpr char kGrantColumns[] =
    "id, request_id, user, host, kind, runas, commands, approved_by, "
    "starts_at, expires_at, revoked_by, revoked_at, revoke_reason";

template <typename T>
StoreResult<T> Fail(StoreError error, std::string message) {
  StoreResult<T> result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

template <typename T>
StoreResult<T> Ok(T value) {
  StoreResult<T> result;
  result.value = std::move(value);
  return result;
}

// A prepared statement; values are only ever bound, never spliced into SQL.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      stmt_ = nullptr;
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  bool ok() const { return stmt_ != nullptr && bind_ok_; }
  std::string error() const { return sqlite3_errmsg(db_); }

  void Bind(int index, const std::string& value) {
    Check(sqlite3_bind_text(stmt_, index, value.data(),
                            static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }
  void Bind(int index, int64_t value) {
    Check(sqlite3_bind_int64(stmt_, index, value));
  }
  void Bind(int index, const std::optional<std::string>& value) {
    if (value.has_value()) {
      Bind(index, *value);
    } else {
      Check(sqlite3_bind_null(stmt_, index));
    }
  }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return ok() ? sqlite3_step(stmt_) : SQLITE_MISUSE; }

  std::string Text(int column) const {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (text == nullptr) return "";
    return std::string(reinterpret_cast<const char*>(text), size);
  }
  std::optional<std::string> OptionalText(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return Text(column);
  }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::optional<int64_t> OptionalInt(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return Int(column);
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) bind_ok_ = false;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool bind_ok_ = true;
};

// Rolls back unless committed, so that every early return leaves the
// database as it was.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    active_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) ==
              SQLITE_OK;
  }
  ~Transaction() {
    if (active_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool active() const { return active_; }
  bool Commit() {
    active_ = false;
    return sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  }

 private:
  sqlite3* db_;
  bool active_ = false;
};

std::string ToJsonText(const std::vector<std::string>& list) {
  return json(list).dump();
}

std::vector<std::string> FromJsonText(const std::string& text) {
  json parsed = json::parse(text, nullptr, false);
  std::vector<std::string> list;
  if (!parsed.is_array()) return list;
  for (const auto& item : parsed) {
    if (item.is_string()) list.push_back(item.get<std::string>());
  }
  return list;
}

AccessRequest ReadRequest(const Statement& row) {
  AccessRequest r;
  r.id = row.Text(0);
  r.requester = row.Text(1);
  r.host = row.Text(2);
  r.kind = row.Text(3);
  r.runas = FromJsonText(row.Text(4));
  r.commands = FromJsonText(row.Text(5));
  r.duration = row.Int(6);
  r.reason = row.Text(7);
  r.state = row.Text(8);
  r.created_at = row.Int(9);
  r.decided_by = row.OptionalText(10);
  r.decided_at = row.OptionalInt(11);
  r.decision_comment = row.OptionalText(12);
  r.grant = row.OptionalText(13);
  r.filed_by_host = row.OptionalText(14);
  return r;
}

Grant ReadGrant(const Statement& row) {
  Grant g;
  g.id = row.Text(0);
  g.request = row.Text(1);
  g.user = row.Text(2);
  g.host = row.Text(3);
  g.kind = row.Text(4);
  g.runas = FromJsonText(row.Text(5));
  g.commands = FromJsonText(row.Text(6));
  g.approved_by = row.Text(7);
  g.starts_at = row.Int(8);
  g.expires_at = row.Int(9);
  g.revoked_by = row.OptionalText(10);
  g.revoked_at = row.OptionalInt(11);
  g.revoke_reason = row.OptionalText(12);
  return g;
}

Person ReadPerson(const Statement& row) {
  Person p;
  p.name = row.Text(0);
  p.roles = FromJsonText(row.Text(1));
  p.has_token = row.OptionalText(2).has_value();
  p.created_at = row.Int(3);
  return p;
}

template <typename T, typename Reader>
StoreResult<std::vector<T>> ReadAll(Statement* stmt, Reader read) {
  std::vector<T> rows;
  int rc;
  while ((rc = stmt->Step()) == SQLITE_ROW) rows.push_back(read(*stmt));
  if (rc != SQLITE_DONE) {
    return Fail<std::vector<T>>(StoreError::kInternal, stmt->error());
  }
  return Ok(std::move(rows));
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
              SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<Store> store(new Store(db));
  if (rc != SQLITE_OK) {
    return Error{path + ": " + (db ? sqlite3_errmsg(db) : "out of memory")};
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  if (!store->Exec("PRAGMA journal_mode = WAL") ||
      !store->Exec("PRAGMA foreign_keys = ON") || !store->Exec(kSchema)) {
    return Error{path + ": " + sqlite3_errmsg(db)};
  }
  // Stores created before hosts could file requests lack this column; the
  // ALTER fails harmlessly where it exists.
  store->Exec("ALTER TABLE requests ADD COLUMN filed_by_host TEXT");
  return store;
}

Store::~Store() { sqlite3_close_v2(db_); }

bool Store::Exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

StoreResult<bool> Store::AddPerson(const std::string& name,
                                   const std::vector<std::string>& roles,
                                   const std::string& token_sha256,
                                   int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_,
                 "INSERT INTO persons (name, roles, token_sha256, created_at) "
                 "VALUES (?1, ?2, ?3, ?4)");
  stmt.Bind(1, name);
  stmt.Bind(2, ToJsonText(roles));
  stmt.Bind(3, token_sha256);
  stmt.Bind(4, now);
  int rc = stmt.Step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Fail<bool>(StoreError::kConflict, "person " + name + " exists");
  }
  if (rc != SQLITE_DONE) return Fail<bool>(StoreError::kInternal, stmt.error());
  return Ok(true);
}

StoreResult<bool> Store::SetTokenHash(const std::string& name,
                                      const std::string& token_sha256) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, "UPDATE persons SET token_sha256 = ?1 WHERE name = ?2");
  stmt.Bind(1, token_sha256);
  stmt.Bind(2, name);
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, stmt.error());
  }
  if (sqlite3_changes(db_) != 1) {
    return Fail<bool>(StoreError::kNotFound, "no person named " + name);
  }
  return Ok(true);
}

StoreResult<std::vector<Person>> Store::ListPersons() {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_,
                 "SELECT name, roles, token_sha256, created_at FROM persons "
                 "ORDER BY name");
  return ReadAll<Person>(&stmt, ReadPerson);
}

StoreResult<Person> Store::FindPersonByTokenHash(
    const std::string& token_sha256) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_,
                 "SELECT name, roles, token_sha256, created_at FROM persons "
                 "WHERE token_sha256 = ?1");
  stmt.Bind(1, token_sha256);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return Fail<Person>(StoreError::kNotFound, "unknown token");
  }
  if (rc != SQLITE_ROW)
    return Fail<Person>(StoreError::kInternal, stmt.error());
  return Ok(ReadPerson(stmt));
}

StoreResult<AccessRequest> Store::CreateRequest(AccessRequest request,
                                                int64_t now) {
  auto id = NewId("r-");
  if (!id.ok()) return Fail<AccessRequest>(StoreError::kInternal, id.error());
  request.id = id.value();
  request.state = "pending";
  request.created_at = now;

  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_,
                 "INSERT INTO requests (id, requester, host, kind, runas, "
                 "commands, duration, reason, state, created_at, "
                 "filed_by_host) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  stmt.Bind(1, request.id);
  stmt.Bind(2, request.requester);
  stmt.Bind(3, request.host);
  stmt.Bind(4, request.kind);
  stmt.Bind(5, ToJsonText(request.runas));
  stmt.Bind(6, ToJsonText(request.commands));
  stmt.Bind(7, request.duration);
  stmt.Bind(8, request.reason);
  stmt.Bind(9, request.state);
  stmt.Bind(10, request.created_at);
  stmt.Bind(11, request.filed_by_host);
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<AccessRequest>(StoreError::kInternal, stmt.error());
  }
  return Ok(std::move(request));
}

StoreResult<AccessRequest> Store::GetRequest(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  return GetRequestLocked(id);
}

StoreResult<AccessRequest> Store::GetRequestLocked(const std::string& id) {
  Statement stmt(db_, std::string("SELECT ") + kRequestColumns +
                          " FROM requests WHERE id = ?1");
  stmt.Bind(1, id);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return Fail<AccessRequest>(StoreError::kNotFound, "no request " + id);
  }
  if (rc != SQLITE_ROW) {
    return Fail<AccessRequest>(StoreError::kInternal, stmt.error());
  }
  return Ok(ReadRequest(stmt));
}

StoreResult<std::vector<AccessRequest>> Store::ListRequests(
    const std::optional<std::string>& state,
    const std::optional<std::string>& requester) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, std::string("SELECT ") + kRequestColumns +
                          " FROM requests"
                          " WHERE (?1 IS NULL OR state = ?1)"
                          " AND (?2 IS NULL OR requester = ?2)"
                          " ORDER BY created_at DESC, rowid DESC LIMIT ?3");
  stmt.Bind(1, state);
  stmt.Bind(2, requester);
  stmt.Bind(3, static_cast<int64_t>(kMaxListedRows));
  return ReadAll<AccessRequest>(&stmt, ReadRequest);
}

StoreResult<AccessRequest> Store::ApproveRequest(
    const std::string& id, const std::string& approver,
    const std::optional<std::string>& comment, int64_t now) {
  return DecideRequest(id, approver, true, comment, now);
}

StoreResult<AccessRequest> Store::DenyRequest(
    const std::string& id, const std::string& approver,
    const std::optional<std::string>& comment, int64_t now) {
  return DecideRequest(id, approver, false, comment, now);
}

StoreResult<AccessRequest> Store::DecideRequest(
    const std::string& id, const std::string& approver, bool approve,
    const std::optional<std::string>& comment, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.active()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto found = GetRequestLocked(id);
  if (!found.ok()) return found;
  AccessRequest request = std::move(found.value);
  const char* verb = approve ? "approve" : "deny";
  if (request.requester == approver) {
    return Fail<AccessRequest>(
        StoreError::kForbidden,
        std::string("you may not ") + verb + " your own request");
  }
  if (request.state != "pending") {
    return Fail<AccessRequest>(StoreError::kConflict,
                               "request " + id + " is " + request.state +
                                   ", only pending requests can be decided");
  }

  std::optional<std::string> grant_id;
  if (approve) {
    auto inserted = InsertGrantLocked(request, approver, now);
    if (!inserted.ok()) {
      return Fail<AccessRequest>(inserted.error, inserted.message);
    }
    grant_id = inserted.value;
  }
  Statement update(db_,
                   "UPDATE requests SET state = ?1, decided_by = ?2, "
                   "decided_at = ?3, decision_comment = ?4, grant_id = ?5 "
                   "WHERE id = ?6 AND state = 'pending'");
  update.Bind(1, std::string(approve ? "approved" : "denied"));
  update.Bind(2, approver);
  update.Bind(3, now);
  update.Bind(4, comment);
  update.Bind(5, grant_id);
  update.Bind(6, id);
  if (update.Step() != SQLITE_DONE || sqlite3_changes(db_) != 1) {
    return Fail<AccessRequest>(StoreError::kInternal, update.error());
  }
  auto updated = GetRequestLocked(id);
  if (updated.ok() && !transaction.Commit()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return updated;
}

StoreResult<std::string> Store::InsertGrantLocked(const AccessRequest& request,
                                                  const std::string& approver,
                                                  int64_t now) {
  auto id = NewId("g-");
  if (!id.ok()) return Fail<std::string>(StoreError::kInternal, id.error());
  Statement stmt(db_,
                 "INSERT INTO grants (id, request_id, user, host, kind, runas, "
                 "commands, approved_by, starts_at, expires_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  stmt.Bind(1, id.value());
  stmt.Bind(2, request.id);
  stmt.Bind(3, request.requester);
  stmt.Bind(4, request.host);
  stmt.Bind(5, request.kind);
  stmt.Bind(6, ToJsonText(request.runas));
  stmt.Bind(7, ToJsonText(request.commands));
  stmt.Bind(8, approver);
  stmt.Bind(9, now);
  stmt.Bind(10, now + request.duration);
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<std::string>(StoreError::kInternal, stmt.error());
  }
  return Ok(id.value());
}

StoreResult<AccessRequest> Store::CancelRequest(const std::string& id,
                                                const std::string& actor,
                                                int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.active()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto found = GetRequestLocked(id);
  if (!found.ok()) return found;
  if (found.value.requester != actor) {
    return Fail<AccessRequest>(StoreError::kForbidden,
                               "only the requester may cancel a request");
  }
  if (found.value.state != "pending") {
    return Fail<AccessRequest>(StoreError::kConflict,
                               "request " + id + " is " + found.value.state +
                                   ", only pending requests can be cancelled");
  }
  Statement update(db_,
                   "UPDATE requests SET state = 'cancelled', decided_by = ?1, "
                   "decided_at = ?2 WHERE id = ?3 AND state = 'pending'");
  update.Bind(1, actor);
  update.Bind(2, now);
  update.Bind(3, id);
  if (update.Step() != SQLITE_DONE || sqlite3_changes(db_) != 1) {
    return Fail<AccessRequest>(StoreError::kInternal, update.error());
  }
  auto updated = GetRequestLocked(id);
  if (updated.ok() && !transaction.Commit()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return updated;
}

StoreResult<Grant> Store::GetGrant(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  return GetGrantLocked(id);
}

StoreResult<Grant> Store::GetGrantLocked(const std::string& id) {
  Statement stmt(db_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE id = ?1");
  stmt.Bind(1, id);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return Fail<Grant>(StoreError::kNotFound, "no grant " + id);
  }
  if (rc != SQLITE_ROW) return Fail<Grant>(StoreError::kInternal, stmt.error());
  return Ok(ReadGrant(stmt));
}

StoreResult<std::vector<Grant>> Store::ListGrants(
    const std::optional<std::string>& user, bool active_only, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE (?1 IS NULL OR user = ?1)"
                          " AND (?2 = 0 OR (revoked_at IS NULL"
                          " AND expires_at > ?3))"
                          " ORDER BY starts_at DESC, rowid DESC LIMIT ?4");
  stmt.Bind(1, user);
  stmt.Bind(2, static_cast<int64_t>(active_only ? 1 : 0));
  stmt.Bind(3, now);
  stmt.Bind(4, static_cast<int64_t>(kMaxListedRows));
  return ReadAll<Grant>(&stmt, ReadGrant);
}

StoreResult<std::vector<Grant>> Store::GrantsOf(const std::string& user,
                                                const std::string& kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE user = ?1 AND kind = ?2");
  stmt.Bind(1, user);
  stmt.Bind(2, kind);
  return ReadAll<Grant>(&stmt, ReadGrant);
}

StoreResult<Grant> Store::RevokeGrant(const std::string& id,
                                      const std::string& actor,
                                      const std::optional<std::string>& reason,
                                      int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.active()) {
    return Fail<Grant>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto found = GetGrantLocked(id);
  if (!found.ok()) return found;
  std::string state = found.value.StateAt(now);
  if (state != "active") {
    return Fail<Grant>(StoreError::kConflict, "grant " + id + " is " + state +
                                                  ", only active grants can "
                                                  "be revoked");
  }
  Statement update(db_,
                   "UPDATE grants SET revoked_by = ?1, revoked_at = ?2, "
                   "revoke_reason = ?3 WHERE id = ?4 AND revoked_at IS NULL");
  update.Bind(1, actor);
  update.Bind(2, now);
  update.Bind(3, reason);
  update.Bind(4, id);
  if (update.Step() != SQLITE_DONE || sqlite3_changes(db_) != 1) {
    return Fail<Grant>(StoreError::kInternal, update.error());
  }
  auto updated = GetGrantLocked(id);
  if (updated.ok() && !transaction.Commit()) {
    return Fail<Grant>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return updated;
}

}  // namespace zsp::broker

#include "broker/store_sqlite.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "broker/ids.h"
#include "broker/sqlite_statement.h"
#include "broker/validate.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

constexpr int kBusyTimeoutMs = 5000;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS host_revocations (
  host TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL,
  revoked_by TEXT NOT NULL,
  reason TEXT
);
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
  filed_by_host TEXT,
  runas_groups TEXT NOT NULL DEFAULT '[]',
  env TEXT NOT NULL DEFAULT '[]'
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
  revoke_reason TEXT,
  runas_groups TEXT NOT NULL DEFAULT '[]',
  env TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS grants_user_kind ON grants (user, kind);
CREATE TABLE IF NOT EXISTS votes (
  request_id TEXT NOT NULL,
  voter TEXT NOT NULL,
  vote TEXT NOT NULL,
  comment TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (request_id, voter)
);
CREATE TABLE IF NOT EXISTS events (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT NOT NULL,
  grant_id TEXT,
  event TEXT NOT NULL,
  actor TEXT NOT NULL,
  at INTEGER NOT NULL,
  detail TEXT NOT NULL,
  sign_in TEXT
);
CREATE INDEX IF NOT EXISTS events_request ON events (request_id);
CREATE TABLE IF NOT EXISTS web_sessions (
  id_sha256 TEXT PRIMARY KEY,
  person TEXT NOT NULL,
  roles TEXT NOT NULL,
  may_request INTEGER NOT NULL,
  csrf TEXT NOT NULL,
  sign_in TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions (expires_at);
CREATE INDEX IF NOT EXISTS grants_user_kind_expires
  ON grants (user, kind, expires_at);
CREATE INDEX IF NOT EXISTS grants_expires ON grants (expires_at);
PRAGMA user_version = 1;
)sql";

constexpr char kRequestColumns[] =
    "id, requester, host, kind, runas, commands, duration, reason, state, "
    "created_at, decided_by, decided_at, decision_comment, grant_id, "
    "filed_by_host, entitlement, approvals_required, pending_until, "
    "full_root, runas_groups, env";
constexpr char kGrantColumns[] =
    "id, request_id, user, host, kind, runas, commands, approved_by, "
    "starts_at, expires_at, revoked_by, revoked_at, revoke_reason, "
    "runas_groups, env";

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
  r.entitlement = row.Text(15);
  r.approvals_required = static_cast<int>(row.Int(16));
  r.pending_until = row.Int(17);
  r.full_root = row.Int(18) != 0;
  r.runas_groups = FromJsonText(row.Text(19));
  r.env = FromJsonText(row.Text(20));
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
  g.runas_groups = FromJsonText(row.Text(13));
  g.env = FromJsonText(row.Text(14));
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

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
              SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
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
  // Columns that the policy fills; stores from before the policy get the
  // values that match their behaviour then: one approval, no expiry.
  store->Exec(
      "ALTER TABLE requests ADD COLUMN entitlement TEXT NOT NULL DEFAULT ''");
  store->Exec(
      "ALTER TABLE requests ADD COLUMN approvals_required INTEGER NOT NULL "
      "DEFAULT 1");
  store->Exec(
      "ALTER TABLE requests ADD COLUMN pending_until INTEGER NOT NULL "
      "DEFAULT 0");
  store->Exec(
      "ALTER TABLE requests ADD COLUMN full_root INTEGER NOT NULL DEFAULT 0");
  // How voters signed in, as JSON; events stored before have none.
  store->Exec("ALTER TABLE events ADD COLUMN sign_in TEXT");
  for (const char* table : {"requests", "grants"}) {
    for (const char* column : {"runas_groups", "env"}) {
      std::string alter = std::string("ALTER TABLE ") + table +
                          " ADD COLUMN " + column +
                          " TEXT NOT NULL DEFAULT '[]'";
      store->Exec(alter.c_str());
    }
  }
  // Lets the expiry of pending requests, every second, read only those.
  if (!store->Exec("CREATE INDEX IF NOT EXISTS requests_pending ON requests"
                   " (pending_until) WHERE state = 'pending'")) {
    return Error{path + ": " + sqlite3_errmsg(db)};
  }
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close_v2(db_); }

bool SqliteStore::Exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

StoreResult<bool> SqliteStore::AddPerson(const std::string& name,
                                   const std::vector<std::string>& roles,
                                   const std::string& token_sha256,
                                   int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
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

StoreResult<bool> SqliteStore::SetTokenHash(const std::string& name,
                                      const std::string& token_sha256) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, "UPDATE persons SET token_sha256 = ?1 WHERE name = ?2");
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

StoreResult<bool> SqliteStore::RevokeToken(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, "UPDATE persons SET token_sha256 = NULL WHERE name = ?1");
  stmt.Bind(1, name);
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, stmt.error());
  }
  if (sqlite3_changes(db_) != 1) {
    return Fail<bool>(StoreError::kNotFound, "no person named " + name);
  }
  return Ok(true);
}

StoreResult<std::vector<Person>> SqliteStore::ListPersons() {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT name, roles, token_sha256, created_at FROM persons "
                 "ORDER BY name");
  return ReadAll<Person>(&stmt, ReadPerson);
}

StoreResult<Person> SqliteStore::FindPersonByTokenHash(
    const std::string& token_sha256) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
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

StoreResult<AccessRequest> SqliteStore::CreateRequest(
    AccessRequest request, int64_t now,
    const std::optional<std::string>& auto_approved_by) {
  auto id = NewId("r-");
  if (!id.ok()) return Fail<AccessRequest>(StoreError::kInternal, id.error());
  request.id = id.value();
  request.state = "pending";
  request.created_at = now;

  std::lock_guard<std::mutex> lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.active()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto overlap = FindOverlapLocked(request, now);
  if (!overlap.ok()) return Fail<AccessRequest>(overlap.error, overlap.message);
  if (!overlap.value.empty()) {
    auto conflict = Fail<AccessRequest>(
        StoreError::kConflict,
        "the active grant " + overlap.value +
            " already covers this scope; extend access with a new request "
            "after it ends, or revoke it first");
    conflict.value.grant = overlap.value;
    return conflict;
  }
  Statement stmt(db_, &statements_,
                 "INSERT INTO requests (id, requester, host, kind, runas, "
                 "commands, duration, reason, state, created_at, "
                 "filed_by_host, entitlement, approvals_required, "
                 "pending_until, full_root, runas_groups, env) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                 "?13, ?14, ?15, ?16, ?17)");
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
  stmt.Bind(12, request.entitlement);
  stmt.Bind(13, static_cast<int64_t>(request.approvals_required));
  stmt.Bind(14, request.pending_until);
  stmt.Bind(15, static_cast<int64_t>(request.full_root ? 1 : 0));
  stmt.Bind(16, ToJsonText(request.runas_groups));
  stmt.Bind(17, ToJsonText(request.env));
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<AccessRequest>(StoreError::kInternal, stmt.error());
  }
  std::string actor = request.filed_by_host.has_value()
                          ? "host:" + *request.filed_by_host
                          : request.requester;
  bool recorded = AddEventLocked(request.id, std::nullopt, "filed", actor, now,
                                 "entitlement " + request.entitlement);
  if (recorded && auto_approved_by.has_value()) {
    recorded = SetDecidedLocked(request, "approved", "broker",
                                *auto_approved_by, *auto_approved_by, now,
                                "auto_approved");
  }
  if (!recorded) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto created = GetRequestLocked(request.id);
  if (created.ok() && !transaction.Commit()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return created;
}

StoreResult<std::string> SqliteStore::FindOverlapLocked(const AccessRequest& request,
                                                  int64_t now) {
  Statement stmt(db_, &statements_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE user = ?1 AND kind = ?2"
                          " AND host = ?3 AND revoked_at IS NULL"
                          " AND expires_at > ?4");
  stmt.Bind(1, request.requester);
  stmt.Bind(2, request.kind);
  stmt.Bind(3, request.host);
  stmt.Bind(4, now);
  auto grants = ReadAll<Grant>(&stmt, ReadGrant);
  if (!grants.ok()) return Fail<std::string>(grants.error, grants.message);
  for (const Grant& grant : grants.value) {
    if (RequestOverlapsGrant(request, grant)) return Ok(grant.id);
  }
  return Ok(std::string());
}

bool SqliteStore::AddEventLocked(const std::string& request_id,
                           const std::optional<std::string>& grant_id,
                           const std::string& event, const std::string& actor,
                           int64_t at, const std::string& detail,
                           const SignIn& sign_in) {
  std::string encoded = EncodeSignIn(sign_in);
  Statement stmt(db_, &statements_,
                 "INSERT INTO events (request_id, grant_id, event, actor, at, "
                 "detail, sign_in) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  stmt.Bind(1, request_id);
  stmt.Bind(2, grant_id);
  stmt.Bind(3, event);
  stmt.Bind(4, actor);
  stmt.Bind(5, at);
  stmt.Bind(6, detail);
  stmt.Bind(7, encoded.empty() ? std::nullopt
                               : std::optional<std::string>(encoded));
  return stmt.Step() == SQLITE_DONE;
}

bool SqliteStore::SetDecidedLocked(const AccessRequest& request,
                             const std::string& state,
                             const std::string& decided_by,
                             const std::optional<std::string>& comment,
                             const std::string& approved_by, int64_t now,
                             const std::string& event,
                             const SignIn& sign_in) {
  std::optional<std::string> grant_id;
  if (state == "approved") {
    auto inserted = InsertGrantLocked(request, approved_by, now);
    if (!inserted.ok()) return false;
    grant_id = inserted.value;
  }
  Statement update(db_, &statements_,
                   "UPDATE requests SET state = ?1, decided_by = ?2, "
                   "decided_at = ?3, decision_comment = ?4, grant_id = ?5 "
                   "WHERE id = ?6 AND state = 'pending'");
  update.Bind(1, state);
  update.Bind(2, decided_by);
  update.Bind(3, now);
  update.Bind(4, comment);
  update.Bind(5, grant_id);
  update.Bind(6, request.id);
  if (update.Step() != SQLITE_DONE || sqlite3_changes(db_) != 1) return false;
  std::string detail = comment.value_or("");
  if (grant_id.has_value()) {
    detail = "grant " + *grant_id + (detail.empty() ? "" : ": " + detail);
  }
  return AddEventLocked(request.id, grant_id, event, decided_by, now, detail,
                        sign_in);
}

StoreResult<AccessRequest> SqliteStore::GetRequest(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  return GetRequestLocked(id);
}

StoreResult<AccessRequest> SqliteStore::GetRequestLocked(const std::string& id) {
  Statement stmt(db_, &statements_, std::string("SELECT ") + kRequestColumns +
                          " FROM requests WHERE id = ?1");
  stmt.Bind(1, id);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return Fail<AccessRequest>(StoreError::kNotFound, "no request " + id);
  }
  if (rc != SQLITE_ROW) {
    return Fail<AccessRequest>(StoreError::kInternal, stmt.error());
  }
  AccessRequest request = ReadRequest(stmt);
  if (!FillApprovalsLocked(&request)) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return Ok(std::move(request));
}

bool SqliteStore::FillApprovalsLocked(AccessRequest* request) {
  Statement stmt(db_, &statements_,
                 "SELECT voter FROM votes WHERE request_id = ?1 AND "
                 "vote = 'approve' ORDER BY at, rowid");
  stmt.Bind(1, request->id);
  auto voters = ReadAll<std::string>(
      &stmt, [](const Statement& row) { return row.Text(0); });
  if (!voters.ok()) return false;
  request->approvals = std::move(voters.value);
  return true;
}

StoreResult<std::vector<AccessRequest>> SqliteStore::ListRequests(
    const std::optional<std::string>& state,
    const std::optional<std::string>& requester) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, std::string("SELECT ") + kRequestColumns +
                          " FROM requests"
                          " WHERE (?1 IS NULL OR state = ?1)"
                          " AND (?2 IS NULL OR requester = ?2)"
                          " ORDER BY created_at DESC, rowid DESC LIMIT ?3");
  stmt.Bind(1, state);
  stmt.Bind(2, requester);
  stmt.Bind(3, static_cast<int64_t>(kMaxListedRows));
  auto listed = ReadAll<AccessRequest>(&stmt, ReadRequest);
  if (!listed.ok()) return listed;
  for (auto& request : listed.value) {
    if (!FillApprovalsLocked(&request)) {
      return Fail<std::vector<AccessRequest>>(StoreError::kInternal,
                                              sqlite3_errmsg(db_));
    }
  }
  return listed;
}

StoreResult<bool> SqliteStore::RevokeHost(
    const std::string& host, const std::string& actor,
    const std::optional<std::string>& reason, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "INSERT OR REPLACE INTO host_revocations "
                 "(host, revoked_at, revoked_by, reason) VALUES (?, ?, ?, ?)");
  stmt.Bind(1, host);
  stmt.Bind(2, now);
  stmt.Bind(3, actor);
  stmt.Bind(4, reason);
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, stmt.error());
  }
  return Ok(true);
}

StoreResult<int64_t> SqliteStore::HostRevokedAt(const std::string& host) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT revoked_at FROM host_revocations WHERE host = ?");
  stmt.Bind(1, host);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return Fail<int64_t>(StoreError::kNotFound, "host not revoked");
  }
  if (rc != SQLITE_ROW) {
    return Fail<int64_t>(StoreError::kInternal, stmt.error());
  }
  return Ok<int64_t>(stmt.Int(0));
}

StoreResult<int64_t> SqliteStore::CountRequests(const std::string& state) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, "SELECT count(*) FROM requests WHERE state = ?");
  stmt.Bind(1, state);
  if (stmt.Step() != SQLITE_ROW) {
    return Fail<int64_t>(StoreError::kInternal, stmt.error());
  }
  return Ok<int64_t>(stmt.Int(0));
}

StoreResult<AccessRequest> SqliteStore::ApproveRequest(
    const std::string& id, const std::string& approver,
    const std::optional<std::string>& comment, int64_t now,
    const SignIn& sign_in) {
  return DecideRequest(id, approver, true, comment, now, sign_in);
}

StoreResult<AccessRequest> SqliteStore::DenyRequest(
    const std::string& id, const std::string& approver,
    const std::optional<std::string>& comment, int64_t now,
    const SignIn& sign_in) {
  return DecideRequest(id, approver, false, comment, now, sign_in);
}

StoreResult<AccessRequest> SqliteStore::DecideRequest(
    const std::string& id, const std::string& approver, bool approve,
    const std::optional<std::string>& comment, int64_t now,
    const SignIn& sign_in) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.active()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto found = GetRequestLocked(id);
  if (!found.ok()) return found;
  AccessRequest request = std::move(found.value);
  const char* verb = approve ? "approve" : "deny";
  if (SameUserName(request.requester, approver)) {
    return Fail<AccessRequest>(
        StoreError::kForbidden,
        std::string("you may not ") + verb + " your own request");
  }
  if (request.state == "pending" && request.pending_until > 0 &&
      request.pending_until <= now) {
    // The request ran out before this vote: record that, not the vote.
    if (!ExpireLocked(request) || !transaction.Commit()) {
      return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
    }
    request.state = "expired";
  }
  if (request.state != "pending") {
    return Fail<AccessRequest>(StoreError::kConflict,
                               "request " + id + " is " + request.state +
                                   ", only pending requests can be decided");
  }

  // A pending request has approvals only, since a denial ends it. A name
  // that differs only in case is the same person, and votes once.
  for (const auto& voter : request.approvals) {
    if (SameUserName(voter, approver)) {
      return Fail<AccessRequest>(StoreError::kConflict,
                                 "you have already voted on request " + id);
    }
  }
  // The primary key (request_id, voter) makes a second vote of the same
  // person fail, so each approver counts once however calls interleave.
  Statement vote(db_, &statements_,
                 "INSERT INTO votes (request_id, voter, vote, comment, at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)");
  vote.Bind(1, id);
  vote.Bind(2, approver);
  vote.Bind(3, std::string(approve ? "approve" : "deny"));
  vote.Bind(4, comment);
  vote.Bind(5, now);
  int rc = vote.Step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Fail<AccessRequest>(StoreError::kConflict,
                               "you have already voted on request " + id);
  }
  if (rc != SQLITE_DONE) {
    return Fail<AccessRequest>(StoreError::kInternal, vote.error());
  }

  bool recorded = true;
  if (!approve) {
    recorded = SetDecidedLocked(request, "denied", approver, comment, "", now,
                                "denied", sign_in);
  } else {
    request.approvals.push_back(approver);
    int count = static_cast<int>(request.approvals.size());
    recorded = AddEventLocked(
        id, std::nullopt, "approval", approver, now,
        std::to_string(count) + " of " +
            std::to_string(request.approvals_required) +
            (comment.has_value() ? ": " + *comment : ""),
        sign_in);
    if (recorded && count >= request.approvals_required) {
      std::string approvers;
      for (const auto& name : request.approvals) {
        approvers += (approvers.empty() ? "" : ",") + name;
      }
      recorded = SetDecidedLocked(request, "approved", approver, comment,
                                  approvers, now, "approved", sign_in);
    }
  }
  if (!recorded) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto updated = GetRequestLocked(id);
  if (updated.ok() && !transaction.Commit()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return updated;
}

bool SqliteStore::ExpireLocked(const AccessRequest& request) {
  Statement update(db_, &statements_,
                   "UPDATE requests SET state = 'expired', decided_by = "
                   "'broker', decided_at = ?1 WHERE id = ?2 AND "
                   "state = 'pending'");
  update.Bind(1, request.pending_until);
  update.Bind(2, request.id);
  if (update.Step() != SQLITE_DONE) return false;
  if (sqlite3_changes(db_) != 1) return true;
  return AddEventLocked(request.id, std::nullopt, "expired", "broker",
                        request.pending_until,
                        "no decision before the pending lifetime ended");
}

StoreResult<std::vector<AccessRequest>> SqliteStore::ExpirePending(int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.active()) {
    return Fail<std::vector<AccessRequest>>(StoreError::kInternal,
                                            sqlite3_errmsg(db_));
  }
  Statement stmt(db_, &statements_, std::string("SELECT ") + kRequestColumns +
                          " FROM requests WHERE state = 'pending' AND"
                          " pending_until > 0 AND pending_until <= ?1");
  stmt.Bind(1, now);
  auto due = ReadAll<AccessRequest>(&stmt, ReadRequest);
  if (!due.ok()) return due;
  for (auto& request : due.value) {
    if (!ExpireLocked(request)) {
      return Fail<std::vector<AccessRequest>>(StoreError::kInternal,
                                              sqlite3_errmsg(db_));
    }
    request.state = "expired";
  }
  if (!due.value.empty() && !transaction.Commit()) {
    return Fail<std::vector<AccessRequest>>(StoreError::kInternal,
                                            sqlite3_errmsg(db_));
  }
  return due;
}

StoreResult<std::vector<RequestEvent>> SqliteStore::ListEvents(
    const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT sequence, request_id, grant_id, event, actor, at, "
                 "detail, sign_in FROM events WHERE request_id = ?1 "
                 "ORDER BY sequence");
  stmt.Bind(1, request_id);
  return ReadAll<RequestEvent>(&stmt, [](const Statement& row) {
    RequestEvent e;
    e.sequence = row.Int(0);
    e.request = row.Text(1);
    e.grant = row.OptionalText(2);
    e.event = row.Text(3);
    e.actor = row.Text(4);
    e.at = row.Int(5);
    e.detail = row.Text(6);
    e.sign_in = DecodeSignIn(row.OptionalText(7).value_or(""));
    return e;
  });
}

StoreResult<std::string> SqliteStore::InsertGrantLocked(const AccessRequest& request,
                                                  const std::string& approver,
                                                  int64_t now) {
  auto id = NewId("g-");
  if (!id.ok()) return Fail<std::string>(StoreError::kInternal, id.error());
  Statement stmt(db_, &statements_,
                 "INSERT INTO grants (id, request_id, user, host, kind, runas, "
                 "commands, approved_by, starts_at, expires_at, runas_groups, "
                 "env) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
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
  stmt.Bind(11, ToJsonText(request.runas_groups));
  stmt.Bind(12, ToJsonText(request.env));
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<std::string>(StoreError::kInternal, stmt.error());
  }
  return Ok(id.value());
}

StoreResult<AccessRequest> SqliteStore::CancelRequest(const std::string& id,
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
  Statement update(db_, &statements_,
                   "UPDATE requests SET state = 'cancelled', decided_by = ?1, "
                   "decided_at = ?2 WHERE id = ?3 AND state = 'pending'");
  update.Bind(1, actor);
  update.Bind(2, now);
  update.Bind(3, id);
  if (update.Step() != SQLITE_DONE || sqlite3_changes(db_) != 1) {
    return Fail<AccessRequest>(StoreError::kInternal, update.error());
  }
  if (!AddEventLocked(id, std::nullopt, "cancelled", actor, now, "")) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto updated = GetRequestLocked(id);
  if (updated.ok() && !transaction.Commit()) {
    return Fail<AccessRequest>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return updated;
}

StoreResult<Grant> SqliteStore::GetGrant(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  return GetGrantLocked(id);
}

StoreResult<Grant> SqliteStore::GetGrantLocked(const std::string& id) {
  Statement stmt(db_, &statements_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE id = ?1");
  stmt.Bind(1, id);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return Fail<Grant>(StoreError::kNotFound, "no grant " + id);
  }
  if (rc != SQLITE_ROW) return Fail<Grant>(StoreError::kInternal, stmt.error());
  return Ok(ReadGrant(stmt));
}

StoreResult<std::vector<Grant>> SqliteStore::ListGrants(
    const std::optional<std::string>& user, bool active_only, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, std::string("SELECT ") + kGrantColumns +
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

StoreResult<std::vector<Grant>> SqliteStore::GrantsEndingBetween(
    int64_t after, int64_t until) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE expires_at > ?1 AND"
                          " expires_at <= ?2 AND revoked_at IS NULL"
                          " ORDER BY expires_at");
  stmt.Bind(1, after);
  stmt.Bind(2, until);
  return ReadAll<Grant>(&stmt, ReadGrant);
}

StoreResult<std::vector<Grant>> SqliteStore::GrantsOf(const std::string& user,
                                                const std::string& kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE user = ?1 AND kind = ?2");
  stmt.Bind(1, user);
  stmt.Bind(2, kind);
  return ReadAll<Grant>(&stmt, ReadGrant);
}

StoreResult<std::vector<Grant>> SqliteStore::ActiveGrantsOf(
    const std::string& user, const std::string& kind, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, std::string("SELECT ") + kGrantColumns +
                          " FROM grants WHERE user = ?1 AND kind = ?2 AND "
                          "expires_at > ?3 AND revoked_at IS NULL");
  stmt.Bind(1, user);
  stmt.Bind(2, kind);
  stmt.Bind(3, now);
  return ReadAll<Grant>(&stmt, ReadGrant);
}

StoreResult<Grant> SqliteStore::RevokeGrant(const std::string& id,
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
  Statement update(db_, &statements_,
                   "UPDATE grants SET revoked_by = ?1, revoked_at = ?2, "
                   "revoke_reason = ?3 WHERE id = ?4 AND revoked_at IS NULL");
  update.Bind(1, actor);
  update.Bind(2, now);
  update.Bind(3, reason);
  update.Bind(4, id);
  if (update.Step() != SQLITE_DONE || sqlite3_changes(db_) != 1) {
    return Fail<Grant>(StoreError::kInternal, update.error());
  }
  if (!AddEventLocked(found.value.request, id, "revoked", actor, now,
                      reason.value_or(""))) {
    return Fail<Grant>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  auto updated = GetGrantLocked(id);
  if (updated.ok() && !transaction.Commit()) {
    return Fail<Grant>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return updated;
}

StoreResult<RevocationPage> SqliteStore::ListRevocations(int64_t after,
                                                         int64_t now,
                                                         int limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT e.sequence, e.grant_id, g.user, g.host, g.kind, e.at, "
                 "g.expires_at FROM events e JOIN grants g ON g.id = "
                 "e.grant_id WHERE e.event = 'revoked' AND e.sequence > ?1 "
                 "AND g.expires_at > ?2 ORDER BY e.sequence LIMIT ?3");
  stmt.Bind(1, after);
  stmt.Bind(2, now);
  stmt.Bind(3, static_cast<int64_t>(limit));
  auto rows = ReadAll<Revocation>(&stmt, [](const Statement& row) {
    Revocation r;
    r.sequence = row.Int(0);
    r.grant = row.Text(1);
    r.user = row.Text(2);
    r.host = row.Text(3);
    r.kind = row.Text(4);
    r.at = row.Int(5);
    r.expires_at = row.Int(6);
    return r;
  });
  if (!rows.ok()) return Fail<RevocationPage>(rows.error, rows.message);
  RevocationPage page;
  page.revocations = std::move(rows.value);
  if (static_cast<int>(page.revocations.size()) == limit) {
    page.last = page.revocations.back().sequence;
    return Ok(std::move(page));
  }
  Statement head(db_, &statements_, "SELECT COALESCE(MAX(sequence), 0) FROM events");
  if (head.Step() != SQLITE_ROW) {
    return Fail<RevocationPage>(StoreError::kInternal, head.error());
  }
  page.last = std::max(head.Int(0), after);
  return Ok(std::move(page));
}

StoreResult<bool> SqliteStore::AddWebSession(const WebSession& session,
                                             int64_t now, int64_t max_sessions,
                                             int64_t max_per_person) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.active()) {
    return Fail<bool>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  Statement expired(db_, &statements_, "DELETE FROM web_sessions WHERE expires_at <= ?1");
  expired.Bind(1, now);
  if (expired.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, expired.error());
  }
  Statement oldest(db_, &statements_,
                   "DELETE FROM web_sessions WHERE person = ?1 AND id_sha256 "
                   "NOT IN (SELECT id_sha256 FROM web_sessions WHERE person "
                   "= ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)");
  oldest.Bind(1, session.person);
  oldest.Bind(2, std::max<int64_t>(max_per_person - 1, 0));
  if (oldest.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, oldest.error());
  }
  Statement count(db_, &statements_, "SELECT count(*) FROM web_sessions");
  if (count.Step() != SQLITE_ROW) {
    return Fail<bool>(StoreError::kInternal, count.error());
  }
  if (count.Int(0) >= max_sessions) {
    return Fail<bool>(StoreError::kConflict, "too many web sessions");
  }
  Statement insert(db_, &statements_,
                   "INSERT INTO web_sessions (id_sha256, person, roles, "
                   "may_request, csrf, sign_in, created_at, expires_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  insert.Bind(1, session.id_sha256);
  insert.Bind(2, session.person);
  insert.Bind(3, ToJsonText(session.roles));
  insert.Bind(4, int64_t{session.may_request ? 1 : 0});
  insert.Bind(5, session.csrf);
  insert.Bind(6, EncodeSignIn(session.sign_in));
  insert.Bind(7, session.created_at);
  insert.Bind(8, session.expires_at);
  if (insert.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, insert.error());
  }
  if (!transaction.Commit()) {
    return Fail<bool>(StoreError::kInternal, sqlite3_errmsg(db_));
  }
  return Ok(true);
}

StoreResult<WebSession> SqliteStore::FindWebSession(
    const std::string& id_sha256, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_,
                 "SELECT id_sha256, person, roles, may_request, csrf, "
                 "sign_in, created_at, expires_at FROM web_sessions "
                 "WHERE id_sha256 = ?1 AND expires_at > ?2");
  stmt.Bind(1, id_sha256);
  stmt.Bind(2, now);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return Fail<WebSession>(StoreError::kNotFound, "no such web session");
  }
  if (rc != SQLITE_ROW) {
    return Fail<WebSession>(StoreError::kInternal, stmt.error());
  }
  WebSession session;
  session.id_sha256 = stmt.Text(0);
  session.person = stmt.Text(1);
  session.roles = FromJsonText(stmt.Text(2));
  session.may_request = stmt.Int(3) != 0;
  session.csrf = stmt.Text(4);
  session.sign_in = DecodeSignIn(stmt.Text(5));
  session.created_at = stmt.Int(6);
  session.expires_at = stmt.Int(7);
  return Ok(std::move(session));
}

StoreResult<bool> SqliteStore::DeleteWebSession(const std::string& id_sha256) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement stmt(db_, &statements_, "DELETE FROM web_sessions WHERE id_sha256 = ?1");
  stmt.Bind(1, id_sha256);
  if (stmt.Step() != SQLITE_DONE) {
    return Fail<bool>(StoreError::kInternal, stmt.error());
  }
  return Ok(true);
}

}  // namespace zsp::broker

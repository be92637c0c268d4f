#include "broker/store_pg.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "broker/ids.h"
#include "broker/validate.h"

namespace zsp::broker {
namespace {

using nlohmann::json;
using pg::Connection;
using pg::P;
using pg::PgError;
using pg::Rows;

// The channel on which a state change of a request is announced, once per
// change (a trigger on requests), never per audit record.
constexpr char kRequestChannel[] = "zsp_request";

// Schema migrations, applied in order and never edited once released;
// a change to the schema is a new entry. Times are Unix seconds (bigint).
// Custom SQLSTATEs of class ZS come from the triggers: ZS001 self-vote,
// ZS002 change of a decided request or ended grant, ZS004 append-only.
const std::vector<std::string>& StoreMigrations() {
  static const std::vector<std::string> migrations = {
      R"sql(
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE persons (
  name text PRIMARY KEY,
  roles text NOT NULL,
  token_sha256 text UNIQUE,
  created_at bigint NOT NULL
);
CREATE TABLE requests (
  id text PRIMARY KEY,
  requester text NOT NULL,
  host text NOT NULL,
  kind text NOT NULL,
  runas text NOT NULL,
  commands text NOT NULL,
  duration bigint NOT NULL CHECK (duration > 0),
  reason text NOT NULL,
  state text NOT NULL CHECK (state IN
    ('pending', 'approved', 'denied', 'expired', 'cancelled')),
  created_at bigint NOT NULL,
  decided_by text,
  decided_at bigint,
  decision_comment text,
  grant_id text,
  filed_by_host text,
  entitlement text NOT NULL DEFAULT '',
  approvals_required integer NOT NULL DEFAULT 1
    CHECK (approvals_required >= 1),
  pending_until bigint NOT NULL DEFAULT 0,
  full_root boolean NOT NULL DEFAULT false,
  runas_groups text NOT NULL DEFAULT '[]',
  env text NOT NULL DEFAULT '[]',
  CHECK ((state = 'approved') = (grant_id IS NOT NULL))
);
CREATE INDEX requests_requester ON requests (requester);
CREATE INDEX requests_pending ON requests (pending_until)
  WHERE state = 'pending';
CREATE TABLE grants (
  id text PRIMARY KEY,
  request_id text NOT NULL UNIQUE REFERENCES requests (id),
  user_name text NOT NULL,
  host text NOT NULL,
  kind text NOT NULL,
  runas text NOT NULL,
  commands text NOT NULL,
  approved_by text NOT NULL,
  starts_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  revoked_by text,
  revoked_at bigint,
  revoke_reason text,
  runas_groups text NOT NULL DEFAULT '[]',
  env text NOT NULL DEFAULT '[]',
  scope text NOT NULL,
  CHECK (expires_at > starts_at),
  CONSTRAINT grants_no_overlap EXCLUDE USING gist (
    scope WITH =,
    tstzrange(to_timestamp(starts_at), to_timestamp(expires_at)) WITH &&)
    WHERE (revoked_at IS NULL)
);
CREATE INDEX grants_user_kind_expires ON grants (user_name, kind, expires_at);
CREATE TABLE votes (
  request_id text NOT NULL REFERENCES requests (id),
  voter text NOT NULL,
  vote text NOT NULL CHECK (vote IN ('approve', 'deny')),
  comment text,
  at bigint NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (request_id, voter)
);
CREATE TABLE events (
  sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id text NOT NULL,
  grant_id text,
  event text NOT NULL,
  actor text NOT NULL,
  at bigint NOT NULL,
  detail text NOT NULL
);
CREATE INDEX events_request ON events (request_id);

CREATE OR REPLACE FUNCTION zsp_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'ZS004';
END $$;
CREATE TRIGGER votes_append_only BEFORE UPDATE OR DELETE ON votes
  FOR EACH ROW EXECUTE FUNCTION zsp_append_only();
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION zsp_append_only();
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests
  FOR EACH ROW EXECUTE FUNCTION zsp_append_only();
CREATE TRIGGER grants_no_delete BEFORE DELETE ON grants
  FOR EACH ROW EXECUTE FUNCTION zsp_append_only();

CREATE FUNCTION zsp_votes_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  SELECT requester, state INTO r FROM requests WHERE id = NEW.request_id;
  IF r.requester = NEW.voter THEN
    RAISE EXCEPTION 'nobody may vote on their own request'
      USING ERRCODE = 'ZS001';
  END IF;
  IF r.state <> 'pending' THEN
    RAISE EXCEPTION 'request % is %, only pending requests take votes',
      NEW.request_id, r.state USING ERRCODE = 'ZS002';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER votes_check BEFORE INSERT ON votes
  FOR EACH ROW EXECUTE FUNCTION zsp_votes_check();

CREATE FUNCTION zsp_requests_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.state <> 'pending' THEN
    RAISE EXCEPTION 'request % is %, a decided request never changes',
      OLD.id, OLD.state USING ERRCODE = 'ZS002';
  END IF;
  IF (NEW.id, NEW.requester, NEW.host, NEW.kind, NEW.runas, NEW.commands,
      NEW.duration, NEW.created_at, NEW.runas_groups, NEW.env)
     IS DISTINCT FROM
     (OLD.id, OLD.requester, OLD.host, OLD.kind, OLD.runas, OLD.commands,
      OLD.duration, OLD.created_at, OLD.runas_groups, OLD.env) THEN
    RAISE EXCEPTION 'the scope of request % never changes', OLD.id
      USING ERRCODE = 'ZS002';
  END IF;
  IF NEW.state <> OLD.state THEN
    PERFORM pg_notify('zsp_request', NEW.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER requests_update BEFORE UPDATE ON requests
  FOR EACH ROW EXECUTE FUNCTION zsp_requests_update();

CREATE FUNCTION zsp_grants_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.revoked_at IS NOT NULL THEN
    RAISE EXCEPTION 'grant % is revoked and never changes', OLD.id
      USING ERRCODE = 'ZS002';
  END IF;
  IF (NEW.id, NEW.request_id, NEW.user_name, NEW.host, NEW.kind, NEW.runas,
      NEW.commands, NEW.approved_by, NEW.starts_at, NEW.expires_at,
      NEW.runas_groups, NEW.env, NEW.scope)
     IS DISTINCT FROM
     (OLD.id, OLD.request_id, OLD.user_name, OLD.host, OLD.kind, OLD.runas,
      OLD.commands, OLD.approved_by, OLD.starts_at, OLD.expires_at,
      OLD.runas_groups, OLD.env, OLD.scope) THEN
    RAISE EXCEPTION 'only the revocation of grant % may change', OLD.id
      USING ERRCODE = 'ZS002';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER grants_update BEFORE UPDATE ON grants
  FOR EACH ROW EXECUTE FUNCTION zsp_grants_update();
)sql",
      R"sql(
CREATE TABLE host_revocations (
  host text PRIMARY KEY,
  revoked_at bigint NOT NULL,
  revoked_by text NOT NULL,
  reason text
);
)sql",
      // How voters signed in, as JSON; events stored before have none.
      R"sql(
ALTER TABLE events ADD COLUMN sign_in text;
)sql",
      // Web page sessions, shared by every broker instance.
      R"sql(
CREATE TABLE web_sessions (
  id_sha256 text PRIMARY KEY,
  person text NOT NULL,
  roles text NOT NULL,
  may_request bigint NOT NULL,
  csrf text NOT NULL,
  sign_in text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
)sql",
      // Grants by end time, for the notice before a grant ends.
      R"sql(
CREATE INDEX grants_expires ON grants (expires_at);
)sql",
      // A voter whose name differs from the requester's only in case is
      // the requester, as an identity provider may spell a name either way.
      // The "C" collation folds ASCII letters alone, whatever the locale.
      R"sql(
CREATE OR REPLACE FUNCTION zsp_votes_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  SELECT requester, state INTO r FROM requests WHERE id = NEW.request_id;
  IF lower(r.requester COLLATE "C") = lower(NEW.voter COLLATE "C") THEN
    RAISE EXCEPTION 'nobody may vote on their own request'
      USING ERRCODE = 'ZS001';
  END IF;
  IF r.state <> 'pending' THEN
    RAISE EXCEPTION 'request % is %, only pending requests take votes',
      NEW.request_id, r.state USING ERRCODE = 'ZS002';
  END IF;
  RETURN NEW;
END $$;
)sql",
  };
  return migrations;
}

// The approvers of a request in vote order, as a JSON array, appended to
// the request columns.
constexpr char kRequestColumns[] =
    "id, requester, host, kind, runas, commands, duration, reason, state, "
    "created_at, decided_by, decided_at, decision_comment, grant_id, "
    "filed_by_host, entitlement, approvals_required, pending_until, "
    "full_root, runas_groups, env, "
    "coalesce((SELECT json_agg(voter ORDER BY at, seq) FROM votes v WHERE "
    "v.request_id = requests.id AND v.vote = 'approve')::text, '[]')";
constexpr char kGrantColumns[] =
    "id, request_id, user_name, host, kind, runas, commands, approved_by, "
    "starts_at, expires_at, revoked_by, revoked_at, revoke_reason, "
    "runas_groups, env";
// The caller's now, or the database's when the parameter is NULL.
constexpr char kNowSql[] = "floor(extract(epoch from now()))::bigint";

// Maps a failure that escaped the retries to a store error.
template <typename T>
StoreResult<T> FailFrom(const PgError& error) {
  if (error.sqlstate() == "23P01") {
    return Fail<T>(StoreError::kConflict,
                   "an active grant of the same scope exists; revoke it "
                   "first or wait until it ends");
  }
  if (error.failure() == pg::Failure::kBusiness) {
    StoreError kind = error.sqlstate() == "ZS001" ? StoreError::kForbidden
                                                  : StoreError::kConflict;
    return Fail<T>(kind, error.what());
  }
  return Fail<T>(StoreError::kInternal,
                 std::string("PostgreSQL: ") + error.what());
}

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

AccessRequest ReadRequest(const Rows& rows, int i) {
  AccessRequest r;
  r.id = rows.Text(i, 0);
  r.requester = rows.Text(i, 1);
  r.host = rows.Text(i, 2);
  r.kind = rows.Text(i, 3);
  r.runas = FromJsonText(rows.Text(i, 4));
  r.commands = FromJsonText(rows.Text(i, 5));
  r.duration = rows.Int(i, 6);
  r.reason = rows.Text(i, 7);
  r.state = rows.Text(i, 8);
  r.created_at = rows.Int(i, 9);
  r.decided_by = rows.OptionalText(i, 10);
  r.decided_at = rows.OptionalInt(i, 11);
  r.decision_comment = rows.OptionalText(i, 12);
  r.grant = rows.OptionalText(i, 13);
  r.filed_by_host = rows.OptionalText(i, 14);
  r.entitlement = rows.Text(i, 15);
  r.approvals_required = static_cast<int>(rows.Int(i, 16));
  r.pending_until = rows.Int(i, 17);
  r.full_root = rows.Bool(i, 18);
  r.runas_groups = FromJsonText(rows.Text(i, 19));
  r.env = FromJsonText(rows.Text(i, 20));
  r.approvals = FromJsonText(rows.Text(i, 21));
  return r;
}

Grant ReadGrant(const Rows& rows, int i) {
  Grant g;
  g.id = rows.Text(i, 0);
  g.request = rows.Text(i, 1);
  g.user = rows.Text(i, 2);
  g.host = rows.Text(i, 3);
  g.kind = rows.Text(i, 4);
  g.runas = FromJsonText(rows.Text(i, 5));
  g.commands = FromJsonText(rows.Text(i, 6));
  g.approved_by = rows.Text(i, 7);
  g.starts_at = rows.Int(i, 8);
  g.expires_at = rows.Int(i, 9);
  g.revoked_by = rows.OptionalText(i, 10);
  g.revoked_at = rows.OptionalInt(i, 11);
  g.revoke_reason = rows.OptionalText(i, 12);
  g.runas_groups = FromJsonText(rows.Text(i, 13));
  g.env = FromJsonText(rows.Text(i, 14));
  return g;
}

Person ReadPerson(const Rows& rows, int i) {
  Person p;
  p.name = rows.Text(i, 0);
  p.roles = FromJsonText(rows.Text(i, 1));
  p.has_token = !rows.IsNull(i, 2);
  p.created_at = rows.Int(i, 3);
  return p;
}

template <typename T, typename Reader>
std::vector<T> ReadAll(const Rows& rows, Reader read) {
  std::vector<T> list;
  list.reserve(rows.size());
  for (int i = 0; i < rows.size(); ++i) list.push_back(read(rows, i));
  return list;
}

// The scope that the exclusion constraint compares: grants with the same
// user, host, kind, run-as users, commands, groups and environment names.
std::string ScopeKey(const AccessRequest& request) {
  json scope = {request.requester, request.host,     request.kind,
                request.runas,     request.commands, request.runas_groups,
                request.env};
  return Sha256Hex(scope.dump());
}

// Operations on one connection inside a transaction of the caller.
class Session {
 public:
  Session(Connection& connection, const StoreOptions& options)
      : connection_(connection), options_(options) {}

  Rows Exec(const std::string& sql, const std::vector<pg::Param>& params) {
    return connection_.Exec(sql, params, deadline_);
  }

  // The transaction's time: the database's, or the caller's in tests.
  int64_t Now(int64_t caller_now) {
    if (!options_.database_clock) return caller_now;
    return Exec(std::string("SELECT ") +
                    "floor(extract(epoch from transaction_timestamp()))"
                    "::bigint",
                {})
        .Int(0, 0);
  }

  // With for_update, locks the row first and reads it in a second
  // statement: under READ COMMITTED each statement takes a new snapshot,
  // so the approvals read after the lock include every vote committed by
  // the transaction that held the lock before. One statement would return
  // the locked row's newest version but votes from an older snapshot.
  std::optional<AccessRequest> FindRequest(const std::string& id,
                                           bool for_update) {
    if (for_update) {
      Rows locked =
          Exec("SELECT id FROM requests WHERE id = $1 FOR UPDATE", {P(id)});
      if (locked.empty()) return std::nullopt;
    }
    Rows rows = Exec(std::string("SELECT ") + kRequestColumns +
                         " FROM requests WHERE id = $1",
                     {P(id)});
    if (rows.empty()) return std::nullopt;
    return ReadRequest(rows, 0);
  }

  std::optional<Grant> FindGrant(const std::string& id, bool for_update) {
    Rows rows = Exec(std::string("SELECT ") + kGrantColumns +
                         " FROM grants WHERE id = $1" +
                         (for_update ? " FOR UPDATE" : ""),
                     {P(id)});
    if (rows.empty()) return std::nullopt;
    return ReadGrant(rows, 0);
  }

  void AddEvent(const std::string& request_id,
                const std::optional<std::string>& grant_id,
                const std::string& event, const std::string& actor, int64_t at,
                const std::string& detail, const SignIn& sign_in = {}) {
    std::string encoded = EncodeSignIn(sign_in);
    std::optional<std::string> column;
    if (!encoded.empty()) column = encoded;
    Exec(
        "INSERT INTO events (request_id, grant_id, event, actor, at, detail, "
        "sign_in) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {P(request_id), P(grant_id), P(event), P(actor), P(at), P(detail),
         P(column)});
  }

  std::string FindOverlap(const AccessRequest& request, int64_t now) {
    Rows rows =
        Exec(std::string("SELECT ") + kGrantColumns +
                 " FROM grants WHERE user_name = $1 AND kind = $2"
                 " AND host = $3 AND revoked_at IS NULL"
                 " AND expires_at > $4",
             {P(request.requester), P(request.kind), P(request.host), P(now)});
    for (int i = 0; i < rows.size(); ++i) {
      Grant grant = ReadGrant(rows, i);
      if (RequestOverlapsGrant(request, grant)) return grant.id;
    }
    return "";
  }

  // Ends a pending request in state (approved, with a grant, or denied)
  // and records event. Throws PgError, with the exclusion constraint's
  // 23P01 when an active grant of the same scope exists.
  void SetDecided(const AccessRequest& request, const std::string& state,
                  const std::string& decided_by,
                  const std::optional<std::string>& comment,
                  const std::string& approved_by, int64_t now,
                  const std::string& event, const SignIn& sign_in = {}) {
    std::optional<std::string> grant_id;
    if (state == "approved") {
      auto id = NewId("g-");
      if (!id.ok()) throw PgError(pg::Failure::kInternal, "", id.error());
      grant_id = id.value();
      Exec(
          "INSERT INTO grants (id, request_id, user_name, host, kind, runas, "
          "commands, approved_by, starts_at, expires_at, runas_groups, env, "
          "scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
          "$13)",
          {P(*grant_id), P(request.id), P(request.requester), P(request.host),
           P(request.kind), P(ToJsonText(request.runas)),
           P(ToJsonText(request.commands)), P(approved_by), P(now),
           P(now + request.duration), P(ToJsonText(request.runas_groups)),
           P(ToJsonText(request.env)), P(ScopeKey(request))});
    }
    Rows updated = Exec(
        "UPDATE requests SET state = $1, decided_by = $2, decided_at = $3, "
        "decision_comment = $4, grant_id = $5 WHERE id = $6 AND "
        "state = 'pending'",
        {P(state), P(decided_by), P(now), P(comment), P(grant_id),
         P(request.id)});
    if (updated.affected() != 1) {
      throw PgError(pg::Failure::kBusiness, "ZS002",
                    "request " + request.id + " is no longer pending");
    }
    std::string detail = comment.value_or("");
    if (grant_id.has_value()) {
      detail = "grant " + *grant_id + (detail.empty() ? "" : ": " + detail);
    }
    AddEvent(request.id, grant_id, event, decided_by, now, detail, sign_in);
  }

  bool Expire(const AccessRequest& request) {
    Rows updated = Exec(
        "UPDATE requests SET state = 'expired', decided_by = 'broker', "
        "decided_at = $1 WHERE id = $2 AND state = 'pending'",
        {P(request.pending_until), P(request.id)});
    if (updated.affected() != 1) return false;
    AddEvent(request.id, std::nullopt, "expired", "broker",
             request.pending_until,
             "no decision before the pending lifetime ended");
    return true;
  }

 private:
  Connection& connection_;
  const StoreOptions& options_;
  pg::Clock::time_point deadline_ = pg::Clock::now() + pg::kOperationDeadline;
};

template <typename T>
using TxBody = std::function<StoreResult<T>(Session&, bool replay)>;

}  // namespace

PgStore::PgStore(const std::string& conninfo, const StoreOptions& options)
    : pool_(conninfo, pg::kPoolSize),
      options_(options),
      listener_(conninfo, kRequestChannel) {}

Result<std::unique_ptr<PgStore>> PgStore::Open(const std::string& conninfo,
                                               const StoreOptions& options) {
  auto connection =
      Connection::Connect(conninfo, pg::Clock::now() + pg::kOperationDeadline);
  if (!connection.ok()) return Error{connection.error()};
  auto migrated =
      pg::Migrate(connection.value().get(), StoreMigrations(), "store");
  if (!migrated.ok()) return Error{migrated.error()};
  return std::unique_ptr<PgStore>(new PgStore(conninfo, options));
}

namespace {

// Runs body in a retried transaction and maps what escapes to StoreError.
template <typename T>
StoreResult<T> Transact(pg::Pool* pool, const StoreOptions& options,
                        const char* operation, const TxBody<T>& body) {
  try {
    return pg::RunTransaction<StoreResult<T>>(
        pool, operation, [&](Connection& connection, bool replay) {
          Session session(connection, options);
          return body(session, replay);
        });
  } catch (const PgError& error) {
    return FailFrom<T>(error);
  }
}

template <typename T>
StoreResult<T> Read(pg::Pool* pool, const StoreOptions& options,
                    const char* operation,
                    const std::function<StoreResult<T>(Session&)>& body) {
  try {
    return pg::RunRead<StoreResult<T>>(pool, operation,
                                       [&](Connection& connection) {
                                         Session session(connection, options);
                                         return body(session);
                                       });
  } catch (const PgError& error) {
    return FailFrom<T>(error);
  }
}

// The caller's now as a parameter, or NULL so that the SQL takes the
// database's.
pg::Param NowParam(const StoreOptions& options, int64_t now) {
  if (options.database_clock) return std::nullopt;
  return P(now);
}

}  // namespace

StoreResult<bool> PgStore::AddPerson(const std::string& name,
                                     const std::vector<std::string>& roles,
                                     const std::string& token_sha256,
                                     int64_t now) {
  return Transact<bool>(
      &pool_, options_, "add_person", [&](Session& s, bool replay) {
        Rows existing = s.Exec(
            "SELECT token_sha256 FROM persons WHERE name = $1", {P(name)});
        if (!existing.empty()) {
          if (replay && existing.Text(0, 0) == token_sha256) return Ok(true);
          return Fail<bool>(StoreError::kConflict,
                            "person " + name + " exists");
        }
        s.Exec(
            "INSERT INTO persons (name, roles, token_sha256, created_at) "
            "VALUES ($1, $2, $3, $4)",
            {P(name), P(ToJsonText(roles)), P(token_sha256), P(s.Now(now))});
        return Ok(true);
      });
}

StoreResult<bool> PgStore::SetTokenHash(const std::string& name,
                                        const std::string& token_sha256) {
  return Transact<bool>(&pool_, options_, "set_token", [&](Session& s, bool) {
    Rows updated =
        s.Exec("UPDATE persons SET token_sha256 = $1 WHERE name = $2",
               {P(token_sha256), P(name)});
    if (updated.affected() != 1) {
      return Fail<bool>(StoreError::kNotFound, "no person named " + name);
    }
    return Ok(true);
  });
}

StoreResult<bool> PgStore::RevokeToken(const std::string& name) {
  return Transact<bool>(
      &pool_, options_, "revoke_token", [&](Session& s, bool) {
        Rows updated =
            s.Exec("UPDATE persons SET token_sha256 = NULL WHERE name = $1",
                   {P(name)});
        if (updated.affected() != 1) {
          return Fail<bool>(StoreError::kNotFound, "no person named " + name);
        }
        return Ok(true);
      });
}

StoreResult<std::vector<Person>> PgStore::ListPersons() {
  return Read<std::vector<Person>>(
      &pool_, options_, "list_persons", [&](Session& s) {
        Rows rows = s.Exec(
            "SELECT name, roles, token_sha256, created_at FROM persons "
            "ORDER BY name",
            {});
        return Ok(ReadAll<Person>(rows, ReadPerson));
      });
}

StoreResult<Person> PgStore::FindPersonByTokenHash(
    const std::string& token_sha256) {
  return Read<Person>(&pool_, options_, "find_person", [&](Session& s) {
    Rows rows = s.Exec(
        "SELECT name, roles, token_sha256, created_at FROM persons "
        "WHERE token_sha256 = $1",
        {P(token_sha256)});
    if (rows.empty()) {
      return Fail<Person>(StoreError::kNotFound, "unknown token");
    }
    return Ok(ReadPerson(rows, 0));
  });
}

StoreResult<AccessRequest> PgStore::CreateRequest(
    AccessRequest request, int64_t now,
    const std::optional<std::string>& auto_approved_by) {
  // The id is fixed before the first attempt, so that a replay after an
  // unknown COMMIT outcome finds the request it may have filed already.
  auto id = NewId("r-");
  if (!id.ok()) return Fail<AccessRequest>(StoreError::kInternal, id.error());
  request.id = id.value();
  request.state = "pending";
  auto result = Transact<AccessRequest>(
      &pool_, options_, "create_request", [&](Session& s, bool replay) {
        if (replay) {
          if (auto filed = s.FindRequest(request.id, false)) {
            return Ok(std::move(*filed));
          }
        }
        AccessRequest filed = request;
        filed.created_at = s.Now(now);
        std::string overlap = s.FindOverlap(filed, filed.created_at);
        if (!overlap.empty()) {
          auto conflict = Fail<AccessRequest>(
              StoreError::kConflict,
              "the active grant " + overlap +
                  " already covers this scope; extend access with a new "
                  "request after it ends, or revoke it first");
          conflict.value.grant = overlap;
          return conflict;
        }
        s.Exec(
            "INSERT INTO requests (id, requester, host, kind, runas, "
            "commands, duration, reason, state, created_at, filed_by_host, "
            "entitlement, approvals_required, pending_until, full_root, "
            "runas_groups, env) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
            "$10, $11, $12, $13, $14, $15, $16, $17)",
            {P(filed.id), P(filed.requester), P(filed.host), P(filed.kind),
             P(ToJsonText(filed.runas)), P(ToJsonText(filed.commands)),
             P(filed.duration), P(filed.reason), P(filed.state),
             P(filed.created_at), P(filed.filed_by_host), P(filed.entitlement),
             P(static_cast<int64_t>(filed.approvals_required)),
             P(filed.pending_until), P(filed.full_root ? "true" : "false"),
             P(ToJsonText(filed.runas_groups)), P(ToJsonText(filed.env))});
        std::string actor = filed.filed_by_host.has_value()
                                ? "host:" + *filed.filed_by_host
                                : filed.requester;
        s.AddEvent(filed.id, std::nullopt, "filed", actor, filed.created_at,
                   "entitlement " + filed.entitlement);
        if (auto_approved_by.has_value()) {
          s.SetDecided(filed, "approved", "broker", *auto_approved_by,
                       *auto_approved_by, filed.created_at, "auto_approved");
        }
        auto stored = s.FindRequest(filed.id, false);
        if (!stored) {
          return Fail<AccessRequest>(StoreError::kInternal,
                                     "request " + filed.id + " vanished");
        }
        return Ok(std::move(*stored));
      });
  return result;
}

StoreResult<AccessRequest> PgStore::GetRequest(const std::string& id) {
  return Read<AccessRequest>(&pool_, options_, "get_request", [&](Session& s) {
    auto found = s.FindRequest(id, false);
    if (!found)
      return Fail<AccessRequest>(StoreError::kNotFound, "no request " + id);
    return Ok(std::move(*found));
  });
}

StoreResult<std::vector<AccessRequest>> PgStore::ListRequests(
    const std::optional<std::string>& state,
    const std::optional<std::string>& requester) {
  return Read<std::vector<AccessRequest>>(
      &pool_, options_, "list_requests", [&](Session& s) {
        Rows rows = s.Exec(
            std::string("SELECT ") + kRequestColumns +
                " FROM requests"
                " WHERE ($1::text IS NULL OR state = $1)"
                " AND ($2::text IS NULL OR requester = $2)"
                " ORDER BY created_at DESC, id DESC LIMIT $3",
            {P(state), P(requester), P(static_cast<int64_t>(kMaxListedRows))});
        return Ok(ReadAll<AccessRequest>(rows, ReadRequest));
      });
}

StoreResult<AccessRequest> PgStore::ApproveRequest(
    const std::string& id, const std::string& approver,
    const std::optional<std::string>& comment, int64_t now,
    const SignIn& sign_in) {
  return DecideRequest(id, approver, true, comment, now, sign_in);
}

StoreResult<AccessRequest> PgStore::DenyRequest(
    const std::string& id, const std::string& approver,
    const std::optional<std::string>& comment, int64_t now,
    const SignIn& sign_in) {
  return DecideRequest(id, approver, false, comment, now, sign_in);
}

StoreResult<AccessRequest> PgStore::DecideRequest(
    const std::string& id, const std::string& approver, bool approve,
    const std::optional<std::string>& comment, int64_t now,
    const SignIn& sign_in) {
  const std::string vote = approve ? "approve" : "deny";
  // Set when the vote arrived after pending_until: the expiry is
  // committed, and the vote is reported as a conflict afterwards.
  bool expired_instead = false;
  auto result = Transact<AccessRequest>(
      &pool_, options_, "decide_request", [&](Session& s, bool replay) {
        expired_instead = false;
        int64_t at = s.Now(now);
        // The row lock serialises every vote on this request across all
        // broker instances, so N-of-M is counted exactly once.
        auto found = s.FindRequest(id, true);
        if (!found) {
          return Fail<AccessRequest>(StoreError::kNotFound, "no request " + id);
        }
        AccessRequest request = std::move(*found);
        if (SameUserName(request.requester, approver)) {
          return Fail<AccessRequest>(
              StoreError::kForbidden,
              "you may not " + vote + " your own request");
        }
        Rows voted = s.Exec(
            "SELECT vote FROM votes WHERE request_id = $1 AND "
            "lower(voter COLLATE \"C\") = lower($2 COLLATE \"C\")",
            {P(id), P(approver)});
        if (!voted.empty()) {
          // A replay after an unknown COMMIT outcome finds its own vote.
          if (replay && voted.Text(0, 0) == vote) return Ok(request);
          return Fail<AccessRequest>(StoreError::kConflict,
                                     "you have already voted on request " + id);
        }
        if (request.state == "pending" && request.pending_until > 0 &&
            request.pending_until <= at) {
          s.Expire(request);
          request.state = "expired";
          expired_instead = true;
          return Ok(request);
        }
        if (request.state != "pending") {
          return Fail<AccessRequest>(
              StoreError::kConflict,
              "request " + id + " is " + request.state +
                  ", only pending requests can be decided");
        }
        s.Exec(
            "INSERT INTO votes (request_id, voter, vote, comment, at) "
            "VALUES ($1, $2, $3, $4, $5)",
            {P(id), P(approver), P(vote), P(comment), P(at)});
        if (!approve) {
          s.SetDecided(request, "denied", approver, comment, "", at, "denied",
                       sign_in);
        } else {
          request.approvals.push_back(approver);
          int count = static_cast<int>(request.approvals.size());
          s.AddEvent(id, std::nullopt, "approval", approver, at,
                     std::to_string(count) + " of " +
                         std::to_string(request.approvals_required) +
                         (comment.has_value() ? ": " + *comment : ""),
                     sign_in);
          if (count >= request.approvals_required) {
            std::string approvers;
            for (const auto& name : request.approvals) {
              approvers += (approvers.empty() ? "" : ",") + name;
            }
            s.SetDecided(request, "approved", approver, comment, approvers, at,
                         "approved", sign_in);
          }
        }
        auto updated = s.FindRequest(id, false);
        if (!updated) {
          return Fail<AccessRequest>(StoreError::kInternal,
                                     "request " + id + " vanished");
        }
        return Ok(std::move(*updated));
      });
  if (result.ok() && expired_instead) {
    return Fail<AccessRequest>(StoreError::kConflict,
                               "request " + id +
                                   " is expired, only pending requests can "
                                   "be decided");
  }
  return result;
}

StoreResult<AccessRequest> PgStore::CancelRequest(const std::string& id,
                                                  const std::string& actor,
                                                  int64_t now) {
  return Transact<AccessRequest>(
      &pool_, options_, "cancel_request", [&](Session& s, bool replay) {
        int64_t at = s.Now(now);
        auto found = s.FindRequest(id, true);
        if (!found) {
          return Fail<AccessRequest>(StoreError::kNotFound, "no request " + id);
        }
        if (found->requester != actor) {
          return Fail<AccessRequest>(StoreError::kForbidden,
                                     "only the requester may cancel a request");
        }
        if (replay && found->state == "cancelled") return Ok(*found);
        if (found->state != "pending") {
          return Fail<AccessRequest>(
              StoreError::kConflict,
              "request " + id + " is " + found->state +
                  ", only pending requests can be cancelled");
        }
        s.Exec(
            "UPDATE requests SET state = 'cancelled', decided_by = $1, "
            "decided_at = $2 WHERE id = $3 AND state = 'pending'",
            {P(actor), P(at), P(id)});
        s.AddEvent(id, std::nullopt, "cancelled", actor, at, "");
        auto updated = s.FindRequest(id, false);
        if (!updated) {
          return Fail<AccessRequest>(StoreError::kInternal,
                                     "request " + id + " vanished");
        }
        return Ok(std::move(*updated));
      });
}

StoreResult<std::vector<AccessRequest>> PgStore::ExpirePending(int64_t now) {
  return Transact<std::vector<AccessRequest>>(
      &pool_, options_, "expire_pending", [&](Session& s, bool) {
        int64_t at = s.Now(now);
        // SKIP LOCKED leaves a request that a vote has locked to that vote,
        // which expires the request itself when it comes too late.
        Rows due = s.Exec(std::string("SELECT ") + kRequestColumns +
                              " FROM requests WHERE state = 'pending' AND"
                              " pending_until > 0 AND pending_until <= $1"
                              " FOR UPDATE SKIP LOCKED",
                          {P(at)});
        std::vector<AccessRequest> expired;
        for (int i = 0; i < due.size(); ++i) {
          AccessRequest request = ReadRequest(due, i);
          if (!s.Expire(request)) continue;
          request.state = "expired";
          expired.push_back(std::move(request));
        }
        return Ok(std::move(expired));
      });
}

StoreResult<std::vector<RequestEvent>> PgStore::ListEvents(
    const std::string& request_id) {
  return Read<std::vector<RequestEvent>>(
      &pool_, options_, "list_events", [&](Session& s) {
        Rows rows = s.Exec(
            "SELECT sequence, request_id, grant_id, event, actor, at, detail, "
            "sign_in FROM events WHERE request_id = $1 ORDER BY sequence",
            {P(request_id)});
        return Ok(ReadAll<RequestEvent>(rows, [](const Rows& r, int i) {
          RequestEvent e;
          e.sequence = r.Int(i, 0);
          e.request = r.Text(i, 1);
          e.grant = r.OptionalText(i, 2);
          e.event = r.Text(i, 3);
          e.actor = r.Text(i, 4);
          e.at = r.Int(i, 5);
          e.detail = r.Text(i, 6);
          e.sign_in = DecodeSignIn(r.OptionalText(i, 7).value_or(""));
          return e;
        }));
      });
}

StoreResult<Grant> PgStore::GetGrant(const std::string& id) {
  return Read<Grant>(&pool_, options_, "get_grant", [&](Session& s) {
    auto found = s.FindGrant(id, false);
    if (!found) return Fail<Grant>(StoreError::kNotFound, "no grant " + id);
    return Ok(std::move(*found));
  });
}

StoreResult<std::vector<Grant>> PgStore::ListGrants(
    const std::optional<std::string>& user, bool active_only, int64_t now) {
  return Read<std::vector<Grant>>(
      &pool_, options_, "list_grants", [&](Session& s) {
        Rows rows = s.Exec(
            std::string("SELECT ") + kGrantColumns +
                " FROM grants WHERE ($1::text IS NULL OR user_name = $1)"
                " AND (NOT $2::boolean OR (revoked_at IS NULL"
                " AND expires_at > coalesce($3::bigint, " +
                kNowSql +
                ")))"
                " ORDER BY starts_at DESC, id DESC LIMIT $4",
            {P(user), P(active_only ? "true" : "false"),
             NowParam(options_, now), P(static_cast<int64_t>(kMaxListedRows))});
        return Ok(ReadAll<Grant>(rows, ReadGrant));
      });
}

StoreResult<std::vector<Grant>> PgStore::GrantsEndingBetween(int64_t after,
                                                              int64_t until) {
  return Read<std::vector<Grant>>(
      &pool_, options_, "grants_ending_between", [&](Session& s) {
        Rows rows = s.Exec(std::string("SELECT ") + kGrantColumns +
                               " FROM grants WHERE expires_at > $1 AND"
                               " expires_at <= $2 AND revoked_at IS NULL"
                               " ORDER BY expires_at",
                           {P(after), P(until)});
        return Ok(ReadAll<Grant>(rows, ReadGrant));
      });
}

StoreResult<std::vector<Grant>> PgStore::GrantsOf(const std::string& user,
                                                  const std::string& kind) {
  return Read<std::vector<Grant>>(
      &pool_, options_, "grants_of", [&](Session& s) {
        Rows rows = s.Exec(std::string("SELECT ") + kGrantColumns +
                               " FROM grants WHERE user_name = $1"
                               " AND kind = $2",
                           {P(user), P(kind)});
        return Ok(ReadAll<Grant>(rows, ReadGrant));
      });
}

StoreResult<std::vector<Grant>> PgStore::ActiveGrantsOf(const std::string& user,
                                                        const std::string& kind,
                                                        int64_t now) {
  return Read<std::vector<Grant>>(
      &pool_, options_, "active_grants_of", [&](Session& s) {
        Rows rows = s.Exec(std::string("SELECT ") + kGrantColumns +
                               " FROM grants WHERE user_name = $1 AND kind = "
                               "$2 AND revoked_at IS NULL AND expires_at > "
                               "coalesce($3::bigint, " +
                               kNowSql + ")",
                           {P(user), P(kind), NowParam(options_, now)});
        return Ok(ReadAll<Grant>(rows, ReadGrant));
      });
}

StoreResult<Grant> PgStore::RevokeGrant(
    const std::string& id, const std::string& actor,
    const std::optional<std::string>& reason, int64_t now) {
  return Transact<Grant>(
      &pool_, options_, "revoke_grant", [&](Session& s, bool replay) {
        int64_t at = s.Now(now);
        auto found = s.FindGrant(id, true);
        if (!found) return Fail<Grant>(StoreError::kNotFound, "no grant " + id);
        if (replay && found->revoked_by == actor) return Ok(*found);
        std::string state = found->StateAt(at);
        if (state != "active") {
          return Fail<Grant>(StoreError::kConflict,
                             "grant " + id + " is " + state +
                                 ", only active grants can be revoked");
        }
        s.Exec(
            "UPDATE grants SET revoked_by = $1, revoked_at = $2, "
            "revoke_reason = $3 WHERE id = $4 AND revoked_at IS NULL",
            {P(actor), P(at), P(reason), P(id)});
        s.AddEvent(found->request, id, "revoked", actor, at,
                   reason.value_or(""));
        auto updated = s.FindGrant(id, false);
        if (!updated) {
          return Fail<Grant>(StoreError::kInternal,
                             "grant " + id + " vanished");
        }
        return Ok(std::move(*updated));
      });
}

StoreResult<int64_t> PgStore::CountRequests(const std::string& state) {
  return Read<int64_t>(&pool_, options_, "count_requests", [&](Session& s) {
    Rows rows =
        s.Exec("SELECT count(*) FROM requests WHERE state = $1", {P(state)});
    return Ok<int64_t>(rows.Int(0, 0));
  });
}

StoreResult<bool> PgStore::RevokeHost(const std::string& host,
                                      const std::string& actor,
                                      const std::optional<std::string>& reason,
                                      int64_t now) {
  // Repeating the upsert after an unknown COMMIT outcome is harmless: it
  // records the same revocation again with the then current time.
  return Transact<bool>(
      &pool_, options_, "revoke_host", [&](Session& s, bool) {
        s.Exec(
            "INSERT INTO host_revocations (host, revoked_at, revoked_by, "
            "reason) VALUES ($1, $2, $3, $4) ON CONFLICT (host) DO UPDATE "
            "SET revoked_at = EXCLUDED.revoked_at, revoked_by = "
            "EXCLUDED.revoked_by, reason = EXCLUDED.reason",
            {P(host), P(s.Now(now)), P(actor), P(reason)});
        return Ok(true);
      });
}

StoreResult<int64_t> PgStore::HostRevokedAt(const std::string& host) {
  return Read<int64_t>(&pool_, options_, "host_revoked_at", [&](Session& s) {
    Rows rows = s.Exec(
        "SELECT revoked_at FROM host_revocations WHERE host = $1", {P(host)});
    if (rows.empty()) {
      return Fail<int64_t>(StoreError::kNotFound, "host not revoked");
    }
    return Ok<int64_t>(rows.Int(0, 0));
  });
}

StoreResult<RevocationPage> PgStore::ListRevocations(int64_t after,
                                                     int64_t now, int limit) {
  return Read<RevocationPage>(
      &pool_, options_, "list_revocations", [&](Session& s) {
        Rows rows = s.Exec(
            "SELECT e.sequence, e.grant_id, g.user_name, g.host, g.kind, "
            "e.at, g.expires_at FROM events e JOIN grants g ON g.id = "
            "e.grant_id WHERE e.event = 'revoked' AND e.sequence > $1 AND "
            "g.expires_at > $2 ORDER BY e.sequence LIMIT $3",
            {P(after), P(s.Now(now)), P(static_cast<int64_t>(limit))});
        RevocationPage page;
        page.revocations = ReadAll<Revocation>(rows, [](const Rows& r, int i) {
          Revocation revocation;
          revocation.sequence = r.Int(i, 0);
          revocation.grant = r.Text(i, 1);
          revocation.user = r.Text(i, 2);
          revocation.host = r.Text(i, 3);
          revocation.kind = r.Text(i, 4);
          revocation.at = r.Int(i, 5);
          revocation.expires_at = r.Int(i, 6);
          return revocation;
        });
        if (static_cast<int>(page.revocations.size()) == limit) {
          page.last = page.revocations.back().sequence;
          return Ok(std::move(page));
        }
        Rows head = s.Exec("SELECT COALESCE(MAX(sequence), 0) FROM events", {});
        page.last = std::max(head.Int(0, 0), after);
        return Ok(std::move(page));
      });
}

StoreResult<bool> PgStore::AddWebSession(const WebSession& session,
                                         int64_t now, int64_t max_sessions,
                                         int64_t max_per_person) {
  return Transact<bool>(
      &pool_, options_, "add_web_session", [&](Session& s, bool replay) {
        int64_t at = s.Now(now);
        s.Exec("DELETE FROM web_sessions WHERE expires_at <= $1", {P(at)});
        s.Exec(
            "DELETE FROM web_sessions WHERE person = $1 AND id_sha256 NOT IN "
            "(SELECT id_sha256 FROM web_sessions WHERE person = $1 ORDER BY "
            "created_at DESC, id_sha256 DESC LIMIT $2)",
            {P(session.person),
             P(std::max<int64_t>(max_per_person - 1, 0))});
        Rows count = s.Exec("SELECT count(*) FROM web_sessions", {});
        if (count.Int(0, 0) >= max_sessions) {
          return Fail<bool>(StoreError::kConflict, "too many web sessions");
        }
        // A replay after an unknown COMMIT outcome finds its own row.
        std::string conflict = replay ? " ON CONFLICT (id_sha256) DO NOTHING"
                                      : "";
        s.Exec(
            "INSERT INTO web_sessions (id_sha256, person, roles, "
            "may_request, csrf, sign_in, created_at, expires_at) VALUES ($1, "
            "$2, $3, $4, $5, $6, $7, $8)" +
                conflict,
            {P(session.id_sha256), P(session.person),
             P(ToJsonText(session.roles)),
             P(int64_t{session.may_request ? 1 : 0}), P(session.csrf),
             P(EncodeSignIn(session.sign_in)), P(session.created_at),
             P(session.expires_at)});
        return Ok(true);
      });
}

StoreResult<WebSession> PgStore::FindWebSession(const std::string& id_sha256,
                                                int64_t now) {
  return Read<WebSession>(
      &pool_, options_, "find_web_session", [&](Session& s) {
        Rows rows = s.Exec(
            std::string("SELECT id_sha256, person, roles, may_request, csrf, "
                        "sign_in, created_at, expires_at FROM web_sessions "
                        "WHERE id_sha256 = $1 AND expires_at > ") +
                (options_.database_clock ? kNowSql : "$2"),
            options_.database_clock
                ? std::vector<pg::Param>{P(id_sha256)}
                : std::vector<pg::Param>{P(id_sha256), P(now)});
        if (rows.empty()) {
          return Fail<WebSession>(StoreError::kNotFound,
                                  "no such web session");
        }
        WebSession session;
        session.id_sha256 = rows.Text(0, 0);
        session.person = rows.Text(0, 1);
        session.roles = FromJsonText(rows.Text(0, 2));
        session.may_request = rows.Int(0, 3) != 0;
        session.csrf = rows.Text(0, 4);
        session.sign_in = DecodeSignIn(rows.Text(0, 5));
        session.created_at = rows.Int(0, 6);
        session.expires_at = rows.Int(0, 7);
        return Ok(std::move(session));
      });
}

StoreResult<bool> PgStore::DeleteWebSession(const std::string& id_sha256) {
  return Transact<bool>(
      &pool_, options_, "delete_web_session", [&](Session& s, bool) {
        s.Exec("DELETE FROM web_sessions WHERE id_sha256 = $1",
               {P(id_sha256)});
        return Ok(true);
      });
}

}  // namespace zsp::broker

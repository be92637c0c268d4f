// PgAuditStore: the audit store in the broker's PostgreSQL database. The
// database checks each record's hash and chain link on insert and rejects
// every UPDATE and DELETE of evidence.
#include <nlohmann/json.hpp>
#include <utility>

#include "broker/log.h"
#include "broker/store_pg.h"
#include "common/audit_spool.h"
#include "common/journal.h"
#include "common/jws.h"

namespace zsp::broker {
namespace {

using nlohmann::json;
using pg::Connection;
using pg::P;
using pg::PgError;
using pg::Rows;

const std::vector<std::string>& AuditMigrations() {
  static const std::vector<std::string> migrations = {
      std::string(R"sql(
CREATE TABLE audit_records (
  host text NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 1),
  hash text NOT NULL,
  prev text NOT NULL,
  line text NOT NULL,
  time bigint,
  user_name text,
  decision text,
  grant_id text,
  message_id text,
  received_at bigint NOT NULL,
  PRIMARY KEY (host, seq)
);
CREATE INDEX audit_records_time ON audit_records (time);
CREATE INDEX audit_records_message_id ON audit_records (message_id);
CREATE TABLE audit_checkpoints (
  host text NOT NULL,
  seq bigint NOT NULL,
  hash text NOT NULL,
  time bigint NOT NULL,
  jws text NOT NULL,
  PRIMARY KEY (host, seq)
);
CREATE TABLE audit_alerts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  host text NOT NULL,
  kind text NOT NULL,
  seq bigint NOT NULL,
  detail text NOT NULL,
  time bigint NOT NULL,
  UNIQUE (host, kind, seq)
);
CREATE TABLE audit_reviews (
  host text NOT NULL,
  seq bigint NOT NULL,
  reviewer text NOT NULL,
  comment text NOT NULL,
  time bigint NOT NULL,
  PRIMARY KEY (host, seq)
);

CREATE OR REPLACE FUNCTION zsp_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'ZS004';
END $$;
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE
  ON audit_records FOR EACH ROW EXECUTE FUNCTION zsp_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE
  ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION zsp_append_only();
CREATE TRIGGER audit_alerts_append_only BEFORE UPDATE OR DELETE
  ON audit_alerts FOR EACH ROW EXECUTE FUNCTION zsp_append_only();
CREATE TRIGGER audit_reviews_append_only BEFORE UPDATE OR DELETE
  ON audit_reviews FOR EACH ROW EXECUTE FUNCTION zsp_append_only();

-- A record must carry the SHA-256 of its own line and continue its host's
-- chain: seq 1 links to the genesis hash, every later one to the hash of
-- the record before it.
CREATE FUNCTION zsp_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  expected text;
BEGIN
  IF NEW.hash <> encode(sha256(convert_to(NEW.line, 'UTF8')), 'hex') THEN
    RAISE EXCEPTION 'record % of host % does not match its hash',
      NEW.seq, NEW.host USING ERRCODE = 'ZS003';
  END IF;
  IF NEW.seq = 1 THEN
    expected := ')sql") +
          kGenesisHash + R"sql(';
  ELSE
    SELECT hash INTO expected FROM audit_records
      WHERE host = NEW.host AND seq = NEW.seq - 1;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'record % of host % leaves a gap', NEW.seq, NEW.host
        USING ERRCODE = 'ZS003';
    END IF;
  END IF;
  IF NEW.prev <> expected THEN
    RAISE EXCEPTION 'record % of host % does not link to the record before',
      NEW.seq, NEW.host USING ERRCODE = 'ZS003';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_records_chain BEFORE INSERT ON audit_records
  FOR EACH ROW EXECUTE FUNCTION zsp_audit_chain();
)sql",
  };
  return migrations;
}

template <typename T>
StoreResult<T> FailFrom(const PgError& error) {
  StoreError kind = error.failure() == pg::Failure::kBusiness
                        ? StoreError::kConflict
                        : StoreError::kInternal;
  return Fail<T>(kind, std::string("PostgreSQL: ") + error.what());
}

std::optional<int64_t> TimeMember(const json& record) {
  auto it = record.find("time");
  if (it == record.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

struct ChainHead {
  uint64_t seq = 0;
  std::string hash = kGenesisHash;
};

int64_t TransactionNow(Connection& c, const StoreOptions& options, int64_t now,
                       pg::Clock::time_point deadline) {
  if (!options.database_clock) return now;
  return c
      .Exec(
          "SELECT floor(extract(epoch from transaction_timestamp()))"
          "::bigint",
          deadline)
      .Int(0, 0);
}

// Takes the transaction's lock on host's chain, which serialises appends
// of one host across broker instances, and reads the chain's head.
ChainHead LockChainHead(Connection& c, const std::string& host,
                        pg::Clock::time_point deadline) {
  c.Exec("SELECT pg_advisory_xact_lock(hashtext('zsp_audit:' || $1))",
         {P(host)}, deadline);
  ChainHead head;
  Rows last = c.Exec(
      "SELECT seq, hash FROM audit_records WHERE host = $1 ORDER BY "
      "seq DESC LIMIT 1",
      {P(host)}, deadline);
  if (!last.empty()) {
    head.seq = static_cast<uint64_t>(last.Int(0, 0));
    head.hash = last.Text(0, 1);
  }
  return head;
}

// Inserts a record that continues the chain. The chain trigger checks its
// hash and prev again.
void InsertRecord(Connection& c, const std::string& host, uint64_t seq,
                  const std::string& hash, const std::string& prev,
                  const std::string& line, const json& record, int64_t at,
                  pg::Clock::time_point deadline) {
  c.Exec(
      "INSERT INTO audit_records (host, seq, hash, prev, line, "
      "time, user_name, decision, grant_id, message_id, "
      "received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
      "$10, $11)",
      {P(host), P(static_cast<int64_t>(seq)), P(hash), P(prev), P(line),
       P(TimeMember(record)), P(StringMember(record, "ZSP_USER")),
       P(StringMember(record, "ZSP_DECISION")),
       P(StringMember(record, "ZSP_GRANT")),
       P(StringMember(record, "MESSAGE_ID")), P(at)},
      deadline);
}

// Inserts an alert once per (host, kind, seq); a retrying host that sends
// the same bad record again adds none.
AuditAlert RecordAlert(Connection& c, AuditAlert alert,
                       pg::Clock::time_point deadline) {
  Rows inserted = c.Exec(
      "INSERT INTO audit_alerts (host, kind, seq, detail, time) VALUES ($1, "
      "$2, $3, $4, $5) ON CONFLICT (host, kind, seq) DO NOTHING RETURNING id",
      {P(alert.host), P(alert.kind), P(static_cast<int64_t>(alert.seq)),
       P(alert.detail), P(alert.time)},
      deadline);
  if (!inserted.empty()) {
    alert.id = inserted.Int(0, 0);
    LogEvent("alert", {{"host", alert.host},
                       {"kind", alert.kind},
                       {"seq", std::to_string(alert.seq)},
                       {"detail", alert.detail}});
  }
  return alert;
}

// Adds to raised each alert of earlier that is stored but not in raised
// yet, with its stored id: an earlier attempt committed it, so this
// attempt found it and raised nothing.
void AddStoredAlerts(Connection& c, const std::vector<AuditAlert>& earlier,
                     std::vector<AuditAlert>* raised,
                     pg::Clock::time_point deadline) {
  for (const AuditAlert& alert : earlier) {
    bool listed = false;
    for (const AuditAlert& other : *raised) {
      listed = listed || (other.kind == alert.kind && other.seq == alert.seq);
    }
    if (listed) continue;
    Rows stored = c.Exec(
        "SELECT id FROM audit_alerts WHERE host = $1 AND kind = $2 AND "
        "seq = $3",
        {P(alert.host), P(alert.kind), P(static_cast<int64_t>(alert.seq))},
        deadline);
    if (stored.empty()) continue;
    AuditAlert found = alert;
    found.id = stored.Int(0, 0);
    raised->push_back(std::move(found));
  }
}

void MaybeCheckpoint(Connection& c, EVP_PKEY* key, const std::string& host,
                     uint64_t seq, const std::string& hash, int64_t now,
                     pg::Clock::time_point deadline) {
  Rows last = c.Exec(
      "SELECT seq, time FROM audit_checkpoints WHERE host = $1 ORDER BY seq "
      "DESC LIMIT 1",
      {P(host)}, deadline);
  if (!last.empty()) {
    uint64_t last_seq = static_cast<uint64_t>(last.Int(0, 0));
    int64_t last_time = last.Int(0, 1);
    if (seq <= last_seq) return;
    if (seq - last_seq < kCheckpointEveryRecords &&
        now - last_time < kCheckpointEverySeconds) {
      return;
    }
  }
  json payload = {{"host", host}, {"seq", seq}, {"hash", hash}, {"time", now}};
  auto jws = SignJws(key, payload.dump(), kCheckpointJwsType);
  if (!jws.ok()) throw PgError(pg::Failure::kInternal, "", jws.error());
  c.Exec(
      "INSERT INTO audit_checkpoints (host, seq, hash, time, jws) VALUES ($1, "
      "$2, $3, $4, $5)",
      {P(host), P(static_cast<int64_t>(seq)), P(hash), P(now), P(jws.value())},
      deadline);
}

}  // namespace

Result<std::unique_ptr<PgAuditStore>> PgAuditStore::Open(
    const std::string& conninfo, EvpPkeyPtr signing_key,
    const StoreOptions& options) {
  auto connection =
      Connection::Connect(conninfo, pg::Clock::now() + pg::kOperationDeadline);
  if (!connection.ok()) return Error{connection.error()};
  auto migrated =
      pg::Migrate(connection.value().get(), AuditMigrations(), "audit");
  if (!migrated.ok()) return Error{migrated.error()};
  return std::unique_ptr<PgAuditStore>(
      new PgAuditStore(conninfo, std::move(signing_key), options));
}

StoreResult<AppendOutcome> PgAuditStore::Append(
    const std::string& host, const std::vector<std::string>& lines,
    int64_t now) {
  auto deadline = pg::Clock::now() + pg::kOperationDeadline;
  // The alerts that the last attempt raised. When its COMMIT ended with an
  // unknown outcome, the replay finds them stored and reports them again,
  // so that the caller still counts and posts each one.
  std::vector<AuditAlert> raised_before;
  try {
    // Appending is idempotent: a replay counts the records that the lost
    // COMMIT stored as duplicates.
    return pg::RunTransaction<StoreResult<AppendOutcome>>(
        &pool_, "audit_append", [&](Connection& c, bool replay) {
          ChainHead head = LockChainHead(c, host, deadline);
          int64_t at = TransactionNow(c, options_, now, deadline);
          AppendOutcome outcome;
          auto raise = [&](const char* kind, uint64_t seq,
                           std::string detail) {
            AuditAlert alert = RecordAlert(
                c, AuditAlert{0, host, kind, seq, std::move(detail), at},
                deadline);
            if (alert.id != 0) outcome.raised.push_back(alert);
            return alert;
          };
          auto reject = [&](const char* kind, uint64_t seq,
                            std::string detail) {
            outcome.rejected = raise(kind, seq, std::move(detail));
          };
          for (const auto& line : lines) {
            json record = json::parse(line, nullptr, false);
            auto seq_it =
                record.is_object() ? record.find("seq") : record.end();
            auto prev = record.is_object() ? StringMember(record, "prev")
                                           : std::nullopt;
            if (seq_it == record.end() || !seq_it->is_number_unsigned() ||
                !prev) {
              reject("invalid_record", head.seq + 1,
                     "a record after " + std::to_string(head.seq) +
                         " is not a JSON object with seq and prev");
              break;
            }
            uint64_t seq = seq_it->get<uint64_t>();
            std::string hash = Sha256Hex(line);
            if (seq <= head.seq) {
              Rows stored = c.Exec(
                  "SELECT line FROM audit_records WHERE host = $1 AND seq = $2",
                  {P(host), P(static_cast<int64_t>(seq))}, deadline);
              if (!stored.empty() && stored.Text(0, 0) == line) {
                ++outcome.duplicates;
                continue;
              }
              reject("conflict", seq,
                     "record " + std::to_string(seq) +
                         " differs from the record stored under that "
                         "sequence number");
              break;
            }
            if (seq != head.seq + 1) {
              reject("gap", seq,
                     "expected record " + std::to_string(head.seq + 1) +
                         ", received " + std::to_string(seq));
              break;
            }
            if (*prev != head.hash) {
              reject("hash_mismatch", seq,
                     "prev of record " + std::to_string(seq) +
                         " is not the SHA-256 of stored record " +
                         std::to_string(head.seq));
              break;
            }
            InsertRecord(c, host, seq, hash, *prev, line, record, at,
                         deadline);
            if (auto detail = SpoolRepairedDetail(record)) {
              raise(kSpoolRepairedAlert, seq, std::move(*detail));
            }
            head.seq = seq;
            head.hash = hash;
            ++outcome.stored;
          }
          if (outcome.stored > 0) {
            MaybeCheckpoint(c, key_.get(), host, head.seq, head.hash, at,
                            deadline);
          }
          if (replay) {
            AddStoredAlerts(c, raised_before, &outcome.raised, deadline);
          }
          raised_before = outcome.raised;
          outcome.accepted_through = head.seq;
          return Ok(std::move(outcome));
        });
  } catch (const PgError& error) {
    return FailFrom<AppendOutcome>(error);
  }
}

StoreResult<SpoolPosition> PgAuditStore::AppendRecord(
    const std::string& chain, const std::vector<std::string>& fields,
    int64_t now) {
  auto deadline = pg::Clock::now() + pg::kOperationDeadline;
  try {
    // A replay after an unknown COMMIT outcome may append the record a
    // second time, with the next seq.
    return pg::RunTransaction<StoreResult<SpoolPosition>>(
        &pool_, "audit_append_record", [&](Connection& c, bool) {
          ChainHead head = LockChainHead(c, chain, deadline);
          int64_t at = TransactionNow(c, options_, now, deadline);
          uint64_t seq = head.seq + 1;
          std::string line = EncodeSpoolRecord(fields, seq, head.hash, at);
          std::string hash = Sha256Hex(line);
          InsertRecord(c, chain, seq, hash, head.hash, line,
                       json::parse(line, nullptr, false), at, deadline);
          MaybeCheckpoint(c, key_.get(), chain, seq, hash, at, deadline);
          return Ok(SpoolPosition{seq, hash});
        });
  } catch (const PgError& error) {
    return FailFrom<SpoolPosition>(error);
  }
}

StoreResult<std::vector<AuditRow>> PgAuditStore::ListRecords(
    const AuditFilter& filter) {
  auto deadline = pg::Clock::now() + pg::kOperationDeadline;
  try {
    return pg::RunRead<StoreResult<std::vector<AuditRow>>>(
        &pool_, "audit_list", [&](Connection& c) {
          Rows rows = c.Exec(
              "SELECT host, seq, hash, line, received_at,"
              " coalesce((SELECT reviewer FROM audit_reviews r WHERE"
              " r.host = a.host AND r.seq = a.seq), '')"
              " FROM audit_records a"
              " WHERE ($1::text IS NULL OR host = $1)"
              " AND ($2::text IS NULL OR user_name = $2)"
              " AND ($3::text IS NULL OR decision = $3)"
              " AND ($4::text IS NULL OR grant_id = $4)"
              " AND ($5::bigint IS NULL OR time >= $5)"
              " AND ($6::bigint IS NULL OR time < $6)"
              " AND seq > $7"
              " AND (NOT $9::boolean OR message_id IN ($10, $11))"
              " AND (NOT $12::boolean OR NOT EXISTS (SELECT 1 FROM"
              " audit_reviews r WHERE r.host = a.host AND r.seq = a.seq))"
              " ORDER BY host, seq LIMIT $8",
              {P(filter.host), P(filter.user), P(filter.decision),
               P(filter.grant), P(filter.since), P(filter.until),
               P(static_cast<int64_t>(filter.after_seq)),
               P(static_cast<int64_t>(filter.limit)),
               P(filter.break_glass ? "true" : "false"),
               P(std::string(MessageId(AuditEvent::kBreakGlassAllow))),
               P(std::string(MessageId(AuditEvent::kBreakGlassDeny))),
               P(filter.unreviewed ? "true" : "false")},
              deadline);
          std::vector<AuditRow> list;
          for (int i = 0; i < rows.size(); ++i) {
            list.push_back(AuditRow{rows.Text(i, 0),
                                    static_cast<uint64_t>(rows.Int(i, 1)),
                                    rows.Text(i, 2), rows.Text(i, 3),
                                    rows.Int(i, 4), rows.Text(i, 5)});
          }
          return Ok(std::move(list));
        });
  } catch (const PgError& error) {
    return FailFrom<std::vector<AuditRow>>(error);
  }
}

StoreResult<AuditReview> PgAuditStore::AddReview(const std::string& host,
                                                 uint64_t seq,
                                                 const std::string& reviewer,
                                                 const std::string& comment,
                                                 int64_t now) {
  auto deadline = pg::Clock::now() + pg::kOperationDeadline;
  try {
    return pg::RunTransaction<StoreResult<AuditReview>>(
        &pool_, "audit_review", [&](Connection& c, bool replay) {
          int64_t at = TransactionNow(c, options_, now, deadline);
          Rows record = c.Exec(
              "SELECT message_id, user_name FROM audit_records WHERE "
              "host = $1 AND seq = $2",
              {P(host), P(static_cast<int64_t>(seq))}, deadline);
          if (record.empty()) {
            return Fail<AuditReview>(
                StoreError::kNotFound,
                "no record " + std::to_string(seq) + " from host " + host);
          }
          std::string message_id = record.Text(0, 0);
          if (message_id != MessageId(AuditEvent::kBreakGlassAllow) &&
              message_id != MessageId(AuditEvent::kBreakGlassDeny)) {
            return Fail<AuditReview>(StoreError::kConflict,
                                     "record " + std::to_string(seq) +
                                         " is not a break-glass record");
          }
          if (record.Text(0, 1) == reviewer) {
            return Fail<AuditReview>(
                StoreError::kForbidden,
                "nobody may review their own emergency access");
          }
          Rows existing = c.Exec(
              "SELECT reviewer, comment, time FROM audit_reviews WHERE "
              "host = $1 AND seq = $2",
              {P(host), P(static_cast<int64_t>(seq))}, deadline);
          if (!existing.empty()) {
            if (replay && existing.Text(0, 0) == reviewer) {
              return Ok(AuditReview{host, seq, reviewer, existing.Text(0, 1),
                                    existing.Int(0, 2)});
            }
            return Fail<AuditReview>(
                StoreError::kConflict,
                "record " + std::to_string(seq) + " has been reviewed already");
          }
          c.Exec(
              "INSERT INTO audit_reviews (host, seq, reviewer, comment, time) "
              "VALUES ($1, $2, $3, $4, $5)",
              {P(host), P(static_cast<int64_t>(seq)), P(reviewer), P(comment),
               P(at)},
              deadline);
          return Ok(AuditReview{host, seq, reviewer, comment, at});
        });
  } catch (const PgError& error) {
    return FailFrom<AuditReview>(error);
  }
}

StoreResult<std::vector<AuditCheckpoint>> PgAuditStore::ListCheckpoints(
    const std::optional<std::string>& host) {
  auto deadline = pg::Clock::now() + pg::kOperationDeadline;
  try {
    return pg::RunRead<StoreResult<std::vector<AuditCheckpoint>>>(
        &pool_, "audit_checkpoints", [&](Connection& c) {
          Rows rows = c.Exec(
              "SELECT host, seq, hash, time, jws FROM audit_checkpoints"
              " WHERE ($1::text IS NULL OR host = $1) ORDER BY host, seq"
              " LIMIT $2",
              {P(host), P(static_cast<int64_t>(kMaxAuditListedRows))},
              deadline);
          std::vector<AuditCheckpoint> list;
          for (int i = 0; i < rows.size(); ++i) {
            list.push_back(AuditCheckpoint{
                rows.Text(i, 0), static_cast<uint64_t>(rows.Int(i, 1)),
                rows.Text(i, 2), rows.Int(i, 3), rows.Text(i, 4)});
          }
          return Ok(std::move(list));
        });
  } catch (const PgError& error) {
    return FailFrom<std::vector<AuditCheckpoint>>(error);
  }
}

StoreResult<std::vector<AuditAlert>> PgAuditStore::ListAlerts(
    const std::optional<std::string>& host) {
  auto deadline = pg::Clock::now() + pg::kOperationDeadline;
  try {
    return pg::RunRead<StoreResult<std::vector<AuditAlert>>>(
        &pool_, "audit_alerts", [&](Connection& c) {
          Rows rows = c.Exec(
              "SELECT id, host, kind, seq, detail, time FROM audit_alerts"
              " WHERE ($1::text IS NULL OR host = $1) ORDER BY id LIMIT $2",
              {P(host), P(static_cast<int64_t>(kMaxAuditListedRows))},
              deadline);
          std::vector<AuditAlert> list;
          for (int i = 0; i < rows.size(); ++i) {
            list.push_back(AuditAlert{rows.Int(i, 0), rows.Text(i, 1),
                                      rows.Text(i, 2),
                                      static_cast<uint64_t>(rows.Int(i, 3)),
                                      rows.Text(i, 4), rows.Int(i, 5)});
          }
          return Ok(std::move(list));
        });
  } catch (const PgError& error) {
    return FailFrom<std::vector<AuditAlert>>(error);
  }
}

}  // namespace zsp::broker

#include "broker/pg.h"

#include <poll.h>

#include <charconv>

#include "broker/log.h"

namespace zsp::broker::pg {
namespace {

// The first attempt's backoff; each later one doubles up to the maximum.
constexpr auto kFirstBackoff = std::chrono::milliseconds(50);
constexpr auto kMaxBackoff = std::chrono::milliseconds(800);
// Key of the advisory lock that serialises schema migrations.
constexpr int64_t kMigrationLockKey = 0x7a73705f736368;  // "zsp_sch"
// How long the listener waits between reconnection attempts.
constexpr auto kListenerRetry = std::chrono::milliseconds(500);
// Waiters re-read at least this often, so that a notification lost on a
// LISTEN connection that died silently costs latency, not correctness.
constexpr auto kMaxWaitSlice = std::chrono::seconds(3);

// libpq error messages end with a newline.
std::string Trimmed(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

Failure ClassifySqlState(const std::string& sqlstate) {
  if (sqlstate.empty()) return Failure::kRetrySafe;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" ||
      sqlstate == "57014") {
    return Failure::kRetryTransaction;
  }
  // Connection exceptions, a server shutting down or starting, too many
  // connections, and a server that became a read-only standby.
  if (sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03" || sqlstate == "53300" ||
      sqlstate == "25006") {
    return Failure::kRetrySafe;
  }
  // Integrity constraints and the schema's own triggers (class ZS).
  if (sqlstate.rfind("23", 0) == 0 || sqlstate.rfind("ZS", 0) == 0) {
    return Failure::kBusiness;
  }
  return Failure::kInternal;
}

Param P(const std::string& value) { return value; }
Param P(const char* value) { return std::string(value); }
Param P(int64_t value) { return std::to_string(value); }
Param P(const std::optional<std::string>& value) { return value; }
Param P(const std::optional<int64_t>& value) {
  if (!value.has_value()) return std::nullopt;
  return std::to_string(*value);
}

int64_t Rows::affected() const {
  const char* text = PQcmdTuples(result_.get());
  int64_t count = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), count);
  return count;
}

std::string Rows::Text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     PQgetlength(result_.get(), row, column));
}

std::optional<std::string> Rows::OptionalText(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Text(row, column);
}

int64_t Rows::Int(int row, int column) const {
  std::string text = Text(row, column);
  int64_t value = 0;
  auto parsed = std::from_chars(text.data(), text.data() + text.size(), value);
  if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) {
    throw PgError(Failure::kInternal, "",
                  "expected an integer in column " + std::to_string(column) +
                      ", read \"" + text + "\"");
  }
  return value;
}

std::optional<int64_t> Rows::OptionalInt(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Int(row, column);
}

Result<std::unique_ptr<Connection>> Connection::Connect(
    const std::string& conninfo, Clock::time_point deadline) {
  // Later keywords override what the connection string sets, so the
  // session attributes below always apply.
  std::string connect_timeout =
      std::to_string(std::max(2, (RemainingMs(deadline) + 999) / 1000));
  const char* keywords[] = {"dbname", "target_session_attrs", "connect_timeout",
                            "application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "read-write",
                          connect_timeout.c_str(), "zsp-broker", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  std::unique_ptr<Connection> connection(new Connection(conn));
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    return Error{
        "PostgreSQL connection failed: " +
        Trimmed(conn != nullptr ? PQerrorMessage(conn) : "out of memory")};
  }
  // Replaces libpq's default, which prints notices such as "relation
  // already exists, skipping" on stderr.
  PQsetNoticeReceiver(conn, ReceiveNotice, connection.get());
  try {
    connection->Exec(
        "SET statement_timeout = " + std::to_string(kStatementTimeoutMs) +
            "; SET lock_timeout = " + std::to_string(kLockTimeoutMs) +
            "; SET idle_in_transaction_session_timeout = " +
            std::to_string(kIdleInTransactionTimeoutMs) +
            "; SET TIME ZONE 'UTC'",
        deadline);
  } catch (const PgError& error) {
    return Error{std::string("PostgreSQL session setup failed: ") +
                 error.what()};
  }
  return connection;
}

void Connection::ReceiveNotice(void* connection, const PGresult* notice) {
  const char* severity =
      PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity != nullptr && std::string(severity) == "WARNING") {
    static_cast<Connection*>(connection)->warned_ = true;
  }
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool Connection::idle() const {
  return !broken_ && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

void Connection::FailBroken(const std::string& what) {
  broken_ = true;
  throw PgError(Failure::kRetrySafe, "", what);
}

bool Connection::WaitReadable(Clock::time_point deadline) {
  pollfd entry{PQsocket(conn_), POLLIN, 0};
  while (true) {
    int ready = poll(&entry, 1, RemainingMs(deadline));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return false;
  }
}

Rows Connection::Exec(const std::string& sql, const std::vector<Param>& params,
                      Clock::time_point deadline) {
  if (broken_) FailBroken("the connection broke earlier");
  warned_ = false;
  deadline = std::min(deadline, Clock::now() + kStatementDeadline);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) {
    values.push_back(param.has_value() ? param->c_str() : nullptr);
  }
  int sent = params.empty()
                 ? PQsendQuery(conn_, sql.c_str())
                 : PQsendQueryParams(conn_, sql.c_str(),
                                     static_cast<int>(params.size()), nullptr,
                                     values.data(), nullptr, nullptr, 0);
  if (sent != 1) FailBroken("send failed: " + Trimmed(PQerrorMessage(conn_)));

  PGresult* last = nullptr;
  PGresult* failed = nullptr;
  while (true) {
    while (PQisBusy(conn_)) {
      if (!WaitReadable(deadline)) {
        // Ask the server to stop, then drop the connection: its state is
        // unknown, and a stuck COMMIT must never hang the caller.
        if (PGcancel* cancel = PQgetCancel(conn_)) {
          char message[256];
          PQcancel(cancel, message, sizeof message);
          PQfreeCancel(cancel);
        }
        PQclear(last);
        PQclear(failed);
        FailBroken("timed out after " +
                   std::to_string(kStatementDeadline.count()) +
                   " ms waiting for the database");
      }
      if (PQconsumeInput(conn_) != 1) {
        PQclear(last);
        PQclear(failed);
        FailBroken("connection lost: " + Trimmed(PQerrorMessage(conn_)));
      }
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_FATAL_ERROR && failed == nullptr) {
      failed = result;
    } else {
      PQclear(last);
      last = result;
    }
  }
  if (failed != nullptr) {
    PQclear(last);
    const char* state = PQresultErrorField(failed, PG_DIAG_SQLSTATE);
    std::string sqlstate = state != nullptr ? state : "";
    std::string message = Trimmed(PQresultErrorMessage(failed));
    PQclear(failed);
    if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
    throw PgError(ClassifySqlState(sqlstate), sqlstate, message);
  }
  if (last == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    PQclear(last);
    FailBroken("connection lost: " + Trimmed(PQerrorMessage(conn_)));
  }
  return Rows(last);
}

Pool::Lease::~Lease() {
  if (connection_ == nullptr) return;
  if (!connection_->broken() && !connection_->idle()) {
    try {
      connection_->Exec("ROLLBACK", Clock::now() + kStatementDeadline);
    } catch (const PgError&) {
      // The connection is marked broken and dropped below.
    }
  }
  pool_->Release(std::move(connection_));
}

Pool::Lease Pool::Acquire(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (idle_.empty() && open_ >= size_) {
    if (available_.wait_until(lock, deadline) == std::cv_status::timeout) {
      throw PgError(Failure::kRetrySafe, "",
                    "timed out waiting for a free database connection");
    }
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(connection));
  }
  ++open_;
  lock.unlock();
  auto connected = Connection::Connect(conninfo_, deadline);
  if (!connected.ok()) {
    lock.lock();
    --open_;
    available_.notify_one();
    throw PgError(Failure::kRetrySafe, "", connected.error());
  }
  return Lease(this, std::move(connected).value());
}

void Pool::Release(std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (connection->idle()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
  available_.notify_one();
}

void LogRetry(const char* operation, const PgError& error, Failure failure,
              int attempt) {
  const char* kind = "retry_safe";
  if (failure == Failure::kRetryTransaction) kind = "retry_transaction";
  if (failure == Failure::kOutcomeUnknown) kind = "outcome_unknown";
  LogEvent("retry", {{"operation", operation},
                     {"attempt", std::to_string(attempt)},
                     {"failure", kind},
                     {"sqlstate", error.sqlstate()},
                     {"error", error.what()}});
}

bool Backoff(int attempt, Clock::time_point deadline) {
  auto delay = kFirstBackoff;
  for (int i = 1; i < attempt && delay < kMaxBackoff; ++i) delay *= 2;
  delay = std::min(delay, kMaxBackoff);
  if (Clock::now() + delay >= deadline) return false;
  std::this_thread::sleep_for(delay);
  return true;
}

Listener::Listener(std::string conninfo, std::string channel)
    : conninfo_(std::move(conninfo)), channel_(std::move(channel)) {
  thread_ = std::thread([this] { Run(); });
}

Listener::~Listener() {
  stopping_ = true;
  thread_.join();
}

uint64_t Listener::Mark() {
  std::lock_guard<std::mutex> lock(mutex_);
  return generation_;
}

void Listener::Bump() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
  }
  changed_.notify_all();
}

void Listener::WaitForChange(uint64_t mark, Clock::time_point deadline) {
  deadline = std::min(deadline, Clock::now() + kMaxWaitSlice);
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return generation_ != mark; });
}

void Listener::Run() {
  bool logged_failure = false;
  while (!stopping_) {
    auto connected =
        Connection::Connect(conninfo_, Clock::now() + kStatementDeadline);
    if (!connected.ok()) {
      if (!logged_failure) {
        LogEvent("error", {{"detail", "LISTEN connection failed, retrying"},
                           {"error", connected.error()}});
        logged_failure = true;
      }
      std::this_thread::sleep_for(kListenerRetry);
      continue;
    }
    std::unique_ptr<Connection> connection = std::move(connected).value();
    try {
      connection->Exec("LISTEN " + channel_, Clock::now() + kStatementDeadline);
    } catch (const PgError& error) {
      LogEvent("error", {{"detail", "LISTEN failed, retrying"},
                         {"error", error.what()}});
      std::this_thread::sleep_for(kListenerRetry);
      continue;
    }
    if (logged_failure) LogEvent("listen", {{"channel", channel_}});
    logged_failure = false;
    // Notifications sent while no connection listened are lost: wake the
    // waiters so that they read again.
    Bump();
    PGconn* conn = connection->raw();
    while (!stopping_) {
      pollfd entry{PQsocket(conn), POLLIN, 0};
      int ready = poll(&entry, 1, 200);
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      if (PQconsumeInput(conn) != 1) break;
      bool any = false;
      while (PGnotify* notify = PQnotifies(conn)) {
        any = true;
        PQfreemem(notify);
      }
      if (any) Bump();
    }
    if (!stopping_) {
      LogEvent("error", {{"detail", "LISTEN connection lost, reconnecting"},
                         {"error", Trimmed(PQerrorMessage(conn))}});
    }
  }
}

Result<bool> Migrate(Connection* connection,
                     const std::vector<std::string>& migrations,
                     const std::string& component) {
  Clock::time_point deadline = Clock::now() + kOperationDeadline;
  try {
    connection->Exec("BEGIN", deadline);
    connection->Exec("SELECT pg_advisory_xact_lock($1)", {P(kMigrationLockKey)},
                     deadline);
    connection->Exec(
        "CREATE TABLE IF NOT EXISTS zsp_migrations (component text NOT NULL, "
        "version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT "
        "now(), PRIMARY KEY (component, version))",
        deadline);
    Rows applied = connection->Exec(
        "SELECT coalesce(max(version), 0) FROM zsp_migrations WHERE "
        "component = $1",
        {P(component)}, deadline);
    int64_t have = applied.Int(0, 0);
    for (size_t i = static_cast<size_t>(have); i < migrations.size(); ++i) {
      connection->Exec(migrations[i], deadline);
      connection->Exec(
          "INSERT INTO zsp_migrations (component, version) VALUES ($1, $2)",
          {P(component), P(static_cast<int64_t>(i + 1))}, deadline);
    }
    connection->Exec("COMMIT", deadline);
  } catch (const PgError& error) {
    return Error{"schema migration of " + component +
                 " failed: " + error.what()};
  }
  return true;
}

}  // namespace zsp::broker::pg

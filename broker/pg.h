// libpq plumbing for the PostgreSQL back ends: connections with a
// client-side deadline on every call, a small pool, failure classes for
// retries, a transaction runner and a LISTEN connection for wake-ups.
#ifndef ZSP_BROKER_PG_H_
#define ZSP_BROKER_PG_H_

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"

namespace zsp::broker::pg {

using Clock = std::chrono::steady_clock;

// Server-side limits set on every connection, and the client-side
// deadlines that bound a call even when the server or the network stalls.
inline constexpr int kStatementTimeoutMs = 2500;
inline constexpr int kLockTimeoutMs = 2000;
inline constexpr int kIdleInTransactionTimeoutMs = 10000;
inline constexpr auto kStatementDeadline = std::chrono::milliseconds(3000);
// One store operation, retries included. Long enough to ride through a
// failover of a few seconds; hosts have their own, shorter timeouts.
inline constexpr auto kOperationDeadline = std::chrono::milliseconds(8000);
// Connections per pool; cpp-httplib serves with 8 threads by default.
inline constexpr size_t kPoolSize = 8;

// Retry class of a failed database call.
enum class Failure {
  kRetrySafe,         // nothing was committed: reconnect and run again
  kRetryTransaction,  // serialization failure, deadlock, timeout
  kOutcomeUnknown,    // the connection broke during COMMIT
  kBusiness,          // a constraint or trigger rejected the change
  kInternal,          // anything else; not retried
};

class PgError : public std::runtime_error {
 public:
  PgError(Failure failure, std::string sqlstate, const std::string& message)
      : std::runtime_error(message),
        failure_(failure),
        sqlstate_(std::move(sqlstate)) {}
  Failure failure() const { return failure_; }
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  Failure failure_;
  std::string sqlstate_;
};

// Classifies a SQLSTATE. An empty one (no server response) is a broken
// connection.
Failure ClassifySqlState(const std::string& sqlstate);

// One text parameter; nullopt binds SQL NULL.
using Param = std::optional<std::string>;
Param P(const std::string& value);
Param P(const char* value);
Param P(int64_t value);
Param P(const std::optional<std::string>& value);
Param P(const std::optional<int64_t>& value);

// The rows of one statement, in text format.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  // Rows changed by INSERT, UPDATE or DELETE.
  int64_t affected() const;
  bool IsNull(int row, int column) const {
    return PQgetisnull(result_.get(), row, column) != 0;
  }
  std::string Text(int row, int column) const;
  std::optional<std::string> OptionalText(int row, int column) const;
  int64_t Int(int row, int column) const;
  std::optional<int64_t> OptionalInt(int row, int column) const;
  bool Bool(int row, int column) const { return Text(row, column) == "t"; }

 private:
  std::shared_ptr<PGresult> result_;
};

class Connection {
 public:
  // Connects with libpq; conninfo may be a URI or keyword list and may name
  // several hosts. The session always targets a read-write server (the
  // primary), so every read, host decisions included, sees the newest
  // committed state.
  static Result<std::unique_ptr<Connection>> Connect(
      const std::string& conninfo, Clock::time_point deadline);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with parameters $1, $2, ... and waits for it until
  // deadline (capped at kStatementDeadline). Throws PgError; a connection
  // that broke or timed out is marked broken and must not be reused.
  Rows Exec(const std::string& sql, const std::vector<Param>& params,
            Clock::time_point deadline);
  Rows Exec(const std::string& sql, Clock::time_point deadline) {
    return Exec(sql, {}, deadline);
  }

  bool broken() const { return broken_; }
  bool idle() const;
  // True when the server sent a WARNING during the last Exec. When the
  // wait of a COMMIT for a synchronous standby is cancelled, PostgreSQL
  // returns success with a WARNING: committed locally, perhaps not
  // replicated.
  bool warned() const { return warned_; }
  PGconn* raw() { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  // Waits until the socket is readable or deadline; false on timeout.
  bool WaitReadable(Clock::time_point deadline);
  [[noreturn]] void FailBroken(const std::string& what);

  static void ReceiveNotice(void* connection, const PGresult* notice);

  PGconn* conn_;
  bool broken_ = false;
  bool warned_ = false;
};

class Pool {
 public:
  Pool(std::string conninfo, size_t size)
      : conninfo_(std::move(conninfo)), size_(size) {}

  // A connection for the caller alone, returned to the pool on
  // destruction unless it broke or was left inside a transaction.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    ~Lease();
    Connection* operator->() { return connection_.get(); }
    Connection& operator*() { return *connection_; }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // Throws PgError (kRetrySafe) when no connection can be made in time.
  Lease Acquire(Clock::time_point deadline);

 private:
  void Release(std::unique_ptr<Connection> connection);

  std::string conninfo_;
  size_t size_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;
};

// Runs body(connection, replay) in a transaction with retries until
// kOperationDeadline. replay is true once a COMMIT ended with an unknown
// outcome. The body then finds its own earlier write and returns it
// instead of failing on it, so every body must be safe to replay. A body
// that returns a failed result is rolled back and not retried. Throws the
// last PgError when the deadline passes or the failure is not retryable.
template <typename R>
R RunTransaction(Pool* pool, const char* operation,
                 const std::function<R(Connection&, bool replay)>& body);

// Runs a read with retries on retry-safe failures, without BEGIN/COMMIT.
template <typename R>
R RunRead(Pool* pool, const char* operation,
          const std::function<R(Connection&)>& body);

// Logs one retry with its failure class and the operation.
void LogRetry(const char* operation, const PgError& error, Failure failure,
              int attempt);
// Sleeps before attempt (1-based) with a doubling backoff, unless that
// passes deadline; returns false then.
bool Backoff(int attempt, Clock::time_point deadline);

// A dedicated connection (never a pooled one) that LISTENs on a channel
// and counts notifications. Reconnects on failure, and counts a reconnect
// as a change because notifications may have been missed meanwhile.
class Listener {
 public:
  Listener(std::string conninfo, std::string channel);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint64_t Mark();
  void WaitForChange(uint64_t mark, Clock::time_point deadline);

 private:
  void Run();
  void Bump();

  std::string conninfo_;
  std::string channel_;
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t generation_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Applies the numbered migrations that the database does not have yet,
// under a transaction-scoped advisory lock, so that several instances
// starting at once apply each migration exactly once.
Result<bool> Migrate(Connection* connection,
                     const std::vector<std::string>& migrations,
                     const std::string& component);

// -- template definitions --------------------------------------------------

template <typename R>
R RunTransaction(Pool* pool, const char* operation,
                 const std::function<R(Connection&, bool replay)>& body) {
  Clock::time_point deadline = Clock::now() + kOperationDeadline;
  bool replay = false;
  for (int attempt = 1;; ++attempt) {
    bool committing = false;
    try {
      Pool::Lease lease = pool->Acquire(deadline);
      lease->Exec("BEGIN", deadline);
      // A replay may find a write whose COMMIT was cut off while waiting
      // for a synchronous standby: committed on the primary, perhaps not
      // replicated. Writing WAL in the replay makes its COMMIT wait for
      // the standby too, and WAL is replicated in order, so the replay
      // acknowledges only data that the standby has. (A transaction that
      // wrote no WAL commits without waiting, even with an xid.)
      if (replay) {
        lease->Exec("SELECT pg_logical_emit_message(true, 'zsp', 'replay')",
                    deadline);
      }
      R result = body(*lease, replay);
      if (!result.ok()) {
        lease->Exec("ROLLBACK", deadline);
        return result;
      }
      committing = true;
      lease->Exec("COMMIT", deadline);
      if (lease->warned()) {
        throw PgError(Failure::kOutcomeUnknown, "",
                      "COMMIT returned a warning; it may not have reached "
                      "the synchronous standby");
      }
      return result;
    } catch (const PgError& error) {
      Failure failure = error.failure();
      if (committing && failure == Failure::kRetrySafe) {
        failure = Failure::kOutcomeUnknown;
      }
      bool retryable = failure == Failure::kRetrySafe ||
                       failure == Failure::kRetryTransaction ||
                       failure == Failure::kOutcomeUnknown;
      if (!retryable) throw;
      if (failure == Failure::kOutcomeUnknown) replay = true;
      LogRetry(operation, error, failure, attempt);
      if (!Backoff(attempt, deadline)) {
        throw PgError(failure, error.sqlstate(),
                      std::string(operation) + " failed after " +
                          std::to_string(attempt) +
                          " attempts: " + error.what());
      }
    }
  }
}

template <typename R>
R RunRead(Pool* pool, const char* operation,
          const std::function<R(Connection&)>& body) {
  Clock::time_point deadline = Clock::now() + kOperationDeadline;
  for (int attempt = 1;; ++attempt) {
    try {
      Pool::Lease lease = pool->Acquire(deadline);
      return body(*lease);
    } catch (const PgError& error) {
      bool retryable = error.failure() == Failure::kRetrySafe ||
                       error.failure() == Failure::kRetryTransaction;
      if (!retryable) throw;
      LogRetry(operation, error, error.failure(), attempt);
      if (!Backoff(attempt, deadline)) {
        throw PgError(error.failure(), error.sqlstate(),
                      std::string(operation) + " failed after " +
                          std::to_string(attempt) +
                          " attempts: " + error.what());
      }
    }
  }
}

}  // namespace zsp::broker::pg

#endif  // ZSP_BROKER_PG_H_

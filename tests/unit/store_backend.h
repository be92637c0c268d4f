// Chooses the back end of the store suites. By default they run on SQLite
// files in the test's directory; with ZSP_TEST_POSTGRES set to a
// postgresql:// URI (tests/integration/pg_store_test.sh sets it) the same
// tests run on that database, whose public schema is emptied first.
#ifndef ZSP_TESTS_UNIT_STORE_BACKEND_H_
#define ZSP_TESTS_UNIT_STORE_BACKEND_H_

#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdlib>
#include <string>

#include "broker/store.h"

namespace zsp::test {

inline const char* PostgresUri() {
  const char* uri = std::getenv("ZSP_TEST_POSTGRES");
  return uri != nullptr && *uri != '\0' ? uri : nullptr;
}

// Runs sql on the test database; returns "" or the error message.
inline std::string ExecOnTestDatabase(const std::string& sqlite_path,
                                      const std::string& sql) {
  if (const char* uri = PostgresUri()) {
    PGconn* conn = PQconnectdb(uri);
    std::string error;
    if (PQstatus(conn) != CONNECTION_OK) {
      error = PQerrorMessage(conn);
    } else {
      PGresult* result = PQexec(conn, sql.c_str());
      ExecStatusType status = PQresultStatus(result);
      if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        error = PQresultErrorMessage(result);
      }
      PQclear(result);
    }
    PQfinish(conn);
    return error;
  }
  sqlite3* db = nullptr;
  std::string error;
  if (sqlite3_open(sqlite_path.c_str(), &db) != SQLITE_OK) {
    error = "cannot open " + sqlite_path;
  } else if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) !=
             SQLITE_OK) {
    error = sqlite3_errmsg(db);
    if (error.empty()) error = "failed";
  }
  sqlite3_close(db);
  return error;
}

// The location to open for a fresh, empty store: sqlite_path, or the
// PostgreSQL database after dropping every table of an earlier test.
inline std::string FreshStoreLocation(const std::string& sqlite_path) {
  if (const char* uri = PostgresUri()) {
    std::string error = ExecOnTestDatabase(
        "", "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    if (!error.empty()) std::abort();
    return uri;
  }
  return sqlite_path;
}

// The location of the store that FreshStoreLocation made, for a second
// connection to it.
inline std::string SameStoreLocation(const std::string& sqlite_path) {
  if (const char* uri = PostgresUri()) return uri;
  return sqlite_path;
}

// Fixed times: the tests pass their own "now".
inline zsp::broker::StoreOptions TestStoreOptions() {
  zsp::broker::StoreOptions options;
  options.database_clock = false;
  return options;
}

}  // namespace zsp::test

#endif  // ZSP_TESTS_UNIT_STORE_BACKEND_H_

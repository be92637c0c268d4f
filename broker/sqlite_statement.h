// A prepared SQLite statement for the broker's SQLite stores. Values are
// only ever bound, never spliced into SQL text.
#ifndef ZSP_BROKER_SQLITE_STATEMENT_H_
#define ZSP_BROKER_SQLITE_STATEMENT_H_

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace zsp::broker {

// Compiled statements kept between calls, by SQL text, so that a call
// does not compile its SQL again. Every use must hold the one mutex of the
// store that owns the cache. Holds at most kMaxStatements; the stores'
// SQL is fixed text, so that bound is never reached in practice.
class StatementCache {
 public:
  StatementCache() = default;
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() {
    for (auto& entry : idle_) sqlite3_finalize(entry.second);
  }

  // A compiled statement for sql, from the cache or newly compiled;
  // nullptr when sql does not compile.
  sqlite3_stmt* Take(sqlite3* db, const std::string& sql) {
    auto found = idle_.find(sql);
    if (found != idle_.end()) {
      sqlite3_stmt* stmt = found->second;
      idle_.erase(found);
      return stmt;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return nullptr;
    }
    return stmt;
  }

  // Resets stmt, which ends its read of the database, and keeps it for
  // the next Take of sql.
  void Return(const std::string& sql, sqlite3_stmt* stmt) {
    if (stmt == nullptr) return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (idle_.size() >= kMaxStatements || !idle_.emplace(sql, stmt).second) {
      sqlite3_finalize(stmt);
    }
  }

 private:
  static constexpr size_t kMaxStatements = 128;
  std::unordered_map<std::string, sqlite3_stmt*> idle_;
};

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) !=
        SQLITE_OK) {
      sqlite3_finalize(stmt_);
      stmt_ = nullptr;
    }
  }
  // A statement from cache, given back to it on destruction.
  Statement(sqlite3* db, StatementCache* cache, std::string sql)
      : db_(db), cache_(cache), sql_(std::move(sql)) {
    stmt_ = cache_->Take(db, sql_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() {
    if (cache_ != nullptr) {
      cache_->Return(sql_, stmt_);
    } else {
      sqlite3_finalize(stmt_);
    }
  }

  // False when the SQL did not compile or a value could not be bound.
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
  void Bind(int index, const std::optional<int64_t>& value) {
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
  StatementCache* cache_ = nullptr;
  std::string sql_;  // with cache_ only
  sqlite3_stmt* stmt_ = nullptr;
  bool bind_ok_ = true;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_SQLITE_STATEMENT_H_

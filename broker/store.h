// The broker's state in one SQLite file: people (with the SHA-256 of their
// bearer tokens), requests and grants. Every method is safe to call from
// several threads; one mutex serialises access to the connection, and each
// state change runs in one transaction with its checks.
#ifndef ZSP_BROKER_STORE_H_
#define ZSP_BROKER_STORE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/model.h"
#include "common/result.h"

namespace zsp::broker {

// Why a store operation failed. The API maps these to HTTP statuses.
enum class StoreError {
  kNone,
  kNotFound,
  kConflict,   // the object is not in a state that allows the change
  kForbidden,  // the actor may not make this change (own request)
  kInternal,   // SQLite or the RNG failed; the message is for the log only
};

template <typename T>
struct StoreResult {
  StoreError error = StoreError::kNone;
  std::string message;
  T value{};

  bool ok() const { return error == StoreError::kNone; }
};

// Most rows that one list call returns, newest first.
// NOTE: the API has no paging, so older rows beyond this are not listed.
inline constexpr int kMaxListedRows = 1000;

class Store {
 public:
  // Opens or creates the database at path and creates the schema.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  // People. token_sha256 is the lowercase hex SHA-256 of the bearer token.
  StoreResult<bool> AddPerson(const std::string& name,
                              const std::vector<std::string>& roles,
                              const std::string& token_sha256, int64_t now);
  StoreResult<bool> SetTokenHash(const std::string& name,
                                 const std::string& token_sha256);
  StoreResult<std::vector<Person>> ListPersons();
  StoreResult<Person> FindPersonByTokenHash(const std::string& token_sha256);

  // Requests. CreateRequest sets id, state "pending" and created_at = now.
  StoreResult<AccessRequest> CreateRequest(AccessRequest request, int64_t now);
  StoreResult<AccessRequest> GetRequest(const std::string& id);
  StoreResult<std::vector<AccessRequest>> ListRequests(
      const std::optional<std::string>& state,
      const std::optional<std::string>& requester);

  // Approving creates a grant from now to now + duration. Approving or
  // denying one's own request is kForbidden; a request that is not pending
  // is kConflict.
  StoreResult<AccessRequest> ApproveRequest(
      const std::string& id, const std::string& approver,
      const std::optional<std::string>& comment, int64_t now);
  StoreResult<AccessRequest> DenyRequest(
      const std::string& id, const std::string& approver,
      const std::optional<std::string>& comment, int64_t now);
  // Only the requester may cancel (else kForbidden), only while pending.
  StoreResult<AccessRequest> CancelRequest(const std::string& id,
                                           const std::string& actor,
                                           int64_t now);

  // Grants.
  StoreResult<Grant> GetGrant(const std::string& id);
  StoreResult<std::vector<Grant>> ListGrants(
      const std::optional<std::string>& user, bool active_only, int64_t now);
  // All grants of user for kind, whatever their state, for a decision.
  StoreResult<std::vector<Grant>> GrantsOf(const std::string& user,
                                           const std::string& kind);
  // Revoking a grant that is not active (revoked or expired) is kConflict.
  // Who may revoke is the caller's check.
  StoreResult<Grant> RevokeGrant(const std::string& id,
                                 const std::string& actor,
                                 const std::optional<std::string>& reason,
                                 int64_t now);

 private:
  explicit Store(sqlite3* db) : db_(db) {}

  StoreResult<AccessRequest> DecideRequest(
      const std::string& id, const std::string& approver, bool approve,
      const std::optional<std::string>& comment, int64_t now);
  StoreResult<AccessRequest> GetRequestLocked(const std::string& id);
  StoreResult<Grant> GetGrantLocked(const std::string& id);
  StoreResult<std::string> InsertGrantLocked(const AccessRequest& request,
                                             const std::string& approver,
                                             int64_t now);
  bool Exec(const char* sql);

  std::mutex mutex_;
  sqlite3* db_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_STORE_H_

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
  // Removes the token hash, so the person's token stops working until a new
  // one is issued. kNotFound for an unknown name.
  StoreResult<bool> RevokeToken(const std::string& name);
  StoreResult<Person> FindPersonByTokenHash(const std::string& token_sha256);

  // Requests. CreateRequest sets id, state "pending" and created_at = now,
  // or approves the request at once when auto_approved_by names the
  // auto-approval rule. A request of the same user, kind and host as an
  // active grant that shares a run-as user and a command (or any login
  // grant) is kConflict, with value.grant set to that grant's id.
  StoreResult<AccessRequest> CreateRequest(
      AccessRequest request, int64_t now,
      const std::optional<std::string>& auto_approved_by = std::nullopt);
  StoreResult<AccessRequest> GetRequest(const std::string& id);
  StoreResult<std::vector<AccessRequest>> ListRequests(
      const std::optional<std::string>& state,
      const std::optional<std::string>& requester);
  // Counts the requests in state, without the row cap of ListRequests.
  // GET /healthz also calls it to check that the database responds.
  StoreResult<int64_t> CountRequests(const std::string& state);

  // Records one vote. Any deny ends the request, and the approval that
  // reaches approvals_required creates a grant from now to now + duration.
  // Voting on one's own request is kForbidden. A second vote of the same
  // person is kConflict, and so is a vote on a request that is not pending.
  // A vote after pending_until expires the request and is kConflict.
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

  // Moves every pending request whose pending_until is at or before now to
  // "expired" and returns those requests.
  StoreResult<std::vector<AccessRequest>> ExpirePending(int64_t now);
  // The events of a request and its grant, oldest first.
  StoreResult<std::vector<RequestEvent>> ListEvents(
      const std::string& request_id);

  // Grants.
  StoreResult<Grant> GetGrant(const std::string& id);
  StoreResult<std::vector<Grant>> ListGrants(
      const std::optional<std::string>& user, bool active_only, int64_t now);
  // All grants of user for kind, whatever their state, for a decision.
  StoreResult<std::vector<Grant>> GrantsOf(const std::string& user,
                                           const std::string& kind);
  // The grants of user for kind that are active at now: not revoked and
  // expiring after now. Reads only those rows, so a decision that finds an
  // allow does not pay for the user's whole history.
  StoreResult<std::vector<Grant>> ActiveGrantsOf(const std::string& user,
                                                 const std::string& kind,
                                                 int64_t now);
  // Host certificates. RevokeHost records that every certificate of host
  // issued at or before now is revoked. A later call moves that time on.
  StoreResult<bool> RevokeHost(const std::string& host,
                               const std::string& actor,
                               const std::optional<std::string>& reason,
                               int64_t now);
  // The time of the last RevokeHost for host, or kNotFound.
  StoreResult<int64_t> HostRevokedAt(const std::string& host);

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
  bool FillApprovalsLocked(AccessRequest* request);
  StoreResult<std::string> FindOverlapLocked(const AccessRequest& request,
                                             int64_t now);
  bool AddEventLocked(const std::string& request_id,
                      const std::optional<std::string>& grant_id,
                      const std::string& event, const std::string& actor,
                      int64_t at, const std::string& detail);
  // Ends a pending request in state (approved, with a grant, or denied)
  // and records event.
  bool SetDecidedLocked(const AccessRequest& request, const std::string& state,
                        const std::string& decided_by,
                        const std::optional<std::string>& comment,
                        const std::string& approved_by, int64_t now,
                        const std::string& event);
  bool ExpireLocked(const AccessRequest& request);
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

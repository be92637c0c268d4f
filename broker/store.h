// The broker's state: people (with the SHA-256 of their bearer tokens),
// requests, votes and grants. Store is the interface at the level of the
// broker's operations; SqliteStore (one file, the default) and PgStore
// (PostgreSQL, shared by several broker instances) implement it. Every
// method is safe to call from several threads, and each state change runs
// in one transaction with its checks.
#ifndef ZSP_BROKER_STORE_H_
#define ZSP_BROKER_STORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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

// A failed result with its message.
template <typename T>
StoreResult<T> Fail(StoreError error, std::string message) {
  StoreResult<T> result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

// A successful result holding value.
template <typename T>
StoreResult<T> Ok(T value) {
  StoreResult<T> result;
  result.value = std::move(value);
  return result;
}

// Most rows that one list call returns, newest first.
// NOTE: the API has no paging, so older rows beyond this are not listed.
inline constexpr int kMaxListedRows = 1000;

struct StoreOptions {
  // PostgreSQL only: take "now" from the database (now()) instead of the
  // callers' now arguments, so that every broker instance uses one clock.
  // Tests turn it off to run on fixed times.
  bool database_clock = true;
};

// True when a request repeats the scope of an active grant of the same
// user, kind and host. Any login grant does. A sudo grant does when it
// shares a run-as user and a command and has the same groups and
// environment names.
bool RequestOverlapsGrant(const AccessRequest& request, const Grant& grant);

// Encodes sign_in as the JSON object that the events tables store, or ""
// for an empty one; DecodeSignIn reads it back, and returns an empty
// SignIn for "" or text that is not such an object.
std::string EncodeSignIn(const SignIn& sign_in);
SignIn DecodeSignIn(const std::string& text);

// True when location is a PostgreSQL connection URI.
bool IsPostgresLocation(const std::string& location);

// A revocation as the host feed reports it.
struct Revocation {
  int64_t sequence = 0;  // the event's sequence number
  std::string grant;
  std::string user;
  std::string host;  // the grant's host name or pattern
  std::string kind;
  int64_t at = 0;          // when it was revoked
  int64_t expires_at = 0;  // when the grant would have ended
};

// One page of revocations, oldest first. Every revocation event with a
// sequence number in (after, last] whose grant had not ended at the time
// of the query is in revocations.
struct RevocationPage {
  std::vector<Revocation> revocations;
  int64_t last = 0;
};

class Store {
 public:
  // Opens the store that location names: a PostgreSQL connection URI
  // (postgresql://...) or else the path of a SQLite file, which is created
  // with its schema when missing.
  static Result<std::unique_ptr<Store>> Open(const std::string& location,
                                             const StoreOptions& options = {});

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store() = default;

  // People. token_sha256 is the lowercase hex SHA-256 of the bearer token.
  virtual StoreResult<bool> AddPerson(const std::string& name,
                                      const std::vector<std::string>& roles,
                                      const std::string& token_sha256,
                                      int64_t now) = 0;
  virtual StoreResult<bool> SetTokenHash(const std::string& name,
                                         const std::string& token_sha256) = 0;
  virtual StoreResult<std::vector<Person>> ListPersons() = 0;
  // Removes the token hash, so the person's token stops working until a new
  // one is issued. kNotFound for an unknown name.
  virtual StoreResult<bool> RevokeToken(const std::string& name) = 0;
  virtual StoreResult<Person> FindPersonByTokenHash(
      const std::string& token_sha256) = 0;

  // Requests. CreateRequest sets id, state "pending" and created_at = now,
  // or approves the request at once when auto_approved_by names the
  // auto-approval rule. A request of the same user, kind and host as an
  // active grant that shares a run-as user and a command (or any login
  // grant) is kConflict, with value.grant set to that grant's id.
  virtual StoreResult<AccessRequest> CreateRequest(
      AccessRequest request, int64_t now,
      const std::optional<std::string>& auto_approved_by = std::nullopt) = 0;
  virtual StoreResult<AccessRequest> GetRequest(const std::string& id) = 0;
  virtual StoreResult<std::vector<AccessRequest>> ListRequests(
      const std::optional<std::string>& state,
      const std::optional<std::string>& requester) = 0;
  // Counts the requests in state, without the row cap of ListRequests.
  // GET /healthz also calls it to check that the database responds.
  virtual StoreResult<int64_t> CountRequests(const std::string& state) = 0;

  // Records one vote. Any deny ends the request, and the approval that
  // reaches approvals_required creates a grant from now to now + duration.
  // Voting on one's own request is kForbidden. A second vote of the same
  // person is kConflict, and so is a vote on a request that is not pending.
  // A vote after pending_until expires the request and is kConflict.
  // sign_in, when not empty, is stored with the vote's events.
  virtual StoreResult<AccessRequest> ApproveRequest(
      const std::string& id, const std::string& approver,
      const std::optional<std::string>& comment, int64_t now,
      const SignIn& sign_in = {}) = 0;
  virtual StoreResult<AccessRequest> DenyRequest(
      const std::string& id, const std::string& approver,
      const std::optional<std::string>& comment, int64_t now,
      const SignIn& sign_in = {}) = 0;
  // Only the requester may cancel (else kForbidden), only while pending.
  virtual StoreResult<AccessRequest> CancelRequest(const std::string& id,
                                                   const std::string& actor,
                                                   int64_t now) = 0;

  // Moves every pending request whose pending_until is at or before now to
  // "expired" and returns those requests.
  virtual StoreResult<std::vector<AccessRequest>> ExpirePending(
      int64_t now) = 0;
  // The events of a request and its grant, oldest first.
  virtual StoreResult<std::vector<RequestEvent>> ListEvents(
      const std::string& request_id) = 0;

  // Grants.
  virtual StoreResult<Grant> GetGrant(const std::string& id) = 0;
  virtual StoreResult<std::vector<Grant>> ListGrants(
      const std::optional<std::string>& user, bool active_only,
      int64_t now) = 0;
  // The grants not revoked whose end falls after `after` and at or before
  // `until`, soonest end first. Reads only those rows through an index on
  // expires_at, whatever the number of grants stored.
  virtual StoreResult<std::vector<Grant>> GrantsEndingBetween(
      int64_t after, int64_t until) = 0;
  // All grants of user for kind, whatever their state, for a decision.
  virtual StoreResult<std::vector<Grant>> GrantsOf(const std::string& user,
                                                   const std::string& kind) = 0;
  // The grants of user for kind that are active at now: not revoked and
  // expiring after now. Reads only those rows, so a decision that finds an
  // allow does not pay for the user's whole history.
  virtual StoreResult<std::vector<Grant>> ActiveGrantsOf(
      const std::string& user, const std::string& kind, int64_t now) = 0;
  // Host certificates. RevokeHost records that every certificate of host
  // issued at or before now is revoked. A later call moves that time on.
  virtual StoreResult<bool> RevokeHost(
      const std::string& host, const std::string& actor,
      const std::optional<std::string>& reason, int64_t now) = 0;
  // The time of the last RevokeHost for host, or kNotFound.
  virtual StoreResult<int64_t> HostRevokedAt(const std::string& host) = 0;

  // Lists at most limit revocation events after sequence number after, of
  // grants that end after now. On SQLite it is one locked read, so that
  // last cannot skip an event that is written meanwhile.
  // NOTE: on PostgreSQL an event may commit after one with a higher
  // sequence number, and a page's last can then pass over it.
  virtual StoreResult<RevocationPage> ListRevocations(int64_t after,
                                                      int64_t now,
                                                      int limit) = 0;
  // Revoking a grant that is not active (revoked or expired) is kConflict.
  // Who may revoke is the caller's check.
  virtual StoreResult<Grant> RevokeGrant(
      const std::string& id, const std::string& actor,
      const std::optional<std::string>& reason, int64_t now) = 0;

  // Web page sessions. AddWebSession removes expired sessions first, then
  // the oldest sessions of the same person beyond max_per_person - 1, and
  // is kConflict when max_sessions unexpired ones remain.
  virtual StoreResult<bool> AddWebSession(const WebSession& session,
                                          int64_t now, int64_t max_sessions,
                                          int64_t max_per_person) = 0;
  // kNotFound for an unknown hash or a session that has expired at now.
  virtual StoreResult<WebSession> FindWebSession(const std::string& id_sha256,
                                                 int64_t now) = 0;
  // Ends a session; deleting an unknown one succeeds.
  virtual StoreResult<bool> DeleteWebSession(const std::string& id_sha256) = 0;

  // Long-poll support. ChangeMark returns a counter of the request state
  // changes this store has heard of; WaitForChange blocks until the counter
  // differs from mark or until deadline. Take the mark before reading, so
  // that a change between the read and the wait is not missed. A return
  // means only "read again": it may be early. The defaults return 0 and
  // sleep a short poll interval, for back ends that cannot notify.
  virtual uint64_t ChangeMark() { return 0; }
  virtual void WaitForChange(uint64_t mark,
                             std::chrono::steady_clock::time_point deadline);
};

// Adds a person through store.AddPerson, and fails with kConflict when a
// stored person's name differs from name only in the case of ASCII
// letters, because votes and the own-request check count the two as one
// person (SameUserName).
StoreResult<bool> AddDistinctPerson(Store& store, const std::string& name,
                                    const std::vector<std::string>& roles,
                                    const std::string& token_sha256,
                                    int64_t now);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_STORE_H_

// The SQLite back end of Store: one file, one connection. One mutex
// serialises access to the connection, and each state change runs in one
// transaction with its checks.
#ifndef ZSP_BROKER_STORE_SQLITE_H_
#define ZSP_BROKER_STORE_SQLITE_H_

#include <sqlite3.h>

#include <mutex>

#include "broker/sqlite_statement.h"
#include "broker/store.h"

namespace zsp::broker {

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  ~SqliteStore() override;

  StoreResult<bool> AddPerson(const std::string& name,
                              const std::vector<std::string>& roles,
                              const std::string& token_sha256,
                              int64_t now) override;
  StoreResult<bool> SetTokenHash(const std::string& name,
                                 const std::string& token_sha256) override;
  StoreResult<std::vector<Person>> ListPersons() override;
  StoreResult<bool> RevokeToken(const std::string& name) override;
  StoreResult<Person> FindPersonByTokenHash(
      const std::string& token_sha256) override;

  StoreResult<AccessRequest> CreateRequest(
      AccessRequest request, int64_t now,
      const std::optional<std::string>& auto_approved_by =
          std::nullopt) override;
  StoreResult<AccessRequest> GetRequest(const std::string& id) override;
  StoreResult<std::vector<AccessRequest>> ListRequests(
      const std::optional<std::string>& state,
      const std::optional<std::string>& requester) override;
  StoreResult<int64_t> CountRequests(const std::string& state) override;

  StoreResult<AccessRequest> ApproveRequest(
      const std::string& id, const std::string& approver,
      const std::optional<std::string>& comment, int64_t now,
      const SignIn& sign_in = {}) override;
  StoreResult<AccessRequest> DenyRequest(
      const std::string& id, const std::string& approver,
      const std::optional<std::string>& comment, int64_t now,
      const SignIn& sign_in = {}) override;
  StoreResult<AccessRequest> CancelRequest(const std::string& id,
                                           const std::string& actor,
                                           int64_t now) override;

  StoreResult<std::vector<AccessRequest>> ExpirePending(int64_t now) override;
  StoreResult<std::vector<RequestEvent>> ListEvents(
      const std::string& request_id) override;

  StoreResult<Grant> GetGrant(const std::string& id) override;
  StoreResult<std::vector<Grant>> ListGrants(
      const std::optional<std::string>& user, bool active_only,
      int64_t now) override;
  StoreResult<std::vector<Grant>> GrantsEndingBetween(int64_t after,
                                                     int64_t until) override;
  StoreResult<std::vector<Grant>> GrantsOf(const std::string& user,
                                           const std::string& kind) override;
  StoreResult<std::vector<Grant>> ActiveGrantsOf(const std::string& user,
                                                 const std::string& kind,
                                                 int64_t now) override;
  StoreResult<bool> RevokeHost(const std::string& host,
                               const std::string& actor,
                               const std::optional<std::string>& reason,
                               int64_t now) override;
  StoreResult<int64_t> HostRevokedAt(const std::string& host) override;
  StoreResult<RevocationPage> ListRevocations(int64_t after, int64_t now,
                                              int limit) override;
  StoreResult<Grant> RevokeGrant(const std::string& id,
                                 const std::string& actor,
                                 const std::optional<std::string>& reason,
                                 int64_t now) override;
  StoreResult<bool> AddWebSession(const WebSession& session, int64_t now,
                                  int64_t max_sessions,
                                  int64_t max_per_person) override;
  StoreResult<WebSession> FindWebSession(const std::string& id_sha256,
                                         int64_t now) override;
  StoreResult<bool> DeleteWebSession(const std::string& id_sha256) override;

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}

  StoreResult<AccessRequest> DecideRequest(
      const std::string& id, const std::string& approver, bool approve,
      const std::optional<std::string>& comment, int64_t now,
      const SignIn& sign_in);
  StoreResult<AccessRequest> GetRequestLocked(const std::string& id);
  bool FillApprovalsLocked(AccessRequest* request);
  StoreResult<std::string> FindOverlapLocked(const AccessRequest& request,
                                             int64_t now);
  bool AddEventLocked(const std::string& request_id,
                      const std::optional<std::string>& grant_id,
                      const std::string& event, const std::string& actor,
                      int64_t at, const std::string& detail,
                      const SignIn& sign_in = {});
  // Ends a pending request in state (approved, with a grant, or denied)
  // and records event.
  bool SetDecidedLocked(const AccessRequest& request, const std::string& state,
                        const std::string& decided_by,
                        const std::optional<std::string>& comment,
                        const std::string& approved_by, int64_t now,
                        const std::string& event, const SignIn& sign_in = {});
  bool ExpireLocked(const AccessRequest& request);
  StoreResult<Grant> GetGrantLocked(const std::string& id);
  StoreResult<std::string> InsertGrantLocked(const AccessRequest& request,
                                             const std::string& approver,
                                             int64_t now);
  bool Exec(const char* sql);

  std::mutex mutex_;
  sqlite3* db_;
  // Compiled statements of the calls above, used under mutex_.
  StatementCache statements_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_STORE_SQLITE_H_

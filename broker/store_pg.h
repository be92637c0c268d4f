// The PostgreSQL back ends of Store and AuditStore, for several broker
// instances on one database. The database enforces the rules that must
// hold across instances: one vote per approver, no self-vote, one grant
// per request, no overlapping active grants of one scope, decided requests
// that never change, and append-only, chained audit records. Every call
// has a deadline, and failures are retried by class (broker/pg.h).
#ifndef ZSP_BROKER_STORE_PG_H_
#define ZSP_BROKER_STORE_PG_H_

#include <memory>
#include <string>

#include "broker/audit_store.h"
#include "broker/pg.h"
#include "broker/store.h"

namespace zsp::broker {

class PgStore final : public Store {
 public:
  // Connects, applies missing schema migrations and starts the LISTEN
  // connection. conninfo is a libpq URI; its password, if any, never
  // reaches a log.
  static Result<std::unique_ptr<PgStore>> Open(const std::string& conninfo,
                                               const StoreOptions& options);

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

  uint64_t ChangeMark() override { return listener_.Mark(); }
  void WaitForChange(uint64_t mark,
                     std::chrono::steady_clock::time_point deadline) override {
    listener_.WaitForChange(mark, deadline);
  }

 private:
  PgStore(const std::string& conninfo, const StoreOptions& options);

  StoreResult<AccessRequest> DecideRequest(
      const std::string& id, const std::string& approver, bool approve,
      const std::optional<std::string>& comment, int64_t now,
      const SignIn& sign_in);

  pg::Pool pool_;
  StoreOptions options_;
  pg::Listener listener_;
};

class PgAuditStore final : public AuditStore {
 public:
  static Result<std::unique_ptr<PgAuditStore>> Open(
      const std::string& conninfo, EvpPkeyPtr signing_key,
      const StoreOptions& options);

  StoreResult<AppendOutcome> Append(const std::string& host,
                                    const std::vector<std::string>& lines,
                                    int64_t now) override;
  StoreResult<SpoolPosition> AppendRecord(
      const std::string& chain, const std::vector<std::string>& fields,
      int64_t now) override;
  StoreResult<std::vector<AuditRow>> ListRecords(
      const AuditFilter& filter) override;
  StoreResult<AuditReview> AddReview(const std::string& host, uint64_t seq,
                                     const std::string& reviewer,
                                     const std::string& comment,
                                     int64_t now) override;
  StoreResult<std::vector<AuditCheckpoint>> ListCheckpoints(
      const std::optional<std::string>& host) override;
  StoreResult<std::vector<AuditAlert>> ListAlerts(
      const std::optional<std::string>& host) override;

 private:
  PgAuditStore(const std::string& conninfo, EvpPkeyPtr key,
               const StoreOptions& options)
      : pool_(conninfo, pg::kPoolSize),
        key_(std::move(key)),
        options_(options) {}

  pg::Pool pool_;
  EvpPkeyPtr key_;
  StoreOptions options_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_STORE_PG_H_

// Handlers of the audit endpoints: hosts deliver their spool records, and
// auditors read records, checkpoints and alerts.
#include <stdexcept>

#include "broker/api.h"
#include "broker/audit_store.h"
#include "broker/log.h"
#include "broker/notify.h"
#include "broker/validate.h"
#include "common/audit_spool.h"
#include "common/escape.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

// Longest value of a text filter (user, decision, grant).
constexpr size_t kMaxFilterBytes = 256;

ApiResponse Invalid(const std::string& message) {
  return ErrorResponse(400, "invalid_request", message);
}

ApiResponse NoAuditStore() {
  return ErrorResponse(503, "unavailable", "the audit store is not open");
}

bool MayAudit(const Person& person) {
  return person.HasRole(kRoleAuditor) || person.HasRole(kRoleAdmin);
}

ApiResponse NotAuditor() {
  return ErrorResponse(403, "forbidden",
                       "this requires the auditor or admin role");
}

// Reads the unsigned decimal query value name into *out; returns "" or
// the message.
std::string QueryInteger(const std::map<std::string, std::string>& query,
                         const char* name, std::optional<int64_t>* out) {
  auto it = query.find(name);
  if (it == query.end()) return "";
  const std::string& text = it->second;
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::string(name) + ": expected Unix seconds or a count";
  }
  *out = std::stoll(text);
  return "";
}

std::string QueryText(const std::map<std::string, std::string>& query,
                      const char* name, std::optional<std::string>* out) {
  auto it = query.find(name);
  if (it == query.end()) return "";
  if (it->second.empty() || it->second.size() > kMaxFilterBytes) {
    return std::string(name) + ": must be 1 to 256 bytes";
  }
  *out = it->second;
  return "";
}

std::string CheckQueryKeys(const std::map<std::string, std::string>& query,
                           std::initializer_list<const char*> known) {
  for (const auto& [key, value] : query) {
    bool found = false;
    for (const char* name : known) {
      if (key == name) found = true;
    }
    if (!found) return "unknown query parameter " + EscapeForLog(key, 64);
  }
  return "";
}

// Parses the query of GET /v1/audit/records; returns "" or the message.
std::string ParseAuditFilter(const std::map<std::string, std::string>& query,
                             AuditFilter* filter) {
  std::string problem =
      CheckQueryKeys(query, {"host", "user", "decision", "grant", "since",
                             "until", "after", "limit", "break_glass",
                             "unreviewed"});
  if (problem.empty()) problem = QueryText(query, "host", &filter->host);
  if (problem.empty() && filter->host && !IsValidHostName(*filter->host)) {
    problem = "host: invalid host name";
  }
  if (problem.empty()) problem = QueryText(query, "user", &filter->user);
  if (problem.empty()) {
    problem = QueryText(query, "decision", &filter->decision);
  }
  if (problem.empty()) problem = QueryText(query, "grant", &filter->grant);
  if (problem.empty()) problem = QueryInteger(query, "since", &filter->since);
  if (problem.empty()) problem = QueryInteger(query, "until", &filter->until);
  for (const char* name : {"break_glass", "unreviewed"}) {
    auto it = query.find(name);
    if (problem.empty() && it != query.end() && it->second != "1") {
      problem = std::string(name) + ": the only value is 1";
    }
  }
  filter->break_glass = query.count("break_glass") > 0;
  filter->unreviewed = query.count("unreviewed") > 0;
  std::optional<int64_t> after;
  std::optional<int64_t> limit;
  if (problem.empty()) problem = QueryInteger(query, "after", &after);
  if (problem.empty()) problem = QueryInteger(query, "limit", &limit);
  if (!problem.empty()) return problem;
  if (after) {
    if (!filter->host) return "after: only together with host";
    filter->after_seq = static_cast<uint64_t>(*after);
  }
  if (limit) {
    if (*limit < 1 || *limit > kMaxAuditListedRows) {
      return "limit: must be 1 to " + std::to_string(kMaxAuditListedRows);
    }
    filter->limit = static_cast<int>(*limit);
  }
  return "";
}

json AlertToJson(const AuditAlert& alert) {
  return {{"id", alert.id},     {"host", alert.host},
          {"kind", alert.kind}, {"seq", alert.seq},
          {"detail", alert.detail}, {"time", alert.time}};
}

}  // namespace

void Api::NotifyAuditAlert(const AuditAlert& alert, int64_t now) const {
  if (notifier_ == nullptr || !notifier_->Subscribed("audit_alert")) return;
  if (!alert_notices_.Admit(alert.host, now)) return;
  // The detail comes from the store, which quotes a host's own text only
  // after a syntax check (SpoolRepairedDetail).
  std::string text = "zsp: audit_alert " + alert.kind + " on " + alert.host +
                     " at record " + std::to_string(alert.seq) + ": " +
                     alert.detail;
  notifier_->Send("audit_alert", {{"alert", AlertToJson(alert)}}, text, now);
}

void Api::NotifyHeldBackAlerts(int64_t now) const {
  if (notifier_ == nullptr) return;
  for (const auto& held : alert_notices_.TakeEnded(now)) {
    LogEvent("warning", {{"detail", "audit alert notices held back"},
                         {"host", held.host},
                         {"count", std::to_string(held.count)}});
    json payload = {{"held_back",
                     {{"host", held.host},
                      {"count", held.count},
                      {"since", held.since}}}};
    std::string text = "zsp: audit_alert: " + std::to_string(held.count) +
                       " more alerts on " + held.host +
                       " were not posted; list them with zspctl audit "
                       "alerts --host " +
                       held.host;
    notifier_->Send("audit_alert", std::move(payload), text, now);
  }
}

// Body: {"records": [LINE, ...]} with the host's spool lines in order.
ApiResponse Api::AuditAppend(const Call& call) const {
  if (audit_ == nullptr) return NoAuditStore();
  auto records = call.body.find("records");
  if (records == call.body.end() || !records->is_array() ||
      records->empty() || records->size() > kMaxAuditBatchRecords) {
    return Invalid("records: must be an array of 1 to " +
                   std::to_string(kMaxAuditBatchRecords) + " spool lines");
  }
  std::vector<std::string> lines;
  for (const auto& record : *records) {
    if (!record.is_string() || record.get<std::string>().empty() ||
        record.get<std::string>().size() > kMaxSpoolLineBytes) {
      return Invalid("records: each must be a spool line of at most " +
                     std::to_string(kMaxSpoolLineBytes) + " bytes");
    }
    lines.push_back(record.get<std::string>());
  }

  const std::string& host = call.request->client_host;
  if (IsReservedHostName(host)) {
    return ErrorResponse(403, "forbidden",
                         "host name " + host +
                             " is in the .invalid domain, which is reserved "
                             "for the broker's own records");
  }
  auto outcome = audit_->Append(host, lines, call.now);
  if (!outcome.ok()) throw std::runtime_error("audit store: " + outcome.message);
  const AppendOutcome& done = outcome.value;
  if (done.stored > 0) {
    LogEvent("audit", {{"host", host},
                       {"stored", std::to_string(done.stored)},
                       {"through", std::to_string(done.accepted_through)}});
  }
  for (const auto& alert : done.raised) {
    metrics_.CountAuditAlert(alert.kind);
    NotifyAuditAlert(alert, call.now);
  }
  if (done.rejected) {
    // The host resends from expected_seq; a host whose spool really
    // differs keeps failing here, and the alert stays for the auditors.
    ApiResponse response = ErrorResponse(409, "conflict",
                                         done.rejected->kind + ": " +
                                             done.rejected->detail);
    response.body["expected_seq"] = done.accepted_through + 1;
    response.body["accepted_through"] = done.accepted_through;
    return response;
  }
  return ApiResponse{200,
                     {{"accepted_through", done.accepted_through},
                      {"stored", done.stored},
                      {"duplicates", done.duplicates}}};
}

ApiResponse Api::AuditRecords(const Call& call) const {
  if (!MayAudit(call.person)) return NotAuditor();
  if (audit_ == nullptr) return NoAuditStore();
  AuditFilter filter;
  std::string problem = ParseAuditFilter(call.request->query, &filter);
  if (!problem.empty()) return Invalid(problem);
  auto rows = audit_->ListRecords(filter);
  if (!rows.ok()) throw std::runtime_error("audit store: " + rows.message);
  json list = json::array();
  for (const auto& row : rows.value) {
    json item = {{"host", row.host},
                 {"seq", row.seq},
                 {"hash", row.hash},
                 {"received_at", row.received_at},
                 {"line", row.line}};
    if (!row.reviewed_by.empty()) item["reviewed_by"] = row.reviewed_by;
    list.push_back(std::move(item));
  }
  bool more = rows.value.size() == static_cast<size_t>(filter.limit);
  return ApiResponse{200, {{"records", list}, {"more", more}}};
}

// Body: {"host": H, "seq": N, "comment": TEXT}. Records that the caller
// reviewed host H's break-glass record N; such records leave the
// unreviewed list. Approvers, auditors and admins may review, never their
// own emergency access.
ApiResponse Api::AuditReview(const Call& call) const {
  if (!MayAudit(call.person) && !call.person.HasRole(kRoleApprover)) {
    return ErrorResponse(403, "forbidden",
                         "this requires the approver, auditor or admin role");
  }
  if (audit_ == nullptr) return NoAuditStore();
  const json& body = call.body;
  auto host = body.find("host");
  auto seq = body.find("seq");
  auto comment = body.find("comment");
  if (host == body.end() || !host->is_string() ||
      !IsValidHostName(host->get<std::string>())) {
    return Invalid("host: must be a host name");
  }
  if (seq == body.end() || !seq->is_number_unsigned() ||
      seq->get<uint64_t>() == 0) {
    return Invalid("seq: must be a record's sequence number");
  }
  if (comment == body.end() || !comment->is_string() ||
      comment->get<std::string>().empty() ||
      comment->get<std::string>().size() > 1024) {
    return Invalid("comment: must be 1 to 1024 bytes saying what was checked");
  }
  std::string problem = CheckText(comment->get<std::string>(), 1024);
  if (!problem.empty()) return Invalid("comment: " + problem);
  auto review = audit_->AddReview(host->get<std::string>(),
                                  seq->get<uint64_t>(), call.person.name,
                                  comment->get<std::string>(), call.now);
  switch (review.error) {
    case StoreError::kNone:
      break;
    case StoreError::kNotFound:
      return ErrorResponse(404, "not_found", review.message);
    case StoreError::kConflict:
      return ErrorResponse(409, "conflict", review.message);
    case StoreError::kForbidden:
      return ErrorResponse(403, "forbidden", review.message);
    case StoreError::kInternal:
      throw std::runtime_error("audit store: " + review.message);
  }
  LogEvent("break-glass-review",
           {{"host", review.value.host},
            {"seq", std::to_string(review.value.seq)},
            {"reviewer", review.value.reviewer}});
  return ApiResponse{200,
                     {{"host", review.value.host},
                      {"seq", review.value.seq},
                      {"reviewer", review.value.reviewer},
                      {"comment", review.value.comment},
                      {"time", review.value.time}}};
}

ApiResponse Api::AuditCheckpoints(const Call& call) const {
  if (!MayAudit(call.person)) return NotAuditor();
  if (audit_ == nullptr) return NoAuditStore();
  std::optional<std::string> host;
  std::string problem = CheckQueryKeys(call.request->query, {"host"});
  if (problem.empty()) problem = QueryText(call.request->query, "host", &host);
  if (!problem.empty()) return Invalid(problem);
  auto rows = audit_->ListCheckpoints(host);
  if (!rows.ok()) throw std::runtime_error("audit store: " + rows.message);
  json list = json::array();
  for (const auto& row : rows.value) {
    list.push_back({{"host", row.host},
                    {"seq", row.seq},
                    {"hash", row.hash},
                    {"time", row.time},
                    {"jws", row.jws}});
  }
  return ApiResponse{200, {{"checkpoints", list}}};
}

ApiResponse Api::AuditAlerts(const Call& call) const {
  if (!MayAudit(call.person)) return NotAuditor();
  if (audit_ == nullptr) return NoAuditStore();
  std::optional<std::string> host;
  std::string problem = CheckQueryKeys(call.request->query, {"host"});
  if (problem.empty()) problem = QueryText(call.request->query, "host", &host);
  if (!problem.empty()) return Invalid(problem);
  auto rows = audit_->ListAlerts(host);
  if (!rows.ok()) throw std::runtime_error("audit store: " + rows.message);
  json list = json::array();
  for (const auto& row : rows.value) list.push_back(AlertToJson(row));
  return ApiResponse{200, {{"alerts", list}}};
}

}  // namespace zsp::broker

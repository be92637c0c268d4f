#include "common/journal.h"

#include <sys/stat.h>
#include <syslog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/audit_spool.h"
#include "common/escape.h"
#include "common/journal_socket.h"

namespace zsp {

const char* MessageId(AuditEvent event) {
  switch (event) {
    case AuditEvent::kSudoAllow:
      return "34880e3274ec4b8197a9866f02897fbe";
    case AuditEvent::kSudoDeny:
      return "e4fcdd60972f4768ace9012fa6cef4f7";
    case AuditEvent::kLoginAllow:
      return "bdbc6db5ebfa4a03a27caa34fbeb9b63";
    case AuditEvent::kLoginDeny:
      return "4e4bf9fcf87144628e23eff6a0aff072";
    case AuditEvent::kSessionOpen:
      return "476bb378915e4640b999ffff0c969cb9";
    case AuditEvent::kSessionClose:
      return "8d60b1254ac647fc8515edcb46543f2a";
    case AuditEvent::kBreakGlassAllow:
      return "e37a9cd6af944bd9bad413ffccf5563c";
    case AuditEvent::kBreakGlassDeny:
      return "ac964c9e59f44502878f784a368c0f23";
    case AuditEvent::kWorkEnded:
      return "9272436fe12e4807ae5a73ac8ac36337";
    case AuditEvent::kSpoolRepaired:
      return kSpoolRepairedMessageId;
  }
  return "00000000000000000000000000000000";
}

AuditRecord::AuditRecord(AuditEvent event, int priority,
                         std::string identifier)
    : event_(event), priority_(priority), identifier_(std::move(identifier)) {}

AuditRecord& AuditRecord::Add(const std::string& name,
                              const std::string& value) {
  if (!value.empty()) fields_.push_back(name + "=" + EscapeForLog(value));
  return *this;
}

AuditRecord& AuditRecord::AddEscaped(const std::string& name,
                                     const std::string& escaped_value) {
  if (!escaped_value.empty()) fields_.push_back(name + "=" + escaped_value);
  return *this;
}

AuditRecord& AuditRecord::SetMessage(std::string message) {
  message_ = std::move(message);
  return *this;
}

AuditRecord& AuditRecord::SetEvent(AuditEvent event, int priority) {
  event_ = event;
  priority_ = priority;
  return *this;
}

AuditRecord& AuditRecord::Set(const std::string& name,
                              const std::string& value) {
  std::string prefix = name + "=";
  for (auto& field : fields_) {
    if (field.rfind(prefix, 0) == 0) {
      field = prefix + EscapeForLog(value);
      return *this;
    }
  }
  return Add(name, value);
}

std::string AuditRecord::Commit(const std::string& spool_dir) {
  std::vector<std::string> spooled = fields_;
  spooled.push_back("MESSAGE=" + EscapeControlsForLog(message_, 4096));
  spooled.push_back(std::string("MESSAGE_ID=") + MessageId(event_));
  spooled.push_back("SYSLOG_IDENTIFIER=" + identifier_);
  auto position = AppendToSpool(spool_dir, spooled);
  if (!position.ok()) {
    Set("ZSP_SPOOL_ERROR", position.error());
    Send();  // the journal still learns of the failure
    return "audit spool: " + position.error();
  }
  const SpoolRepair& repair = position.value().repair;
  if (repair.seq != 0) {
    // The spool has its own record of the repair; the journal gets one
    // too, so that an operator sees it next to this decision.
    AuditRecord note(AuditEvent::kSpoolRepaired, LOG_WARNING, identifier_);
    note.Add("ZSP_REMOVED_BYTES", std::to_string(repair.removed_bytes))
        .Add("ZSP_REMOVED_SHA256", repair.removed_hash)
        .AddEscaped("ZSP_REMOVED_USER", repair.removed_user)
        .Add("ZSP_SEQ", std::to_string(repair.seq))
        .Add("ZSP_CHAIN", repair.hash)
        .SetMessage("spool-repaired removed an incomplete last line of " +
                    std::to_string(repair.removed_bytes) + " bytes");
    note.Send();
  }
  Set("ZSP_SEQ", std::to_string(position.value().seq));
  Set("ZSP_CHAIN", position.value().hash);
  int rc = Send();
  if (rc < 0) return std::string("journal: ") + std::strerror(-rc);
  return "";
}

void AuditRecord::CommitCorrection(const std::string& spool_dir,
                                   const std::string& failure) {
  if (event_ == AuditEvent::kSudoAllow) event_ = AuditEvent::kSudoDeny;
  if (event_ == AuditEvent::kLoginAllow) event_ = AuditEvent::kLoginDeny;
  if (event_ == AuditEvent::kBreakGlassAllow) {
    event_ = AuditEvent::kBreakGlassDeny;
  }
  if (priority_ > LOG_ERR) priority_ = LOG_ERR;
  Set("ZSP_DECISION", "deny");
  Set("ZSP_REASON", "audit failure: " + failure);
  message_ = "deny reason=audit failure: " + failure + " (was: " + message_ +
             ")";
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [](const std::string& f) {
                                 return f.rfind("ZSP_SEQ=", 0) == 0 ||
                                        f.rfind("ZSP_CHAIN=", 0) == 0;
                               }),
                fields_.end());
  Commit(spool_dir);
}

int AuditRecord::Send() const {
  // A missing socket fails here before any work, and a path that is not a
  // socket gets its own error.
  struct stat st {};
  if (stat(kJournalSocket, &st) != 0) return -errno;
  if (!S_ISSOCK(st.st_mode)) return -ENOTSOCK;

  std::vector<std::string> all;
  all.reserve(fields_.size() + 4);
  all.push_back("MESSAGE=" + EscapeControlsForLog(message_, 4096));
  all.push_back(std::string("MESSAGE_ID=") + MessageId(event_));
  all.push_back("PRIORITY=" + std::to_string(priority_));
  all.push_back("SYSLOG_IDENTIFIER=" + identifier_);
  all.insert(all.end(), fields_.begin(), fields_.end());
  return SendJournalEntry(all);
}

}  // namespace zsp

// Audit records in the systemd journal. Every access decision is written
// here with structured ZSP_* fields and a stable MESSAGE_ID per event type,
// so auditors can filter with journalctl (for example
// `journalctl MESSAGE_ID=... ZSP_USER=alice`).
#ifndef ZSP_COMMON_JOURNAL_H_
#define ZSP_COMMON_JOURNAL_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zsp {

enum class AuditEvent {
  kSudoAllow,
  kSudoDeny,
  kLoginAllow,
  kLoginDeny,
  kSessionOpen,
  kSessionClose,
  // Emergency access with a break-glass token, allowed or denied; both are
  // logged at alert priority.
  kBreakGlassAllow,
  kBreakGlassDeny,
  // zsp-agent ended the processes of a grant: at expiry, on revocation,
  // after losing the broker feed, or at start for work it cannot match
  // to a live grant.
  kWorkEnded,
  // An incomplete last line of the spool was removed before an append
  // (AppendToSpool in audit_spool.h).
  kSpoolRepaired,
};

// The 128-bit MESSAGE_ID of an event, as 32 lower-case hex digits. These
// values are part of zsp's interface: never change one.
const char* MessageId(AuditEvent event);

// A journal record under construction. Field values are escaped and capped
// on the way in (see escape.h); names must be upper case ZSP_ fields.
class AuditRecord {
 public:
  AuditRecord(AuditEvent event, int priority, std::string identifier);

  // Adds a field; an empty value is skipped.
  AuditRecord& Add(const std::string& name, const std::string& value);
  // Adds a field whose value was escaped already (EscapeForLog or
  // JoinArgvForLog), as it is, so its \xNN sequences are not escaped
  // twice; an empty value is skipped.
  AuditRecord& AddEscaped(const std::string& name,
                          const std::string& escaped_value);
  // Adds a field or replaces its value.
  AuditRecord& Set(const std::string& name, const std::string& value);
  // Sets MESSAGE. Escape the values in it that users control; the record
  // only escapes the control characters left in it, not backslashes.
  AuditRecord& SetMessage(std::string message);
  // Changes the event type, keeping the fields added so far.
  AuditRecord& SetEvent(AuditEvent event, int priority);

  // Sends the record to the journal only. Returns 0 or a negative errno:
  // -ENOENT when the journal socket is missing, -ECONNREFUSED when no
  // journald listens on it.
  int Send() const;

  // Records durably: appends to the audit spool in spool_dir, which adds
  // ZSP_SEQ and ZSP_CHAIN, then sends to the journal. Returns "" or what
  // failed. A decision whose record fails must not take effect.
  std::string Commit(const std::string& spool_dir);

  // Turns an allow record that could not be committed into the denial
  // that actually happened, and commits that as far as possible.
  void CommitCorrection(const std::string& spool_dir,
                        const std::string& failure);

  const std::vector<std::string>& fields() const { return fields_; }

 private:
  AuditEvent event_;
  int priority_;
  std::string identifier_;
  std::string message_;
  std::vector<std::string> fields_;  // "NAME=value"
};

}  // namespace zsp

#endif  // ZSP_COMMON_JOURNAL_H_

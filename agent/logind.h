// The calls zsp-agent makes to systemd-logind (org.freedesktop.login1) on
// hosts booted with systemd. pam_systemd requests a login session from
// logind, and logind moves the session's leader into session-N.scope, out of the
// grant's slice. The agent finds that session by the process that pam_zsp
// placed and ends it through logind (TerminateSession, then KillSession
// with SIGKILL), next to the kill of the grant's own cgroup.
#ifndef ZSP_AGENT_LOGIND_H_
#define ZSP_AGENT_LOGIND_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

struct sd_bus;

namespace zsp::agent {

// One process over time: its pid and its start time, so that a pid that
// the kernel has given to a new process does not pass for the old one.
struct ProcessRef {
  pid_t pid = 0;
  uint64_t start_time = 0;  // field 22 of /proc/PID/stat, in clock ticks
};

// Reads pid's start time from /proc. Error if the process is gone.
Result<ProcessRef> ReferToProcess(pid_t pid);

// Returns the start time in /proc/PID/stat text, which is field 22
// counted after the ")" that ends the command name. Error if malformed.
Result<uint64_t> ParseStartTime(std::string_view stat);

// True for a logind session id: 1 to 64 ASCII letters and digits, as
// logind makes them ("3", "c1").
bool IsSessionId(std::string_view id);

// The session id in a logind session object path,
// /org/freedesktop/login1/session/<id escaped by sd_bus_path_encode>.
// Error for any other path or an invalid id.
Result<std::string> SessionIdOfPath(std::string_view path);

// Returns cgroup (a path from /proc/PID/cgroup) if its last part is
// session-<id>.scope, the scope that logind has systemd make for session
// id, and "" otherwise.
std::string SessionScopeOf(std::string_view cgroup, std::string_view id);

// Outcome of a session lookup.
enum class LookupStatus {
  kFound,        // id is set
  kNoSession,    // the process leads no session
  kUnavailable,  // logind is not on the system bus
  kFailed,       // another error, in error
};

struct SessionLookup {
  LookupStatus status = LookupStatus::kNoSession;
  std::string id;
  // kFound: the leader's cgroup as /proc/PID/cgroup shows it, when it is
  // the session's scope (its last part is session-<id>.scope), else "".
  std::string scope_cgroup;
  std::string error;
};

// Outcome of a call that acts on a session.
enum class SessionCall { kDone, kGone, kUnavailable, kFailed };

// A connection to the system bus for logind calls, opened on first use
// and reopened after a loss. Not thread-safe: the agent calls it only
// with its state lock held.
class LogindManager {
 public:
  LogindManager() = default;
  ~LogindManager();
  LogindManager(const LogindManager&) = delete;
  LogindManager& operator=(const LogindManager&) = delete;

  // Finds the session that process leads: GetSessionByPID, then the
  // session's Id and Leader properties. kNoSession when the process
  // belongs to no session, when the session's leader is another process
  // (work started from inside someone's login, such as sudo), or when
  // process has exited or its pid has been reused meanwhile.
  SessionLookup FindSessionLedBy(const ProcessRef& process);

  // TerminateSession(id): logind stops the session's scope.
  SessionCall TerminateSession(const std::string& id, std::string* error);
  // KillSession(id, "all", signal).
  SessionCall KillSession(const std::string& id, int signal,
                          std::string* error);
  // GetSession(id): kDone while logind lists the session, kGone after.
  SessionCall CheckSession(const std::string& id, std::string* error);

 private:
  // Opens the bus connection unless it is open. Error text on failure.
  bool EnsureConnected(std::string* error);

  sd_bus* bus_ = nullptr;
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_LOGIND_H_

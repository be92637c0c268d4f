// The calls zsp-agent makes to systemd's manager (org.freedesktop.systemd1)
// on hosts booted with systemd, where systemd owns the cgroup tree. Work
// under a grant goes into a transient scope in the grant's slice,
// zsp-<grant>.slice below zsp.slice, and the grant ends by stopping that
// slice.
#ifndef ZSP_AGENT_SYSTEMD_H_
#define ZSP_AGENT_SYSTEMD_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

struct sd_bus;

namespace zsp::agent {

// The slice that contains every grant's slice.
inline constexpr char kZspSlice[] = "zsp.slice";

// Escapes text for use inside a unit name as systemd-escape does without
// --path. '-', '\', a leading '.' and every byte outside [A-Za-z0-9:_.]
// become \xNN, so a '-' in a grant id does not read as a slice level.
std::string EscapeUnitNamePart(std::string_view text);
// Undoes EscapeUnitNamePart. Error on a malformed escape.
Result<std::string> UnescapeUnitNamePart(std::string_view text);

// zsp-<escaped grant>.slice, a child of zsp.slice.
std::string GrantSliceName(const std::string& grant);
// The grant id of a slice name made by GrantSliceName. Error otherwise.
Result<std::string> GrantOfSliceName(std::string_view slice);

// A connection to the system bus for the manager calls. Not thread-safe:
// the agent calls it only with its state lock held.
class SystemdManager {
 public:
  // Connects to the system bus (sd_bus_open_system).
  static Result<std::unique_ptr<SystemdManager>> Connect();
  ~SystemdManager();

  // Starts the transient scope `scope` in `slice` with pid as its only
  // process (StartTransientUnit, mode "fail") and waits up to timeout_ms
  // until /proc/PID/cgroup shows pid in the scope. Returns the scope's
  // cgroup path relative to the cgroup2 mount.
  Result<std::string> StartScope(const std::string& scope,
                                 const std::string& slice, pid_t pid,
                                 const std::string& description,
                                 long timeout_ms);

  // Asks systemd to stop unit (StopUnit, mode "replace"), which signals
  // its processes by the unit's KillMode. Returns without waiting for the
  // stop job.
  Result<bool> StopUnit(const std::string& unit);

 private:
  explicit SystemdManager(sd_bus* bus) : bus_(bus) {}
  // Reconnects once if the bus connection was lost.
  Result<bool> EnsureConnected();

  sd_bus* bus_;
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_SYSTEMD_H_

// The cgroup v2 subtree that zsp-agent owns: one directory per grant under
// <cgroup2 mount>/<agent_cgroup>/. Work placed there cannot leave it
// without root, because moving a process needs write access to the
// cgroup.procs files of both cgroups and of their common ancestor, and
// every one of them belongs to root.
#ifndef ZSP_AGENT_CGROUP_H_
#define ZSP_AGENT_CGROUP_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/systemd.h"
#include "common/config.h"
#include "common/result.h"

namespace zsp::agent {

// Finds the mount point of the cgroup v2 hierarchy in mountinfo text (the
// format of /proc/self/mountinfo). Error if there is none.
Result<std::string> FindCgroup2Mount(std::string_view mountinfo);

// The cgroup of process pid relative to the cgroup2 mount, from the
// "0::" line of /proc/PID/cgroup. Error if the process does not exist.
Result<std::string> CgroupOfProcess(pid_t pid);

// Names of the kill methods in records and logs (ZSP_KILL_METHOD), the
// same words as the kill_method setting.
inline constexpr char kMethodCgroupKill[] = "cgroup.kill";
inline constexpr char kMethodFreeze[] = "freeze";

// The outcome of KillGrant.
struct KillReport {
  std::vector<pid_t> pids;        // processes in the cgroup at the kill
  std::vector<std::string> names; // their /proc/PID/comm, in the same order
  std::string method;             // kMethodCgroupKill or kMethodFreeze
  std::string unit;        // the grant's slice on systemd hosts, else ""
  std::string unit_error;  // why stopping unit failed; the kill went on
};

class GrantCgroups {
 public:
  // mount is the cgroup2 mount point, subtree the directory name under it.
  GrantCgroups(std::string mount, std::string subtree,
               KillMethod method = KillMethod::kAuto);

  // Switches to systemd's layout, for hosts where systemd owns the cgroup
  // tree: a grant's cgroup is the slice zsp.slice/zsp-<grant>.slice, work
  // is placed through a transient scope in it, and an end stops the slice
  // before it kills what is left. Call before Prepare.
  void UseSystemd(std::shared_ptr<SystemdManager> systemd);

  // Creates the subtree directory (0755, root) if it is missing. Error if
  // the kernel lacks the cgroup file that the configured method needs
  // (cgroup.kill for kCgroupKill, cgroup.freeze for kFreeze). With systemd
  // it does nothing, because systemd creates the slices.
  Result<bool> Prepare() const;

  // Absolute path of the grant's cgroup directory.
  std::string PathOf(const std::string& grant) const;
  // The same path relative to the mount, as /proc/PID/cgroup shows it.
  std::string RelativePathOf(const std::string& grant) const;

  // Creates the grant's cgroup if needed and moves pid into it. With
  // systemd, starts the scope zsp-<grant>-<pid>.scope in the grant's slice
  // with pid in it.
  Result<bool> Place(const std::string& grant, pid_t pid) const;

  // Undoes a Place of the wrong process: moves pid to the cgroup origin
  // (relative to the mount) if it is in the grant's cgroup or below it,
  // and removes the grant's cgroup directory if remove_empty and nothing
  // else runs in it (not on systemd, which removes empty scopes itself).
  Result<bool> MoveBack(const std::string& grant, pid_t pid,
                        const std::string& origin, bool remove_empty) const;

  // Kills every process in the grant's cgroup and its children, waits up
  // to timeout_ms for them to be gone and removes the directories. The
  // method is the configured one; kAuto uses cgroup.kill (Linux 5.14 and
  // later) when the kernel has it and freezes otherwise. Error if
  // processes remain or a directory cannot be removed; a retry is safe.
  // With systemd it first stops the grant's slice (StopUnit), then kills
  // what is left in its cgroup as above, and leaves the removal of the
  // cgroups to systemd.
  Result<KillReport> KillGrant(const std::string& grant,
                               long timeout_ms) const;

  // Kills every process in the cgroup at relative (a path as
  // /proc/PID/cgroup shows it, such as a logind session's scope) and
  // below it as KillGrant does, and waits up to timeout_ms for them to be
  // gone. The directories stay: their owner (systemd) removes them. An
  // empty or missing cgroup gives an empty report.
  Result<KillReport> KillCgroup(const std::string& relative,
                                long timeout_ms) const;

  // The processes in the cgroup at relative and below it, with names.
  KillReport ListCgroup(const std::string& relative) const;

  // The grant directories that exist under the subtree.
  std::vector<std::string> ListGrants() const;

 private:
  // Kills what is in dir (at relative) by the configured method until it
  // is empty or timeout_ms has passed. Sets report->method.
  Result<bool> KillUntilEmpty(const std::string& dir,
                              const std::string& relative, long timeout_ms,
                              KillReport* report) const;

  std::string mount_;
  std::string subtree_;
  KillMethod method_;
  std::shared_ptr<SystemdManager> systemd_;  // null without systemd
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_CGROUP_H_

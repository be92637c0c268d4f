// The cgroup v2 subtree that zsp-agent owns: one directory per grant under
// <cgroup2 mount>/<agent_cgroup>/. Work placed there cannot leave it
// without root, because moving a process needs write access to the
// cgroup.procs files of both cgroups and of their common ancestor, and
// every one of them belongs to root.
#ifndef ZSP_AGENT_CGROUP_H_
#define ZSP_AGENT_CGROUP_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace zsp::agent {

// Finds the mount point of the cgroup v2 hierarchy in mountinfo text (the
// format of /proc/self/mountinfo). Error if there is none.
Result<std::string> FindCgroup2Mount(std::string_view mountinfo);

// The outcome of KillGrant.
struct KillReport {
  std::vector<pid_t> pids;        // processes in the cgroup at the kill
  std::vector<std::string> names; // their /proc/PID/comm, in the same order
  bool used_cgroup_kill = false;  // false: freeze, SIGKILL each, thaw
};

class GrantCgroups {
 public:
  // mount is the cgroup2 mount point, subtree the directory name under it.
  GrantCgroups(std::string mount, std::string subtree);

  // Creates the subtree directory (0755, root) if it is missing.
  Result<bool> Prepare() const;

  // Absolute path of the grant's cgroup directory.
  std::string PathOf(const std::string& grant) const;
  // The same path relative to the mount, as /proc/PID/cgroup shows it.
  std::string RelativePathOf(const std::string& grant) const;

  // Creates the grant's cgroup if needed and moves pid into it.
  Result<bool> Place(const std::string& grant, pid_t pid) const;

  // Kills every process in the grant's cgroup and its children, waits up
  // to timeout_ms for them to be gone and removes the directories. Uses
  // cgroup.kill (Linux 5.14 and later) when the kernel has it. Error if
  // processes remain or a directory cannot be removed; a retry is safe.
  Result<KillReport> KillGrant(const std::string& grant,
                               long timeout_ms) const;

  // The grant directories that exist under the subtree.
  std::vector<std::string> ListGrants() const;

 private:
  std::string mount_;
  std::string subtree_;
};

}  // namespace zsp::agent

#endif  // ZSP_AGENT_CGROUP_H_

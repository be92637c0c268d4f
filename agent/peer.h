// The process at the other end of a connection to the agent's socket,
// pinned at accept time so that the agent can tell later whether the pid
// it acted on still named that process. A process id alone can be reused
// as soon as its process has exited and been reaped.
#ifndef ZSP_AGENT_PEER_H_
#define ZSP_AGENT_PEER_H_

#include <sys/types.h>

#include <string>

#include "common/handles.h"
#include "common/result.h"

namespace zsp::agent {

// How a PeerProcess pins its process, as logs name it.
inline constexpr char kPinPidfd[] = "pidfd";
inline constexpr char kPinStartTime[] = "start-time";

class PeerProcess {
 public:
  // Reads SO_PEERCRED of the connected unix socket fd and pins the
  // process that connected: through a pidfd from SO_PEERPIDFD (Linux 6.5
  // and later), or, where the kernel rejects that option, through the
  // start time in /proc/PID/stat. The start time is read now, so a pid
  // reused between connect and this call passes unnoticed. With
  // force_start_time the pidfd is not tried (for tests).
  static Result<PeerProcess> FromSocket(int fd, bool force_start_time = false);

  pid_t pid() const { return pid_; }
  uid_t uid() const { return uid_; }
  // kPinPidfd or kPinStartTime.
  const char* pin() const { return pidfd_.get() >= 0 ? kPinPidfd
                                                      : kPinStartTime; }

  // True while the pinned process has not exited. Then pid() still names
  // it, because a pid is free for reuse only after its process has exited
  // and been reaped. With the start time, true also when another process
  // with the same pid started in the same clock tick (10 ms with
  // CONFIG_HZ=100).
  bool IsAlive() const;

 private:
  PeerProcess(pid_t pid, uid_t uid, UniqueFd pidfd, std::string start_time)
      : pid_(pid),
        uid_(uid),
        pidfd_(std::move(pidfd)),
        start_time_(std::move(start_time)) {}

  pid_t pid_;
  uid_t uid_;
  UniqueFd pidfd_;          // -1 when pinned by start time
  std::string start_time_;  // field 22 of /proc/PID/stat, in clock ticks
};

// Field 22 (starttime) of /proc/PID/stat, or an error when the process
// does not exist.
Result<std::string> ProcessStartTime(pid_t pid);

}  // namespace zsp::agent

#endif  // ZSP_AGENT_PEER_H_

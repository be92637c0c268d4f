#include "agent/peer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/text.h"

// Linux 6.5; Debian 12's headers (5.x) lack it.
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace zsp::agent {
namespace {

// The fields of /proc/PID/stat after the command name, which is in
// parentheses and may itself contain spaces and ')': fields[0] is the
// state (field 3), fields[19] the start time (field 22).
Result<std::vector<std::string>> ReadStatFields(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Error{"cannot open " + path + ": " + strerror(errno)};
  }
  char buffer[1024];
  ssize_t n = read(fd.get(), buffer, sizeof buffer - 1);
  if (n <= 0) return Error{"cannot read " + path + ": " + strerror(errno)};
  std::string text(buffer, static_cast<size_t>(n));
  size_t close_paren = text.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 > text.size()) {
    return Error{path + " has no command name in parentheses"};
  }
  std::vector<std::string> fields =
      SplitString(text.substr(close_paren + 2), ' ');
  if (fields.size() < 20) return Error{path + " has too few fields"};
  return fields;
}

}  // namespace

Result<std::string> ProcessStartTime(pid_t pid) {
  auto fields = ReadStatFields(pid);
  if (!fields.ok()) return Error{fields.error()};
  return fields.value()[19];
}

Result<PeerProcess> PeerProcess::FromSocket(int fd, bool force_start_time) {
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    return Error{std::string("cannot read SO_PEERCRED: ") + strerror(errno)};
  }
  if (!force_start_time) {
    int pidfd = -1;
    length = sizeof pidfd;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &length) == 0) {
      return PeerProcess(peer.pid, peer.uid, UniqueFd(pidfd), "");
    }
    // ENOPROTOOPT: a kernel before 6.5. EINVAL: the peer has already been
    // reaped (6.5 to 6.8 give no pidfd for it), which the start time
    // below then reports.
    if (errno != ENOPROTOOPT && errno != EINVAL) {
      return Error{std::string("cannot read SO_PEERPIDFD: ") +
                   strerror(errno)};
    }
  }
  auto start_time = ProcessStartTime(peer.pid);
  if (!start_time.ok()) {
    return Error{"process " + std::to_string(peer.pid) +
                 " that connected has exited"};
  }
  return PeerProcess(peer.pid, peer.uid, UniqueFd(), start_time.value());
}

bool PeerProcess::IsAlive() const {
  if (pidfd_.get() >= 0) {
    // A pidfd becomes readable once its process has exited (a zombie
    // included), and stays readable.
    pollfd p{pidfd_.get(), POLLIN, 0};
    int ready = poll(&p, 1, 0);
    return ready == 0;
  }
  auto fields = ReadStatFields(pid_);
  if (!fields.ok()) return false;
  const std::string& state = fields.value()[0];
  if (state == "Z" || state == "X" || state == "x") return false;
  return fields.value()[19] == start_time_;
}

}  // namespace zsp::agent

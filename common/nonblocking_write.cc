#include "common/nonblocking_write.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/handles.h"
#include "common/signal_block.h"

namespace zsp {

WriteOutcome WriteWithoutBlocking(int fd, std::string_view text) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return WriteOutcome::kFailed;
  ScopedSignalBlock no_sigpipe(SIGPIPE);
  ssize_t n;
  if (S_ISSOCK(st.st_mode)) {
    n = send(fd, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  } else if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
    // A new open file description of the same terminal or FIFO, so that
    // O_NONBLOCK applies to this write only. A FIFO without a reader
    // fails here with ENXIO.
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    UniqueFd own(open(path.c_str(),
                      O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (own.get() < 0) return WriteOutcome::kFailed;
    n = write(own.get(), text.data(), text.size());
  } else {
    n = write(fd, text.data(), text.size());
  }
  if (n == static_cast<ssize_t>(text.size())) return WriteOutcome::kWritten;
  if (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
    return WriteOutcome::kWouldBlock;
  }
  return WriteOutcome::kFailed;
}

}  // namespace zsp

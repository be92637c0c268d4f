// Writing a short message to a descriptor that the process shares with
// others (sudo's standard error, which the user's terminal or a pipe may
// stop draining) without ever waiting for its reader.
#ifndef ZSP_COMMON_NONBLOCKING_WRITE_H_
#define ZSP_COMMON_NONBLOCKING_WRITE_H_

#include <string_view>

namespace zsp {

enum class WriteOutcome {
  kWritten,     // all of the text
  kWouldBlock,  // nothing or only part of it: the reader is not draining
  kFailed,      // the descriptor cannot be written (errno set)
};

// Writes text to fd without blocking and without changing the flags of
// fd's open file description, which other processes (a command sudo runs)
// share. A terminal, pseudo-terminal or FIFO is opened again through
// /proc/self/fd with O_NONBLOCK, a socket gets send(2) with MSG_DONTWAIT,
// and a regular file or block device, which has no reader to wait for,
// gets a plain write(2). SIGPIPE is blocked in the calling thread for the
// call. A partial write is not completed.
WriteOutcome WriteWithoutBlocking(int fd, std::string_view text);

}  // namespace zsp

#endif  // ZSP_COMMON_NONBLOCKING_WRITE_H_

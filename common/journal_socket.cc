// The client side of journald's native protocol. It follows sd_journal_sendv()
// of libsystemd 252 (src/libsystemd/sd-journal/journal-send.c), checked
// against the system calls that Debian 12's libsystemd0 252.39 makes under
// strace: the same wire format, send buffer, memfd fallback and seals.
// Unlike libsystemd it keeps no socket open between calls, reports a
// missing socket as -ENOENT where libsystemd returns 0, and adds no
// CODE_FILE, CODE_LINE or CODE_FUNC field.
#include "common/journal_socket.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

#include "common/handles.h"

namespace zsp {
namespace {

// The send buffer that libsystemd 252 requests (SNDBUF_SIZE). The kernel
// sets twice the value and rejects a datagram larger than that, so an
// entry over 16 MiB always goes through the memfd. Smaller ones may too,
// depending on the kernel: Linux 6.18 sent 4 MB in one datagram.
constexpr int kSendBufferBytes = 8 * 1024 * 1024;

constexpr size_t kMaxFieldNameBytes = 64;

// Maximum time that one entry waits for journald to take it. A stopped or stuck
// journald stops draining its socket, and once net.unix.max_dgram_qlen
// datagrams (10 by default) are queued, a blocking send waits for good,
// even across Ctrl-C, because an interrupted send is tried again. The
// record then fails instead, so sudo and logins deny instead of hanging.
constexpr int64_t kSendTimeoutMs = 3000;

int64_t MonotonicMs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// Sends message on socket_fd, again after a signal, until deadline_ms on
// CLOCK_MONOTONIC. Returns 0, -ETIMEDOUT when journald took nothing before
// the deadline, or the errno of sendmsg.
int SendBefore(int socket_fd, const msghdr& message, int64_t deadline_ms) {
  for (;;) {
    int64_t left_ms = deadline_ms - MonotonicMs();
    if (left_ms <= 0) return -ETIMEDOUT;
    timeval timeout{static_cast<time_t>(left_ms / 1000),
                    static_cast<suseconds_t>(left_ms % 1000 * 1000)};
    if (setsockopt(socket_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout,
                   sizeof timeout) != 0) {
      return -errno;
    }
    if (sendmsg(socket_fd, &message, MSG_NOSIGNAL) >= 0) return 0;
    // A signal before the datagram is queued sends nothing, so try again.
    if (errno == EINTR) continue;
    return errno == EAGAIN ? -ETIMEDOUT : -errno;
  }
}

void AppendLittleEndian64(uint64_t value, std::string* out) {
  for (int i = 0; i < 8; ++i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

// Raises the socket's send buffer as libsystemd 252's fd_inc_sndbuf()
// does: SO_SNDBUF, which the kernel caps at net.core.wmem_max, then
// SO_SNDBUFFORCE, which needs CAP_NET_ADMIN. Both are best effort: with a
// smaller buffer, more entries go through the memfd.
void RaiseSendBuffer(int socket_fd) {
  int size = kSendBufferBytes;
  (void)setsockopt(socket_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int actual = 0;
  socklen_t length = sizeof actual;
  if (getsockopt(socket_fd, SOL_SOCKET, SO_SNDBUF, &actual, &length) == 0 &&
      actual >= 2 * size) {
    return;
  }
  (void)setsockopt(socket_fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
}

int WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// Sends entry as journald accepts an entry too large for a datagram: in a
// memfd sealed against any change, passed with SCM_RIGHTS in an otherwise
// empty datagram. journald maps a sealed memfd instead of copying it, and
// takes an unsealed descriptor only from root.
// NOTE: libsystemd falls back to an unlinked file in /dev/shm where
// memfd_create() is missing (Linux before 3.17); this code does not.
int SendThroughMemfd(int socket_fd, const sockaddr_un& address,
                     socklen_t address_length, std::string_view entry,
                     int64_t deadline_ms) {
  UniqueFd memfd(memfd_create("zsp-journal", MFD_ALLOW_SEALING | MFD_CLOEXEC));
  if (memfd.get() < 0) return -errno;
  int r = WriteAll(memfd.get(), entry);
  if (r < 0) return r;
  if (fcntl(memfd.get(), F_ADD_SEALS,
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    return -errno;
  }

  union {
    cmsghdr header;
    char buffer[CMSG_SPACE(sizeof(int))];
  } control{};
  msghdr message{};
  message.msg_name = const_cast<sockaddr_un*>(&address);
  message.msg_namelen = address_length;
  message.msg_control = control.buffer;
  message.msg_controllen = sizeof control.buffer;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = memfd.get();
  std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  return SendBefore(socket_fd, message, deadline_ms);
}

}  // namespace

bool IsValidJournalFieldName(std::string_view name) {
  if (name.empty() || name.size() > kMaxFieldNameBytes) return false;
  if (name[0] == '_' || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool valid = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!valid) return false;
  }
  return true;
}

int SerializeJournalEntry(const std::vector<std::string>& fields,
                          std::string* ret_entry) {
  if (fields.empty()) return -EINVAL;
  size_t total = 0;
  for (const std::string& field : fields) {
    size_t equals = field.find('=');
    if (equals == std::string::npos) return -EINVAL;
    if (!IsValidJournalFieldName(std::string_view(field).substr(0, equals))) {
      return -EINVAL;
    }
    total += field.size() + 1 + 8;
  }

  std::string entry;
  entry.reserve(total);
  for (const std::string& field : fields) {
    size_t equals = field.find('=');
    std::string_view name = std::string_view(field).substr(0, equals);
    std::string_view value = std::string_view(field).substr(equals + 1);
    if (value.find('\n') == std::string_view::npos) {
      entry.append(field);
    } else {
      entry.append(name);
      entry.push_back('\n');
      AppendLittleEndian64(value.size(), &entry);
      entry.append(value);
    }
    entry.push_back('\n');
  }
  *ret_entry = std::move(entry);
  return 0;
}

int SendJournalEntry(const std::vector<std::string>& fields,
                     const std::string& socket_path) {
  std::string entry;
  int r = SerializeJournalEntry(fields, &entry);
  if (r < 0) return r;

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty()) return -EINVAL;
  if (socket_path.size() >= sizeof address.sun_path) return -ENAMETOOLONG;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  auto address_length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                               socket_path.size() + 1);

  UniqueFd socket_fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (socket_fd.get() < 0) return -errno;
  RaiseSendBuffer(socket_fd.get());

  iovec iov{entry.data(), entry.size()};
  msghdr message{};
  message.msg_name = &address;
  message.msg_namelen = address_length;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  int64_t deadline_ms = MonotonicMs() + kSendTimeoutMs;
  r = SendBefore(socket_fd.get(), message, deadline_ms);
  // libsystemd 252 also takes the memfd path on EAGAIN, which only its
  // non-blocking mode returns; here EAGAIN is the timeout.
  if (r != -EMSGSIZE && r != -ENOBUFS) return r;
  return SendThroughMemfd(socket_fd.get(), address, address_length, entry,
                          deadline_ms);
}

}  // namespace zsp

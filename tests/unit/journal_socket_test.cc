// Tests for the journald native-protocol client: field name rules, the
// exact bytes of an entry, and what a datagram socket bound in a temporary
// directory receives. An entry too large for any datagram must arrive
// there as a sealed memfd.
#include "common/journal_socket.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/handles.h"

namespace {

using zsp::IsValidJournalFieldName;
using zsp::SendJournalEntry;
using zsp::SerializeJournalEntry;
using zsp::UniqueFd;

// 8 MiB doubled by the kernel is the largest send buffer the client can
// get, so an entry larger than this never fits in a datagram.
constexpr size_t kBeyondAnyDatagram = 16 * 1024 * 1024 + 1;

// The bytes of a string literal, including the NUL bytes inside it.
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// A datagram read from a socket, with the descriptors that came with it.
struct Received {
  std::string data;
  std::vector<int> fds;
};

// Binds a datagram socket at path.
UniqueFd BindDatagram(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  CPPUNIT_ASSERT_EQUAL(
      0, bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address));
  return fd;
}

// Reads one queued datagram without waiting. Returns false and stores
// errno in *errno_out when there is none.
bool ReceiveNow(int fd, Received* out, int* errno_out) {
  std::vector<char> buffer(64 * 1024);
  union {
    cmsghdr header;
    char bytes[CMSG_SPACE(4 * sizeof(int))];
  } control{};
  iovec iov{buffer.data(), buffer.size()};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.bytes;
  message.msg_controllen = sizeof control.bytes;
  ssize_t n = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    *errno_out = errno;
    return false;
  }
  out->data.assign(buffer.data(), static_cast<size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
       c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int passed;
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
      out->fds.push_back(passed);
    }
  }
  return true;
}

// The number of descriptors open in this process, to check that a send
// closes the socket and memfd it opened.
size_t OpenFdCount() {
  size_t count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

std::string ReadAll(int fd) {
  std::string data;
  char buffer[65536];
  ssize_t n;
  while ((n = pread(fd, buffer, sizeof buffer,
                    static_cast<off_t>(data.size()))) > 0) {
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace

class JournalSocketTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(JournalSocketTest);
  CPPUNIT_TEST(ValidFieldNames);
  CPPUNIT_TEST(InvalidFieldNames);
  CPPUNIT_TEST(PlainFieldsAsLines);
  CPPUNIT_TEST(NewlineValueInBinaryForm);
  CPPUNIT_TEST(LengthIsLittleEndian64);
  CPPUNIT_TEST(EmptyAndEqualsValuesAsLines);
  CPPUNIT_TEST(NulByteKeptInLine);
  CPPUNIT_TEST(SerializeRejectsInvalidFields);
  CPPUNIT_TEST(SendOneDatagram);
  CPPUNIT_TEST(SendLargeEntryAsSealedMemfd);
  CPPUNIT_TEST(SendInvalidNameSendsNothing);
  CPPUNIT_TEST(SendMissingSocketFails);
  CPPUNIT_TEST(SendWithoutReceiverFails);
  CPPUNIT_TEST(SendLongPathRejected);
  CPPUNIT_TEST(SendToStalledReceiverTimesOut);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char pattern[] = "/tmp/zsp-journal-test.XXXXXX";
    dir_ = mkdtemp(pattern);
    socket_path_ = dir_ + "/socket";
  }
  void tearDown() override { std::filesystem::remove_all(dir_); }

  void ValidFieldNames() {
    CPPUNIT_ASSERT(IsValidJournalFieldName("MESSAGE"));
    CPPUNIT_ASSERT(IsValidJournalFieldName("ZSP_USER"));
    CPPUNIT_ASSERT(IsValidJournalFieldName("A"));
    CPPUNIT_ASSERT(IsValidJournalFieldName("A1_2"));
    CPPUNIT_ASSERT(IsValidJournalFieldName(std::string(64, 'X')));
  }

  void InvalidFieldNames() {
    CPPUNIT_ASSERT(!IsValidJournalFieldName(""));
    CPPUNIT_ASSERT(!IsValidJournalFieldName("_UID"));
    CPPUNIT_ASSERT(!IsValidJournalFieldName("1ST"));
    CPPUNIT_ASSERT(!IsValidJournalFieldName("message"));
    CPPUNIT_ASSERT(!IsValidJournalFieldName("ZSP-USER"));
    CPPUNIT_ASSERT(!IsValidJournalFieldName("ZSP USER"));
    CPPUNIT_ASSERT(!IsValidJournalFieldName("ZSP\nUSER"));
    CPPUNIT_ASSERT(!IsValidJournalFieldName("\xc3\x89T\xc3\x89"));
    CPPUNIT_ASSERT(!IsValidJournalFieldName(std::string(65, 'X')));
  }

  void PlainFieldsAsLines() {
    std::string entry;
    CPPUNIT_ASSERT_EQUAL(
        0, SerializeJournalEntry({"MESSAGE=hello", "ZSP_USER=alice"}, &entry));
    CPPUNIT_ASSERT_EQUAL(std::string("MESSAGE=hello\nZSP_USER=alice\n"), entry);
  }

  void NewlineValueInBinaryForm() {
    std::string entry;
    CPPUNIT_ASSERT_EQUAL(
        0, SerializeJournalEntry({"A=1", "MESSAGE=a\nb", "B=2"}, &entry));
    CPPUNIT_ASSERT_EQUAL(Bytes("A=1\nMESSAGE\n\x03\0\0\0\0\0\0\0a\nb\nB=2\n"),
                         entry);
  }

  void LengthIsLittleEndian64() {
    std::string value = "\n" + std::string(299, 'v');
    std::string entry;
    CPPUNIT_ASSERT_EQUAL(0, SerializeJournalEntry({"V=" + value}, &entry));
    CPPUNIT_ASSERT_EQUAL(Bytes("V\n\x2c\x01\0\0\0\0\0\0"), entry.substr(0, 10));
    CPPUNIT_ASSERT_EQUAL(value + "\n", entry.substr(10));
  }

  void EmptyAndEqualsValuesAsLines() {
    std::string entry;
    CPPUNIT_ASSERT_EQUAL(0,
                         SerializeJournalEntry({"EMPTY=", "EQ=a=b"}, &entry));
    CPPUNIT_ASSERT_EQUAL(std::string("EMPTY=\nEQ=a=b\n"), entry);
  }

  void NulByteKeptInLine() {
    std::string field = Bytes("BIN=a\0b");
    std::string entry;
    CPPUNIT_ASSERT_EQUAL(0, SerializeJournalEntry({field}, &entry));
    CPPUNIT_ASSERT_EQUAL(field + "\n", entry);
  }

  void SerializeRejectsInvalidFields() {
    const std::vector<std::vector<std::string>> cases = {
        {},
        {"NOEQUALS"},
        {"=value"},
        {"MESSAGE=ok", "lower=x"},
        {"_UID=0"},
        {"9LIVES=x"},
        {"BAD\nNAME=x"},
        {std::string(65, 'X') + "=x"},
    };
    for (const auto& fields : cases) {
      std::string entry = "unchanged";
      CPPUNIT_ASSERT_EQUAL(-EINVAL, SerializeJournalEntry(fields, &entry));
      CPPUNIT_ASSERT_EQUAL(std::string("unchanged"), entry);
    }
  }

  void SendOneDatagram() {
    UniqueFd receiver = BindDatagram(socket_path_);
    size_t fds_before = OpenFdCount();
    CPPUNIT_ASSERT_EQUAL(
        0, SendJournalEntry({"MESSAGE=two\nlines", "ZSP_USER=alice"},
                            socket_path_));
    CPPUNIT_ASSERT_EQUAL(fds_before, OpenFdCount());
    Received got;
    int error = 0;
    CPPUNIT_ASSERT(ReceiveNow(receiver.get(), &got, &error));
    CPPUNIT_ASSERT_EQUAL(
        Bytes("MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\nZSP_USER=alice\n"),
        got.data);
    CPPUNIT_ASSERT(got.fds.empty());
    CPPUNIT_ASSERT(!ReceiveNow(receiver.get(), &got, &error));
    CPPUNIT_ASSERT_EQUAL(EAGAIN, error);
  }

  void SendLargeEntryAsSealedMemfd() {
    UniqueFd receiver = BindDatagram(socket_path_);
    std::string big(kBeyondAnyDatagram, 'x');
    big[1000] = '\n';
    std::vector<std::string> fields = {"MESSAGE=large", "BIG=" + big};
    size_t fds_before = OpenFdCount();
    CPPUNIT_ASSERT_EQUAL(0, SendJournalEntry(fields, socket_path_));
    CPPUNIT_ASSERT_EQUAL(fds_before, OpenFdCount());

    Received got;
    int error = 0;
    CPPUNIT_ASSERT(ReceiveNow(receiver.get(), &got, &error));
    CPPUNIT_ASSERT_EQUAL(std::string(), got.data);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, got.fds.size());
    UniqueFd memfd(got.fds[0]);
    int all_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
    CPPUNIT_ASSERT_EQUAL(all_seals, fcntl(memfd.get(), F_GET_SEALS));
    std::string expected;
    CPPUNIT_ASSERT_EQUAL(0, SerializeJournalEntry(fields, &expected));
    std::string content = ReadAll(memfd.get());
    CPPUNIT_ASSERT_EQUAL(expected.size(), content.size());
    CPPUNIT_ASSERT(expected == content);
    CPPUNIT_ASSERT(!ReceiveNow(receiver.get(), &got, &error));
    CPPUNIT_ASSERT_EQUAL(EAGAIN, error);
  }

  void SendInvalidNameSendsNothing() {
    UniqueFd receiver = BindDatagram(socket_path_);
    CPPUNIT_ASSERT_EQUAL(
        -EINVAL, SendJournalEntry({"MESSAGE=x", "bad=1"}, socket_path_));
    Received got;
    int error = 0;
    CPPUNIT_ASSERT(!ReceiveNow(receiver.get(), &got, &error));
    CPPUNIT_ASSERT_EQUAL(EAGAIN, error);
  }

  void SendMissingSocketFails() {
    size_t fds_before = OpenFdCount();
    CPPUNIT_ASSERT_EQUAL(-ENOENT,
                         SendJournalEntry({"MESSAGE=x"}, socket_path_));
    CPPUNIT_ASSERT_EQUAL(fds_before, OpenFdCount());
  }

  void SendWithoutReceiverFails() {
    BindDatagram(socket_path_);  // closed at once, but the file stays
    struct stat st {};
    CPPUNIT_ASSERT_EQUAL(0, stat(socket_path_.c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(-ECONNREFUSED,
                         SendJournalEntry({"MESSAGE=x"}, socket_path_));
  }

  void SendLongPathRejected() {
    std::string path =
        dir_ + "/" + std::string(sizeof(sockaddr_un{}.sun_path), 's');
    CPPUNIT_ASSERT_EQUAL(-ENAMETOOLONG, SendJournalEntry({"MESSAGE=x"}, path));
    CPPUNIT_ASSERT_EQUAL(-EINVAL, SendJournalEntry({"MESSAGE=x"}, ""));
  }

  // A receiver that reads nothing, as a stopped journald, fills its queue
  // after a few datagrams. The next send must fail with -ETIMEDOUT within
  // seconds. It runs in a child under alarm(), so that a send that blocks
  // for good fails this test instead of hanging the suite.
  void SendToStalledReceiverTimesOut() {
    UniqueFd receiver = BindDatagram(socket_path_);
    pid_t child = fork();
    CPPUNIT_ASSERT(child >= 0);
    if (child == 0) {
      alarm(30);
      for (int i = 0; i < 1000; ++i) {
        timespec start{};
        clock_gettime(CLOCK_MONOTONIC, &start);
        int r = SendJournalEntry({"MESSAGE=x"}, socket_path_);
        timespec end{};
        clock_gettime(CLOCK_MONOTONIC, &end);
        double seconds = static_cast<double>(end.tv_sec - start.tv_sec) +
                         static_cast<double>(end.tv_nsec - start.tv_nsec) / 1e9;
        // The deadline is 3 s; a little more is the scheduler's slack.
        if (r == -ETIMEDOUT) _exit(seconds >= 2.9 && seconds < 4.5 ? 0 : 4);
        if (r != 0) _exit(2);
      }
      _exit(3);
    }
    int status = 0;
    CPPUNIT_ASSERT_EQUAL(child, waitpid(child, &status, 0));
    CPPUNIT_ASSERT_MESSAGE("send blocked past the alarm", !WIFSIGNALED(status));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "exit status (2: another error, 3: the queue never filled, 4: the "
        "timeout did not take about 3 s)",
        0,
        WEXITSTATUS(status));
  }

 private:
  std::string dir_;
  std::string socket_path_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(JournalSocketTest);

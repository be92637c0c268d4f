// Tests for WriteWithoutBlocking: a full pipe or socket gives kWouldBlock
// at once and leaves the shared descriptor's flags alone, a regular file
// is written at its current offset, and a pipe without a reader fails
// without SIGPIPE.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/handles.h"
#include "common/nonblocking_write.h"

namespace {

using zsp::UniqueFd;
using zsp::WriteOutcome;
using zsp::WriteWithoutBlocking;

// Writes to fd through a non-blocking descriptor of its own until full.
void Fill(int fd) {
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  UniqueFd own(open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  std::string block(4096, '.');
  while (write(own.get(), block.data(), block.size()) > 0) {
  }
}

void FillSocket(int fd) {
  std::string block(4096, '.');
  while (send(fd, block.data(), block.size(), MSG_DONTWAIT) > 0) {
  }
}

class NonblockingWriteTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(NonblockingWriteTest);
  CPPUNIT_TEST(PipeWithRoomWritten);
  CPPUNIT_TEST(FullPipeWouldBlock);
  CPPUNIT_TEST(FullSocketWouldBlock);
  CPPUNIT_TEST(RegularFileAtOffset);
  CPPUNIT_TEST(PipeWithoutReaderFails);
  CPPUNIT_TEST_SUITE_END();

 public:
  void PipeWithRoomWritten() {
    int fds[2];
    CPPUNIT_ASSERT_EQUAL(0, pipe2(fds, O_CLOEXEC));
    UniqueFd reader(fds[0]), writer(fds[1]);
    CPPUNIT_ASSERT(WriteWithoutBlocking(writer.get(), "line\n") ==
                   WriteOutcome::kWritten);
    char buffer[16] = {};
    CPPUNIT_ASSERT_EQUAL(ssize_t{5}, read(reader.get(), buffer, sizeof buffer));
    CPPUNIT_ASSERT_EQUAL(std::string("line\n"), std::string(buffer));
  }

  void FullPipeWouldBlock() {
    int fds[2];
    CPPUNIT_ASSERT_EQUAL(0, pipe2(fds, O_CLOEXEC));
    UniqueFd reader(fds[0]), writer(fds[1]);
    Fill(writer.get());
    CPPUNIT_ASSERT(WriteWithoutBlocking(writer.get(), "line\n") ==
                   WriteOutcome::kWouldBlock);
    CPPUNIT_ASSERT_EQUAL(0, fcntl(writer.get(), F_GETFL) & O_NONBLOCK);
  }

  void FullSocketWouldBlock() {
    int fds[2];
    CPPUNIT_ASSERT_EQUAL(
        0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
    UniqueFd reader(fds[0]), writer(fds[1]);
    FillSocket(writer.get());
    CPPUNIT_ASSERT(WriteWithoutBlocking(writer.get(), "line\n") ==
                   WriteOutcome::kWouldBlock);
    CPPUNIT_ASSERT_EQUAL(0, fcntl(writer.get(), F_GETFL) & O_NONBLOCK);
  }

  void RegularFileAtOffset() {
    char path[] = "/tmp/zsp-nonblocking-XXXXXX";
    UniqueFd file(mkostemp(path, O_CLOEXEC));
    CPPUNIT_ASSERT(file.get() >= 0);
    unlink(path);
    CPPUNIT_ASSERT_EQUAL(ssize_t{6}, write(file.get(), "first\n", 6));
    CPPUNIT_ASSERT(WriteWithoutBlocking(file.get(), "second\n") ==
                   WriteOutcome::kWritten);
    char buffer[32] = {};
    CPPUNIT_ASSERT_EQUAL(ssize_t{13},
                         pread(file.get(), buffer, sizeof buffer, 0));
    CPPUNIT_ASSERT_EQUAL(std::string("first\nsecond\n"), std::string(buffer));
  }

  void PipeWithoutReaderFails() {
    int fds[2];
    CPPUNIT_ASSERT_EQUAL(0, pipe2(fds, O_CLOEXEC));
    close(fds[0]);
    UniqueFd writer(fds[1]);
    // Opening a FIFO for writing without a reader fails with ENXIO, and
    // the test process must not get SIGPIPE either way.
    CPPUNIT_ASSERT(WriteWithoutBlocking(writer.get(), "line\n") ==
                   WriteOutcome::kFailed);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(NonblockingWriteTest);

}  // namespace

// Tests for PeerProcess: the process that connected to a unix socket is
// pinned at accept time, and IsAlive turns false once that process has
// exited, both through a pidfd (SO_PEERPIDFD) and through its start time.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "agent/peer.h"
#include "common/handles.h"

namespace {

using zsp::UniqueFd;
using zsp::agent::PeerProcess;

// A listening socket in the abstract namespace, unique per process.
UniqueFd ListenAbstract(sockaddr_un* address) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  *address = {};
  address->sun_family = AF_UNIX;
  std::string name = "zsp-peer-test-" + std::to_string(getpid());
  std::memcpy(address->sun_path + 1, name.data(), name.size());
  socklen_t length = offsetof(sockaddr_un, sun_path) + 1 + name.size();
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(address), length) != 0 ||
      listen(fd.get(), 1) != 0) {
    return UniqueFd();
  }
  return fd;
}

class AgentPeerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentPeerTest);
  CPPUNIT_TEST(PidfdSeesExit);
  CPPUNIT_TEST(StartTimeSeesExit);
  CPPUNIT_TEST(StartTimeOfSelf);
  CPPUNIT_TEST_SUITE_END();

 public:
  void PidfdSeesExit() { CheckExitSeen(false, zsp::agent::kPinPidfd); }
  void StartTimeSeesExit() { CheckExitSeen(true, zsp::agent::kPinStartTime); }

  void StartTimeOfSelf() {
    auto start = zsp::agent::ProcessStartTime(getpid());
    CPPUNIT_ASSERT(start.ok());
    CPPUNIT_ASSERT(!start.value().empty());
    CPPUNIT_ASSERT(!zsp::agent::ProcessStartTime(0).ok());
  }

 private:
  // Pins a child that connects and waits for one byte, lets it exit, and
  // checks IsAlive while the child is a zombie and once it is reaped.
  void CheckExitSeen(bool force_start_time, const std::string& pin) {
    sockaddr_un address;
    UniqueFd listener = ListenAbstract(&address);
    CPPUNIT_ASSERT(listener.get() >= 0);
    pid_t child = fork();
    CPPUNIT_ASSERT(child >= 0);
    if (child == 0) {
      int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      socklen_t length = offsetof(sockaddr_un, sun_path) + 1 +
                         std::strlen(address.sun_path + 1);
      if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
        _exit(1);
      }
      char byte;
      ssize_t ignored = read(fd, &byte, 1);
      (void)ignored;
      _exit(0);
    }
    UniqueFd connection(accept4(listener.get(), nullptr, nullptr,
                                SOCK_CLOEXEC));
    CPPUNIT_ASSERT(connection.get() >= 0);
    auto peer = PeerProcess::FromSocket(connection.get(), force_start_time);
    CPPUNIT_ASSERT_MESSAGE(peer.ok() ? "" : peer.error(), peer.ok());
    CPPUNIT_ASSERT_EQUAL(child, peer.value().pid());
    CPPUNIT_ASSERT_EQUAL(getuid(), peer.value().uid());
    CPPUNIT_ASSERT_EQUAL(pin, std::string(peer.value().pin()));
    CPPUNIT_ASSERT(peer.value().IsAlive());

    CPPUNIT_ASSERT_EQUAL(ssize_t{1}, write(connection.get(), "x", 1));
    siginfo_t info{};
    CPPUNIT_ASSERT_EQUAL(0, waitid(P_PID, child, &info, WEXITED | WNOWAIT));
    CPPUNIT_ASSERT_MESSAGE("zombie seen as alive", !peer.value().IsAlive());
    int status = 0;
    CPPUNIT_ASSERT_EQUAL(child, waitpid(child, &status, 0));
    CPPUNIT_ASSERT_MESSAGE("reaped seen as alive", !peer.value().IsAlive());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentPeerTest);

}  // namespace

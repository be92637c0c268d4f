// Tests for what zsp-agent accepts from logind replies and /proc: session
// ids, session object paths as sd_bus_path_encode writes them, and the
// start time in /proc/PID/stat, and how a retried end keeps what the
// first attempt did to the sessions.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <string>

#include "agent/agent.h"
#include "agent/logind.h"

namespace {

using zsp::agent::IsSessionId;
using zsp::agent::MergeSessionsEnd;
using zsp::agent::SessionsEnd;
using zsp::agent::ParseStartTime;
using zsp::agent::ReferToProcess;
using zsp::agent::SessionIdOfPath;
using zsp::agent::SessionScopeOf;

class AgentLogindTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentLogindTest);
  CPPUNIT_TEST(SessionIdsAccepted);
  CPPUNIT_TEST(SessionIdsRejected);
  CPPUNIT_TEST(SessionPathDecoded);
  CPPUNIT_TEST(SessionPathRejected);
  CPPUNIT_TEST(SessionScopeMatchesId);
  CPPUNIT_TEST(StartTimeParsed);
  CPPUNIT_TEST(StartTimeRejected);
  CPPUNIT_TEST(ReferToOwnProcess);
  CPPUNIT_TEST(RetryKeepsEarlierOutcome);
  CPPUNIT_TEST_SUITE_END();

 public:
  void SessionIdsAccepted() {
    for (const char* id : {"1", "42", "c1", "C7x"}) {
      CPPUNIT_ASSERT_MESSAGE(id, IsSessionId(id));
    }
    CPPUNIT_ASSERT(IsSessionId(std::string(64, '9')));
  }

  void SessionIdsRejected() {
    for (const char* id : {"", "1 2", "1/2", "../1", "1\n", "a-b", "_31"}) {
      CPPUNIT_ASSERT_MESSAGE(id, !IsSessionId(id));
    }
    CPPUNIT_ASSERT(!IsSessionId(std::string(65, '9')));
  }

  void SessionPathDecoded() {
    // sd_bus_path_encode escapes a leading digit: "3" becomes "_33".
    auto id = SessionIdOfPath("/org/freedesktop/login1/session/_33");
    CPPUNIT_ASSERT_MESSAGE(id.ok() ? "" : id.error(), id.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("3"), id.value());
    id = SessionIdOfPath("/org/freedesktop/login1/session/c1");
    CPPUNIT_ASSERT_MESSAGE(id.ok() ? "" : id.error(), id.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("c1"), id.value());
  }

  void SessionPathRejected() {
    for (const char* path :
         {"/org/freedesktop/login1/session", "/org/freedesktop/login1/user/_31",
          "/org/freedesktop/login1/session/self/x",
          "/org/freedesktop/login1/session/_2d1",  // "-1"
          "/org/freedesktop/login1/session/_2e_2e", "", "/"}) {
      CPPUNIT_ASSERT_MESSAGE(path, !SessionIdOfPath(path).ok());
    }
  }

  void SessionScopeMatchesId() {
    std::string scope = "/user.slice/user-1001.slice/session-3.scope";
    CPPUNIT_ASSERT_EQUAL(scope, SessionScopeOf(scope, "3"));
    CPPUNIT_ASSERT_EQUAL(std::string(), SessionScopeOf(scope, "13"));
    CPPUNIT_ASSERT_EQUAL(std::string(), SessionScopeOf(scope, "../3"));
    CPPUNIT_ASSERT_EQUAL(std::string(),
                         SessionScopeOf("/zsp.slice/zsp-g.slice/x.scope", "3"));
    CPPUNIT_ASSERT_EQUAL(std::string(), SessionScopeOf("/session-3.scope/x",
                                                       "3"));
    CPPUNIT_ASSERT_EQUAL(std::string(), SessionScopeOf("", "3"));
  }

  void StartTimeParsed() {
    // A command name with ") " in it must not shift the fields.
    std::string stat =
        "1234 (a) b) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 "
        "0 987654 10000 200";
    auto start = ParseStartTime(stat);
    CPPUNIT_ASSERT_MESSAGE(start.ok() ? "" : start.error(), start.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t{987654}, start.value());
  }

  void StartTimeRejected() {
    CPPUNIT_ASSERT(!ParseStartTime("").ok());
    CPPUNIT_ASSERT(!ParseStartTime("1 (x) S 1 2 3").ok());
    CPPUNIT_ASSERT(!ParseStartTime("1 (x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 "
                                   "15 16 17 18 19 20")
                        .ok());
    CPPUNIT_ASSERT(!ParseStartTime("1 (x) S 1 1 1 0 -1 4 1 0 0 0 1 2 0 0 20 "
                                   "0 1 0 12x 1 1")
                        .ok());
  }

  void ReferToOwnProcess() {
    auto first = ReferToProcess(getpid());
    auto second = ReferToProcess(getpid());
    CPPUNIT_ASSERT_MESSAGE(first.ok() ? "" : first.error(), first.ok());
    CPPUNIT_ASSERT(second.ok());
    CPPUNIT_ASSERT(first.value().start_time > 0);
    CPPUNIT_ASSERT_EQUAL(first.value().start_time, second.value().start_time);
  }

  // An end killed session 3, then its cgroup kill failed. The retry finds
  // session 3 gone and a new session 4. The merged outcome keeps
  // "3=killed" with its processes and adds session 4.
  void RetryKeepsEarlierOutcome() {
    SessionsEnd earlier;
    earlier.ids = {"3"};
    earlier.scopes = {"/user.slice/session-3.scope"};
    earlier.outcomes = {"3=killed"};
    earlier.processes.pids = {100, 101};
    earlier.processes.names = {"bash", "sleep"};
    SessionsEnd later;
    later.ids = {"3", "4"};
    later.scopes = {"/user.slice/session-3.scope",
                    "/user.slice/session-4.scope"};
    later.outcomes = {"3=terminated", "4=terminated"};
    later.processes.pids = {101, 200};
    later.processes.names = {"sleep", "sshd"};
    later.error = "timed out";

    SessionsEnd merged = MergeSessionsEnd(earlier, later);
    CPPUNIT_ASSERT_EQUAL(size_t(2), merged.ids.size());
    CPPUNIT_ASSERT_EQUAL(std::string("4"), merged.ids[1]);
    CPPUNIT_ASSERT_EQUAL(std::string("/user.slice/session-4.scope"),
                         merged.scopes[1]);
    CPPUNIT_ASSERT_EQUAL(size_t(2), merged.outcomes.size());
    CPPUNIT_ASSERT_EQUAL(std::string("3=killed"), merged.outcomes[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("4=terminated"), merged.outcomes[1]);
    CPPUNIT_ASSERT_EQUAL(size_t(3), merged.processes.pids.size());
    CPPUNIT_ASSERT_EQUAL(pid_t(200), merged.processes.pids[2]);
    CPPUNIT_ASSERT_EQUAL(std::string("sshd"), merged.processes.names[2]);
    CPPUNIT_ASSERT_EQUAL(std::string("timed out"), merged.error);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentLogindTest);

}  // namespace

// Tests for common/audit_spool: appending, the hash chain, the checks on
// ownership and mode, and one unbroken chain under concurrent writers.
#include "common/audit_spool.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

std::vector<std::string> Fields(const std::string& user) {
  return {"ZSP_USER=" + user, "ZSP_DECISION=allow"};
}

// Drops CAP_SYS_RESOURCE from this process, so that AppendToSpool cannot
// lift RLIMIT_FSIZE, as in a host process without that capability.
void DropSysResource() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  syscall(SYS_capget, &header, data);
  unsigned bit = 1u << (CAP_SYS_RESOURCE % 32);
  data[CAP_SYS_RESOURCE / 32].effective &= ~bit;
  data[CAP_SYS_RESOURCE / 32].permitted &= ~bit;
  syscall(SYS_capset, &header, data);
}

// True when this process may raise a hard resource limit.
bool HasSysResource() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return data[CAP_SYS_RESOURCE / 32].effective &
         (1u << (CAP_SYS_RESOURCE % 32));
}

}  // namespace

class AuditSpoolTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AuditSpoolTest);
  CPPUNIT_TEST(AppendBuildsChain);
  CPPUNIT_TEST(AlteredRecordBreaksChain);
  CPPUNIT_TEST(RemovedRecordBreaksChain);
  CPPUNIT_TEST(OpenDirectoryRejected);
  CPPUNIT_TEST(GroupReadableFileRejected);
  CPPUNIT_TEST(TornLastLineRepaired);
  CPPUNIT_TEST(TornOnlyLineRepaired);
  CPPUNIT_TEST(LongTornLineRejected);
  CPPUNIT_TEST(UnparsableLastLineRejected);
  CPPUNIT_TEST(CutWriteUndone);
  CPPUNIT_TEST(CutRepairKeepsTornLine);
  CPPUNIT_TEST(FileSizeLimitLifted);
  CPPUNIT_TEST(RemovedUserFromMessage);
  CPPUNIT_TEST(ConcurrentWritersOneChain);
  CPPUNIT_TEST(Sha256KnownAnswer);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char tmpl[] = "/tmp/zsp-spool-test.XXXXXX";
    base_ = mkdtemp(tmpl);
    dir_ = base_ + "/spool";
  }
  void tearDown() override { std::filesystem::remove_all(base_); }

  void AppendBuildsChain() {
    for (int i = 1; i <= 3; ++i) {
      auto pos = zsp::AppendToSpool(dir_, Fields("alice"));
      CPPUNIT_ASSERT_MESSAGE(pos.ok() ? "" : pos.error(), pos.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE("sequence", uint64_t(i), pos.value().seq);
    }
    auto lines = Lines();
    zsp::ChainCheck check = zsp::CheckChain(lines);
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("records", uint64_t(3), check.records);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("last hash", zsp::Sha256Hex(lines[2]),
                                 check.last_hash);
    struct stat st {};
    stat(dir_.c_str(), &st);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("directory mode", 0700u,
                                 unsigned(st.st_mode & 0777));
    stat((dir_ + "/" + zsp::kSpoolFileName).c_str(), &st);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("file mode", 0600u,
                                 unsigned(st.st_mode & 0777));
  }

  void AlteredRecordBreaksChain() {
    for (int i = 0; i < 3; ++i) zsp::AppendToSpool(dir_, Fields("alice"));
    auto lines = Lines();
    size_t at = lines[1].find("alice");
    lines[1].replace(at, 5, "mallo");
    zsp::ChainCheck check = zsp::CheckChain(lines);
    CPPUNIT_ASSERT_MESSAGE("altered record detected", !check.intact);
    CPPUNIT_ASSERT_MESSAGE(check.problem,
                           check.problem.find("record 3") == 0);
  }

  void RemovedRecordBreaksChain() {
    for (int i = 0; i < 3; ++i) zsp::AppendToSpool(dir_, Fields("alice"));
    auto lines = Lines();
    lines.erase(lines.begin() + 1);
    zsp::ChainCheck check = zsp::CheckChain(lines);
    CPPUNIT_ASSERT_MESSAGE("removed record detected", !check.intact);
    CPPUNIT_ASSERT_MESSAGE(check.problem,
                           check.problem.find("out of order") !=
                               std::string::npos);
  }

  void OpenDirectoryRejected() {
    std::filesystem::create_directory(dir_);
    chmod(dir_.c_str(), 0755);
    auto pos = zsp::AppendToSpool(dir_, Fields("alice"));
    CPPUNIT_ASSERT_MESSAGE("0755 directory rejected", !pos.ok());
    CPPUNIT_ASSERT_MESSAGE(pos.error(), pos.error().find("group or others") !=
                                            std::string::npos);
  }

  void GroupReadableFileRejected() {
    zsp::AppendToSpool(dir_, Fields("alice"));
    chmod((dir_ + "/" + zsp::kSpoolFileName).c_str(), 0640);
    auto pos = zsp::AppendToSpool(dir_, Fields("alice"));
    CPPUNIT_ASSERT_MESSAGE("0640 file rejected", !pos.ok());
  }

  // A writer killed part way through its line leaves it without a
  // newline. The next append removes it and records what it held.
  void TornLastLineRepaired() {
    zsp::AppendToSpool(dir_, Fields("alice"));
    std::string torn = "{\"seq\":2,\"ZSP_USER\":\"mallory";
    std::ofstream(dir_ + "/" + zsp::kSpoolFileName, std::ios::app) << torn;

    auto pos = zsp::AppendToSpool(dir_, Fields("bob"));
    CPPUNIT_ASSERT_MESSAGE(pos.ok() ? "" : pos.error(), pos.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), pos.value().seq);
    const zsp::SpoolRepair& repair = pos.value().repair;
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), repair.seq);
    CPPUNIT_ASSERT_EQUAL(torn.size(), repair.removed_bytes);
    CPPUNIT_ASSERT_EQUAL(zsp::Sha256Hex(torn), repair.removed_hash);

    auto lines = Lines();
    CPPUNIT_ASSERT_EQUAL(size_t(3), lines.size());
    zsp::ChainCheck check = zsp::CheckChain(lines);
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
    CPPUNIT_ASSERT_EQUAL(zsp::Sha256Hex(lines[1]), repair.hash);
    auto record = nlohmann::json::parse(lines[1]);
    CPPUNIT_ASSERT_EQUAL(std::string(zsp::kSpoolRepairedMessageId),
                         record["MESSAGE_ID"].get<std::string>());
    CPPUNIT_ASSERT_EQUAL(std::to_string(torn.size()),
                         record["ZSP_REMOVED_BYTES"].get<std::string>());
    CPPUNIT_ASSERT_EQUAL(zsp::Sha256Hex(torn),
                         record["ZSP_REMOVED_SHA256"].get<std::string>());
    CPPUNIT_ASSERT_MESSAGE(
        lines[1], record["ZSP_REMOVED_TEXT"].get<std::string>().find(
                      "mallory") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(std::string("bob"),
                         nlohmann::json::parse(lines[2])["ZSP_USER"]
                             .get<std::string>());
    CPPUNIT_ASSERT_EQUAL(uint64_t(0),
                         zsp::AppendToSpool(dir_, Fields("carol"))
                             .value()
                             .repair.seq);
  }

  // A spool with nothing but an incomplete line starts its chain anew.
  void TornOnlyLineRepaired() {
    std::filesystem::create_directories(dir_);
    chmod(dir_.c_str(), 0700);
    std::ofstream(dir_ + "/" + zsp::kSpoolFileName) << "{\"seq\":1,";
    chmod((dir_ + "/" + zsp::kSpoolFileName).c_str(), 0600);

    auto pos = zsp::AppendToSpool(dir_, Fields("alice"));
    CPPUNIT_ASSERT_MESSAGE(pos.ok() ? "" : pos.error(), pos.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(1), pos.value().repair.seq);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), pos.value().seq);
    zsp::ChainCheck check = zsp::CheckChain(Lines());
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), check.records);
  }

  // No writer leaves an incomplete line longer than a record may be, so
  // such a line is not removed.
  void LongTornLineRejected() {
    zsp::AppendToSpool(dir_, Fields("alice"));
    std::string path = dir_ + "/" + zsp::kSpoolFileName;
    std::ofstream(path, std::ios::app)
        << std::string(zsp::kMaxSpoolLineBytes + 1, 'x');
    auto size_before = std::filesystem::file_size(path);

    auto pos = zsp::AppendToSpool(dir_, Fields("bob"));
    CPPUNIT_ASSERT_MESSAGE("append after a long torn line fails", !pos.ok());
    CPPUNIT_ASSERT_MESSAGE(pos.error(),
                           pos.error().find("no newline") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(size_before, std::filesystem::file_size(path));
  }

  // A complete last line that is not a record is not the trace of a
  // killed writer, so appends fail until an administrator looks.
  void UnparsableLastLineRejected() {
    zsp::AppendToSpool(dir_, Fields("alice"));
    std::ofstream(dir_ + "/" + zsp::kSpoolFileName, std::ios::app)
        << "not a record\n";
    auto pos = zsp::AppendToSpool(dir_, Fields("bob"));
    CPPUNIT_ASSERT_MESSAGE("append after a bad line fails", !pos.ok());
    CPPUNIT_ASSERT_MESSAGE(pos.error(), pos.error().find("sequence number") !=
                                            std::string::npos);
  }

  // A file size limit that cannot be lifted makes the write stop part-way,
  // as a full disk does.
  void CutWriteUndone() {
    zsp::AppendToSpool(dir_, Fields("alice"));
    std::string path = dir_ + "/" + zsp::kSpoolFileName;
    off_t size_before = std::filesystem::file_size(path);
    CPPUNIT_ASSERT_MESSAGE("append over the size limit fails",
                           WriteFailsUnderLimit(rlim_t(size_before) + 10));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("spool cut back", uintmax_t(size_before),
                                 std::filesystem::file_size(path));

    auto pos = zsp::AppendToSpool(dir_, Fields("carol"));
    CPPUNIT_ASSERT_MESSAGE(pos.ok() ? "" : pos.error(), pos.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("next sequence", uint64_t(2),
                                 pos.value().seq);
    zsp::ChainCheck check = zsp::CheckChain(Lines());
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
  }

  // A write that stops part way over an incomplete line puts the line's
  // bytes back, so the next append still records them.
  void CutRepairKeepsTornLine() {
    zsp::AppendToSpool(dir_, Fields("alice"));
    std::string path = dir_ + "/" + zsp::kSpoolFileName;
    off_t torn_from = std::filesystem::file_size(path);
    std::string torn = "{\"MESSAGE\":\"allow user=mallory runas=root " +
                       std::string(200, 'x');
    std::ofstream(path, std::ios::app) << torn;
    std::string before = ReadFile(path);

    for (rlim_t limit_bytes : {rlim_t(torn_from) + 10, rlim_t(torn_from) - 5}) {
      CPPUNIT_ASSERT_MESSAGE("append over the size limit fails",
                             WriteFailsUnderLimit(limit_bytes));
      CPPUNIT_ASSERT_MESSAGE("spool as it was", before == ReadFile(path));
    }

    auto pos = zsp::AppendToSpool(dir_, Fields("carol"));
    CPPUNIT_ASSERT_MESSAGE(pos.ok() ? "" : pos.error(), pos.ok());
    CPPUNIT_ASSERT_EQUAL(zsp::Sha256Hex(torn), pos.value().repair.removed_hash);
    CPPUNIT_ASSERT_EQUAL(std::string("mallory"),
                         pos.value().repair.removed_user);
    zsp::ChainCheck check = zsp::CheckChain(Lines());
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
  }

  // The invoking user's RLIMIT_FSIZE does not cut the record when it can
  // be lifted: a soft limit always, a hard one with CAP_SYS_RESOURCE. The
  // limit is back afterwards.
  void FileSizeLimitLifted() {
    zsp::AppendToSpool(dir_, Fields("alice"));
    std::string path = dir_ + "/" + zsp::kSpoolFileName;
    for (bool hard : {false, true}) {
      rlim_t limit_bytes = rlim_t(std::filesystem::file_size(path)) + 10;
      struct rlimit limit {limit_bytes, hard ? limit_bytes : RLIM_INFINITY};
      bool can_lift = !hard || HasSysResource();
      pid_t pid = fork();
      if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &limit);
        auto pos = zsp::AppendToSpool(dir_, Fields("bob"));
        struct rlimit after {};
        getrlimit(RLIMIT_FSIZE, &after);
        bool restored = after.rlim_cur == limit.rlim_cur &&
                        after.rlim_max == limit.rlim_max;
        _exit(restored && pos.ok() == can_lift ? 0 : 1);
      }
      int status = 0;
      waitpid(pid, &status, 0);
      CPPUNIT_ASSERT_MESSAGE(
          hard ? "hard limit: lifted only with CAP_SYS_RESOURCE, restored"
               : "soft limit: lifted and restored",
          WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    zsp::ChainCheck check = zsp::CheckChain(Lines());
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
    CPPUNIT_ASSERT_EQUAL(uint64_t(HasSysResource() ? 3 : 2), check.records);
  }

  // The user of an incomplete line comes from ZSP_USER when the line got
  // that far, else from its MESSAGE, and is empty when the name is cut.
  void RemovedUserFromMessage() {
    struct Case {
      std::string torn;
      std::string user;
    };
    const Case cases[] = {
        {"{\"MESSAGE\":\"deny user=eve runas=root", "eve"},
        {"{\"MESSAGE\":\"allow user=ev", ""},
        {"{\"MESSAGE\":\"x\",\"ZSP_USER\":\"dave\",\"ZSP_X", "dave"},
        {"{\"MESS", ""},
        // A cut repair record quotes other lines, user= words included.
        {"{\"MESSAGE\":\"spool-repaired removed an incomplete last line "
         "of 9 bytes\",\"ZSP_REMOVED_TEXT\":\"x user=root y",
         ""},
        // user= only counts as the MESSAGE's second word.
        {"{\"MESSAGE\":\"deny reason=x user=root \",\"Z", ""},
        {"{\"MESSAGE\":\"allow user=carol\",\"ZSP_", ""},
    };
    for (const Case& c : cases) {
      std::filesystem::remove_all(dir_);
      zsp::AppendToSpool(dir_, Fields("alice"));
      std::ofstream(dir_ + "/" + zsp::kSpoolFileName, std::ios::app) << c.torn;
      auto pos = zsp::AppendToSpool(dir_, Fields("bob"));
      CPPUNIT_ASSERT_MESSAGE(pos.ok() ? "" : pos.error(), pos.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.torn, c.user,
                                   pos.value().repair.removed_user);
    }
  }

  void ConcurrentWritersOneChain() {
    constexpr int kWriters = 8;
    constexpr int kEach = 25;
    zsp::AppendToSpool(dir_, Fields("first"));  // creates the directory
    std::vector<pid_t> children;
    for (int w = 0; w < kWriters; ++w) {
      pid_t pid = fork();
      if (pid == 0) {
        for (int i = 0; i < kEach; ++i) {
          if (!zsp::AppendToSpool(dir_, Fields("w" + std::to_string(w))).ok()) {
            _exit(1);
          }
        }
        _exit(0);
      }
      children.push_back(pid);
    }
    for (pid_t pid : children) {
      int status = 0;
      waitpid(pid, &status, 0);
      CPPUNIT_ASSERT_MESSAGE("writer succeeded",
                             WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    zsp::ChainCheck check = zsp::CheckChain(Lines());
    CPPUNIT_ASSERT_MESSAGE(check.problem, check.intact);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("all records present",
                                 uint64_t(1 + kWriters * kEach), check.records);
  }

  void Sha256KnownAnswer() {
    // FIPS 180-2 example: SHA-256("abc").
    CPPUNIT_ASSERT_EQUAL(
        std::string(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        zsp::Sha256Hex("abc"));
  }

 private:
  // Appends a record for bob in a child without CAP_SYS_RESOURCE whose
  // RLIMIT_FSIZE is limit_bytes, and returns whether the write failed.
  bool WriteFailsUnderLimit(rlim_t limit_bytes) {
    pid_t pid = fork();
    if (pid == 0) {
      signal(SIGXFSZ, SIG_IGN);
      DropSysResource();
      struct rlimit limit {limit_bytes, limit_bytes};
      setrlimit(RLIMIT_FSIZE, &limit);
      auto pos = zsp::AppendToSpool(dir_, Fields("bob"));
      _exit(!pos.ok() && pos.error().find("cannot write spool") !=
                             std::string::npos
                ? 0
                : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::vector<std::string> Lines() {
    auto lines = zsp::ReadSpoolLines(dir_ + "/" + zsp::kSpoolFileName);
    CPPUNIT_ASSERT_MESSAGE(lines.ok() ? "" : lines.error(), lines.ok());
    return lines.value();
  }

  std::string base_;
  std::string dir_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(AuditSpoolTest);

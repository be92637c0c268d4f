// Tests for common/sudo_policy: the helpers that convert sudo's string
// arrays, command resolution through secure_path, and the parts of
// SudoPolicy that need no configuration, broker or journal.
#include "common/sudo_policy.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using zsp::ResolveCommand;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

class SudoPolicyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SudoPolicyTest);
  CPPUNIT_TEST(ParseKeyValuesBasic);
  CPPUNIT_TEST(ParseKeyValuesFirstWins);
  CPPUNIT_TEST(ParseKeyValuesSkipsNoEquals);
  CPPUNIT_TEST(ParseKeyValuesNullList);
  CPPUNIT_TEST(CopyStringsCopiesAll);
  CPPUNIT_TEST(ResolveFromSecurePath);
  CPPUNIT_TEST(ResolveSecurePathOrder);
  CPPUNIT_TEST(ResolveSecurePathSkipsNonExecutable);
  CPPUNIT_TEST(ResolveNotFound);
  CPPUNIT_TEST(ResolveIgnoresCwdForBareName);
  CPPUNIT_TEST(ResolveRelativeToCwd);
  CPPUNIT_TEST(ResolveRelativeWithoutCwd);
  CPPUNIT_TEST(ResolveAbsolute);
  CPPUNIT_TEST(ResolveDirectory);
  CPPUNIT_TEST(ResolveNonExecutable);
  CPPUNIT_TEST(ResolveSymlink);
  CPPUNIT_TEST(ResolveDanglingSymlink);
  CPPUNIT_TEST(ResolveEmptyName);
  CPPUNIT_TEST(PolicyListWithoutCommand);
  CPPUNIT_TEST(ResolveGroupByNameAndGid);
  CPPUNIT_TEST(ResolveGroupUnknown);
  CPPUNIT_TEST(ExpiryWarningDelayCases);
  CPPUNIT_TEST(ExpiryWarningTextGrant);
  CPPUNIT_TEST(ExpiryWarningTextBreakGlass);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char pattern[] = "/tmp/zsp-sudo-policy-test.XXXXXX";
    CPPUNIT_ASSERT_MESSAGE("mkdtemp", mkdtemp(pattern) != nullptr);
    // Canonical, because ResolveCommand returns realpath results.
    char canonical[PATH_MAX];
    CPPUNIT_ASSERT_MESSAGE("realpath", realpath(pattern, canonical));
    dir_ = canonical;
  }

  void tearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void ParseKeyValuesBasic() {
    const char* list[] = {"user=alice", "uid=1000", "cwd=/home/alice",
                          "empty=",     "expr=a=b", nullptr};
    zsp::KeyValues values = zsp::ParseKeyValues(list);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("count", size_t{5}, values.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("user", std::string("alice"), values["user"]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("uid", std::string("1000"), values["uid"]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("cwd", std::string("/home/alice"),
                                 values["cwd"]);
    CPPUNIT_ASSERT_MESSAGE("empty value kept", values.count("empty") == 1);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("empty value", std::string(""),
                                 values["empty"]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("split at the first '='", std::string("a=b"),
                                 values["expr"]);
  }

  void ParseKeyValuesFirstWins() {
    const char* list[] = {"runas_user=root", "runas_user=postgres", nullptr};
    zsp::KeyValues values = zsp::ParseKeyValues(list);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("count", size_t{1}, values.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("first value", std::string("root"),
                                 values["runas_user"]);
  }

  void ParseKeyValuesSkipsNoEquals() {
    const char* list[] = {"noequals", "", "user=alice", nullptr};
    zsp::KeyValues values = zsp::ParseKeyValues(list);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("count", size_t{1}, values.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("user", std::string("alice"), values["user"]);
  }

  void ParseKeyValuesNullList() {
    CPPUNIT_ASSERT_MESSAGE("NULL list", zsp::ParseKeyValues(nullptr).empty());
    const char* empty[] = {nullptr};
    CPPUNIT_ASSERT_MESSAGE("empty list", zsp::ParseKeyValues(empty).empty());
  }

  void CopyStringsCopiesAll() {
    const char* list[] = {"/usr/bin/id", "", "-u", nullptr};
    std::vector<std::string> copy = zsp::CopyStrings(list);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("count", size_t{3}, copy.size());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("first", std::string("/usr/bin/id"), copy[0]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("empty kept", std::string(""), copy[1]);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("last", std::string("-u"), copy[2]);
    CPPUNIT_ASSERT_MESSAGE("NULL list", zsp::CopyStrings(nullptr).empty());
  }

  void ResolveFromSecurePath() {
    auto result = ResolveCommand("id", "/", "/usr/bin:/bin");
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(result), result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("path", std::string("/usr/bin/id"),
                                 result.value());
  }

  void ResolveSecurePathOrder() {
    std::string first = MakeDir("first");
    std::string second = MakeDir("second");
    WriteFile(second + "/tool", 0755);
    std::string found = WriteFile(first + "/tool", 0755);
    auto result = ResolveCommand("tool", "", first + ":" + second);
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(result), result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("first directory wins", found, result.value());
  }

  void ResolveSecurePathSkipsNonExecutable() {
    std::string first = MakeDir("first");
    std::string second = MakeDir("second");
    WriteFile(first + "/tool", 0644);
    MakeDir("first/other");
    std::string found = WriteFile(second + "/tool", 0755);
    std::string other = WriteFile(second + "/other", 0700);
    auto result = ResolveCommand("tool", "", first + ":" + second);
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(result), result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("non-executable file skipped", found,
                                 result.value());
    auto dir_result = ResolveCommand("other", "", first + ":" + second);
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(dir_result),
                           dir_result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("directory skipped", other,
                                 dir_result.value());
  }

  void ResolveNotFound() {
    auto result = ResolveCommand("zsp-no-such-command", "/", "/usr/bin:/bin");
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_MESSAGE("message names the command: " + result.error(),
                           Contains(result.error(), "zsp-no-such-command"));
  }

  void ResolveIgnoresCwdForBareName() {
    // A bare name is looked up in secure_path only, never in cwd.
    WriteFile(dir_ + "/zsp-local-tool", 0755);
    auto result = ResolveCommand("zsp-local-tool", dir_, "/usr/bin:/bin");
    CPPUNIT_ASSERT_MESSAGE("not found in cwd", !result.ok());
  }

  void ResolveRelativeToCwd() {
    std::string tool = WriteFile(dir_ + "/x", 0755);
    MakeDir("sub");
    auto dot = ResolveCommand("./x", dir_, "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("./x resolve error: " + ErrorText(dot), dot.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("./x", tool, dot.value());
    auto up = ResolveCommand("../x", dir_ + "/sub", "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("../x resolve error: " + ErrorText(up), up.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("../x canonical", tool, up.value());
    auto slash = ResolveCommand("sub/../x", dir_, "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("sub/../x resolve error: " + ErrorText(slash),
                           slash.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("sub/../x canonical", tool, slash.value());
  }

  void ResolveRelativeWithoutCwd() {
    WriteFile(dir_ + "/x", 0755);
    auto result = ResolveCommand("./x", "", "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
  }

  void ResolveAbsolute() {
    std::string tool = WriteFile(dir_ + "/abs", 0755);
    auto result = ResolveCommand(tool, "", "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(result), result.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("path", tool, result.value());
    auto doubled = ResolveCommand(dir_ + "//abs", "/", "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(doubled),
                           doubled.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("canonical", tool, doubled.value());
  }

  void ResolveDirectory() {
    std::string sub = MakeDir("tooldir");
    auto absolute = ResolveCommand(sub, "/", "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("directory rejected", !absolute.ok());
    CPPUNIT_ASSERT_MESSAGE("message: " + absolute.error(),
                           Contains(absolute.error(), "not a regular file"));
    auto from_path = ResolveCommand("tooldir", "/", dir_);
    CPPUNIT_ASSERT_MESSAGE("directory in secure_path rejected",
                           !from_path.ok());
  }

  void ResolveNonExecutable() {
    std::string data = WriteFile(dir_ + "/data", 0644);
    auto result = ResolveCommand(data, "/", "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
    CPPUNIT_ASSERT_MESSAGE("message: " + result.error(),
                           Contains(result.error(), "not executable"));
    auto from_path = ResolveCommand("data", "/", dir_);
    CPPUNIT_ASSERT_MESSAGE("non-executable in secure_path rejected",
                           !from_path.ok());
  }

  void ResolveSymlink() {
    std::string target = WriteFile(MakeDir("real") + "/tool", 0755);
    std::string bin = MakeDir("bin");
    std::string link = bin + "/alias";
    CPPUNIT_ASSERT_EQUAL_MESSAGE("symlink", 0,
                                 symlink("../real/tool", link.c_str()));
    auto direct = ResolveCommand(link, "/", "/usr/bin");
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(direct), direct.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("symlink resolved", target, direct.value());
    auto from_path = ResolveCommand("alias", "/", bin);
    CPPUNIT_ASSERT_MESSAGE("resolve error: " + ErrorText(from_path),
                           from_path.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE("symlink in secure_path resolved", target,
                                 from_path.value());
  }

  void ResolveDanglingSymlink() {
    std::string link = dir_ + "/dangling";
    CPPUNIT_ASSERT_EQUAL_MESSAGE(
        "symlink", 0, symlink((dir_ + "/missing").c_str(), link.c_str()));
    CPPUNIT_ASSERT_MESSAGE("rejected",
                           !ResolveCommand(link, "/", "/usr/bin").ok());
  }

  void ResolveEmptyName() {
    auto result = ResolveCommand("", "/", "/usr/bin:/bin");
    CPPUNIT_ASSERT_MESSAGE("rejected", !result.ok());
  }

  // Listing needs the broker, so without a readable configuration it
  // fails closed with a message instead of printing nothing.
  void PolicyListWithoutCommand() {
    zsp::ModuleOptions options;
    options.config_path = "/nonexistent/zsp.conf";
    zsp::SudoPolicy policy({}, {{"user", "alice"}}, {}, options);
    zsp::SudoOutcome outcome = policy.List({}, false);
    CPPUNIT_ASSERT_EQUAL_MESSAGE("denied",
                                 static_cast<int>(zsp::SudoOutcome::kDeny),
                                 static_cast<int>(outcome.result));
    CPPUNIT_ASSERT_MESSAGE("names the configuration",
                           !outcome.messages.empty() &&
                               outcome.messages[0].find("configuration") !=
                                   std::string::npos);
    CPPUNIT_ASSERT_MESSAGE("no command", outcome.argv.empty());
  }

 private:
  static std::string ErrorText(const zsp::Result<std::string>& result) {
    return result.ok() ? "" : result.error();
  }

  // Creates dir_/name and returns its path.
  std::string MakeDir(const std::string& name) {
    std::string path = dir_ + "/" + name;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("mkdir " + path, 0, mkdir(path.c_str(), 0755));
    return path;
  }

  // Creates a small shell script at path with the given mode.
  std::string WriteFile(const std::string& path, mode_t mode) {
    {
      std::ofstream out(path);
      out << "#!/bin/sh\nexit 0\n";
    }
    CPPUNIT_ASSERT_EQUAL_MESSAGE("chmod " + path, 0, chmod(path.c_str(), mode));
    return path;
  }

  std::string dir_;

  void ResolveGroupByNameAndGid() {
    auto by_name = zsp::ResolveRunAsGroup("root");
    CPPUNIT_ASSERT_MESSAGE("root by name", by_name.ok());
    CPPUNIT_ASSERT_EQUAL(gid_t(0), by_name.value().gid);
    auto by_gid = zsp::ResolveRunAsGroup("#0");
    CPPUNIT_ASSERT_MESSAGE("#0", by_gid.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("root"), by_gid.value().name);
  }

  void ResolveGroupUnknown() {
    for (const char* spec : {"no-such-group-zsp", "#4000000000", "#", "#-1",
                             "#1x", ""}) {
      auto group = zsp::ResolveRunAsGroup(spec);
      CPPUNIT_ASSERT_MESSAGE(spec, !group.ok());
    }
  }

  void ExpiryWarningDelayCases() {
    const int64_t now = 1000000;
    CPPUNIT_ASSERT_EQUAL_MESSAGE("off", int64_t{-1},
                                zsp::ExpiryWarningDelay(now, now + 600, 600, 0));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("due later", int64_t{540},
                                 zsp::ExpiryWarningDelay(now, now + 600, 600, 60));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("inside the window", int64_t{0},
                                 zsp::ExpiryWarningDelay(now, now + 30, 30, 60));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("timeout stops the command first", int64_t{-1},
                                 zsp::ExpiryWarningDelay(now, now + 600, 100, 60));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("timeout at the warning", int64_t{-1},
                                 zsp::ExpiryWarningDelay(now, now + 600, 540, 60));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("timeout just after", int64_t{540},
                                 zsp::ExpiryWarningDelay(now, now + 600, 541, 60));
  }

  void ExpiryWarningTextGrant() {
    // 1700000000 is 2023-11-14 22:13:20 UTC.
    std::string text =
        zsp::ExpiryWarningText("g-0123456789ab", 1700000000, 1700000000 - 45);
    CPPUNIT_ASSERT_MESSAGE(text, text.rfind("zsp: grant g-0123456789ab ", 0) == 0);
    CPPUNIT_ASSERT_MESSAGE(text, text.find("ends at 22:13:20 UTC, in 45 s") !=
                                     std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(text, text.find("zspctl request") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE("one line", text.find('\n') == std::string::npos);
  }

  void ExpiryWarningTextBreakGlass() {
    std::string text = zsp::ExpiryWarningText("bg-0123456789abcdef",
                                              1700000000, 1700000010);
    CPPUNIT_ASSERT_MESSAGE(
        text, text.rfind("zsp: break-glass token bg-0123456789abcdef ", 0) == 0);
    CPPUNIT_ASSERT_MESSAGE("no negative time", text.find("in 0 s") !=
                                                   std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(text, text.find("key holders") != std::string::npos);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SudoPolicyTest);

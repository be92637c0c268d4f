#include "agent/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/handles.h"
#include "common/text.h"

namespace zsp::agent {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);

// Undoes the octal escapes (\040 for a space) of a mountinfo path.
std::string UnescapeMountPath(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && text.size() - i >= 4) {
      int value = 0;
      bool octal = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = text[i + j];
        if (c < '0' || c > '7') octal = false;
        value = value * 8 + (c - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    return Error{"cannot open " + path + ": " + strerror(errno)};
  }
  std::string text;
  char buffer[4096];
  while (text.size() < 1024 * 1024) {
    ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"cannot read " + path + ": " + strerror(errno)};
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

Result<bool> WriteSmallFile(const std::string& path, const std::string& text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    return Error{"cannot open " + path + ": " + strerror(errno)};
  }
  ssize_t n = write(fd.get(), text.data(), text.size());
  if (n < 0 || static_cast<size_t>(n) != text.size()) {
    return Error{"cannot write \"" + text + "\" to " + path + ": " +
                 strerror(errno)};
  }
  return true;
}

std::vector<std::string> ChildDirectories(const std::string& dir) {
  std::vector<std::string> names;
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return names;
  while (dirent* entry = readdir(handle)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (entry->d_type == DT_DIR) names.push_back(name);
  }
  closedir(handle);
  return names;
}

// Appends the pids in dir and in every cgroup below it.
void CollectPids(const std::string& dir, std::vector<pid_t>* pids) {
  auto procs = ReadSmallFile(dir + "/cgroup.procs");
  if (procs.ok()) {
    for (const auto& line : SplitString(procs.value(), '\n')) {
      unsigned int pid = 0;
      if (ParseUnsigned(line, &pid) && pid > 0) {
        pids->push_back(static_cast<pid_t>(pid));
      }
    }
  }
  for (const auto& child : ChildDirectories(dir)) {
    CollectPids(dir + "/" + child, pids);
  }
}

std::string ProcessName(pid_t pid) {
  auto comm = ReadSmallFile("/proc/" + std::to_string(pid) + "/comm");
  if (!comm.ok()) return "?";
  std::string name = comm.value();
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

// True while dir or a cgroup below it has a process ("populated 1" in
// cgroup.events), or when the file cannot be read.
bool IsPopulated(const std::string& dir) {
  auto events = ReadSmallFile(dir + "/cgroup.events");
  if (!events.ok()) return access(dir.c_str(), F_OK) == 0;
  return events.value().find("populated 1") != std::string::npos;
}

// Removes dir and the cgroups below it, deepest first. A cgroup directory
// holds only the kernel's files, which rmdir removes with it.
Result<bool> RemoveCgroupTree(const std::string& dir) {
  for (const auto& child : ChildDirectories(dir)) {
    auto removed = RemoveCgroupTree(dir + "/" + child);
    if (!removed.ok()) return removed;
  }
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    return Error{"cannot remove " + dir + ": " + strerror(errno)};
  }
  return true;
}

// The way to end a cgroup's processes on kernels before 5.14: freeze it so
// that nothing forks, send SIGKILL to every process, then thaw it so that
// the signals are delivered.
void FreezeAndKill(const std::string& dir) {
  std::vector<pid_t> pids;
  WriteSmallFile(dir + "/cgroup.freeze", "1");
  CollectPids(dir, &pids);
  for (pid_t pid : pids) kill(pid, SIGKILL);
  WriteSmallFile(dir + "/cgroup.freeze", "0");
}

}  // namespace

Result<std::string> FindCgroup2Mount(std::string_view mountinfo) {
  for (const auto& line : SplitString(mountinfo, '\n')) {
    size_t separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::vector<std::string> after = SplitString(line.substr(separator + 3),
                                                 ' ');
    if (after.empty() || after[0] != "cgroup2") continue;
    std::vector<std::string> before = SplitString(line.substr(0, separator),
                                                  ' ');
    if (before.size() < 5) continue;
    return UnescapeMountPath(before[4]);
  }
  return Error{"no cgroup2 file system is mounted"};
}

GrantCgroups::GrantCgroups(std::string mount, std::string subtree)
    : mount_(std::move(mount)), subtree_(std::move(subtree)) {}

Result<bool> GrantCgroups::Prepare() const {
  std::string dir = mount_ + "/" + subtree_;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error{"cannot create " + dir + ": " + strerror(errno)};
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != 0) {
    return Error{dir + " is not a directory owned by root"};
  }
  return true;
}

std::string GrantCgroups::PathOf(const std::string& grant) const {
  return mount_ + RelativePathOf(grant);
}

std::string GrantCgroups::RelativePathOf(const std::string& grant) const {
  return "/" + subtree_ + "/" + grant;
}

Result<bool> GrantCgroups::Place(const std::string& grant, pid_t pid) const {
  std::string dir = PathOf(grant);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error{"cannot create " + dir + ": " + strerror(errno)};
  }
  return WriteSmallFile(dir + "/cgroup.procs", std::to_string(pid));
}

Result<KillReport> GrantCgroups::KillGrant(const std::string& grant,
                                           long timeout_ms) const {
  KillReport report;
  std::string dir = PathOf(grant);
  if (access(dir.c_str(), F_OK) != 0) return report;
  CollectPids(dir, &report.pids);
  for (pid_t pid : report.pids) report.names.push_back(ProcessName(pid));

  report.used_cgroup_kill = access((dir + "/cgroup.kill").c_str(), W_OK) == 0;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(timeout_ms);
  while (IsPopulated(dir)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error{"processes are still running in " + dir + " after " +
                   std::to_string(timeout_ms) + " ms"};
    }
    if (report.used_cgroup_kill) {
      // The kernel kills every process in the cgroup and below it, and
      // one that forks meanwhile cannot slip out.
      auto written = WriteSmallFile(dir + "/cgroup.kill", "1");
      if (!written.ok()) return Error{written.error()};
    } else {
      // NOTE: this path runs only on kernels without cgroup.kill; the
      // tests run on a kernel that has it.
      FreezeAndKill(dir);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  auto removed = RemoveCgroupTree(dir);
  if (!removed.ok()) return Error{removed.error()};
  return report;
}

std::vector<std::string> GrantCgroups::ListGrants() const {
  return ChildDirectories(mount_ + "/" + subtree_);
}

}  // namespace zsp::agent

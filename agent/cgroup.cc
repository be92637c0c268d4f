#include "agent/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/handles.h"
#include "common/text.h"

namespace zsp::agent {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);
// How long Place waits for systemd to move a process into its scope.
constexpr long kPlaceTimeoutMs = 1000;
// How long one freeze-and-kill round waits for the freeze to take effect.
constexpr auto kFreezeWait = std::chrono::milliseconds(200);

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

// Waits until the kernel reports dir frozen ("frozen 1" in cgroup.events)
// or until deadline. Freezing is asynchronous: a process in the middle of
// a system call stops only when it returns to user space.
bool WaitFrozen(const std::string& dir,
                std::chrono::steady_clock::time_point deadline) {
  while (true) {
    auto events = ReadSmallFile(dir + "/cgroup.events");
    if (events.ok() &&
        events.value().find("frozen 1") != std::string::npos) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// True if /proc/PID/cgroup puts the process at relative or below it.
bool IsInCgroup(pid_t pid, const std::string& relative) {
  auto path = CgroupOfProcess(pid);
  if (!path.ok()) return false;
  return path.value() == relative ||
         path.value().rfind(relative + "/", 0) == 0;
}

// Sends SIGKILL to pid through a pidfd, after checking that the process
// the pidfd refers to is in the cgroup at relative. The pid may have been
// reused elsewhere since cgroup.procs was read. The pidfd pins one
// process, so the check and the signal are about the same one.
void KillIfInCgroup(pid_t pid, const std::string& relative) {
  // Through syscall(2): glibc 2.36's <sys/pidfd.h> lacks extern "C".
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.get() < 0) return;  // gone already
  if (!IsInCgroup(pid, relative)) return;
  syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
}

// Ends a cgroup's processes without cgroup.kill (kernels before 5.14, or
// kill_method = freeze): freezes the cgroup so that nothing forks, sends
// SIGKILL to every process, then thaws it. A frozen process still dies of
// SIGKILL: the cgroup v2 freezer stops tasks in a state like a job
// control stop, in which they can still be killed (Linux commit
// 76f969e8948d, "cgroup: cgroup v2 freezer", 5.2).
// KillGrant repeats this until the cgroup is empty, so a process that
// forked before the freeze took effect is killed on a later round.
Result<bool> FreezeAndKill(const std::string& dir, const std::string& relative,
                           std::chrono::steady_clock::time_point deadline) {
  auto frozen = WriteSmallFile(dir + "/cgroup.freeze", "1");
  if (!frozen.ok()) return frozen;
  // Not frozen in time (a process stuck in the kernel) is no reason to
  // wait longer: the pidfd check keeps the kill safe, and the next round
  // catches what forked meanwhile.
  WaitFrozen(dir, std::min(deadline, std::chrono::steady_clock::now() +
                                         kFreezeWait));

  std::vector<pid_t> pids;
  CollectPids(dir, &pids);
  for (pid_t pid : pids) KillIfInCgroup(pid, relative);
  return WriteSmallFile(dir + "/cgroup.freeze", "0");
}

// True for an absolute cgroup path below the mount: "/" and names that
// are neither empty, "." nor "..".
bool IsCgroupPath(const std::string& relative) {
  if (relative.size() < 2 || relative[0] != '/') return false;
  for (const auto& part : SplitString(relative.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

}  // namespace

Result<std::string> CgroupOfProcess(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/cgroup";
  auto text = ReadSmallFile(path);
  if (!text.ok()) return Error{text.error()};
  for (const auto& line : SplitString(text.value(), '\n')) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return Error{path + " has no cgroup v2 line"};
}

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

GrantCgroups::GrantCgroups(std::string mount, std::string subtree,
                           KillMethod method)
    : mount_(std::move(mount)), subtree_(std::move(subtree)), method_(method) {}

void GrantCgroups::UseSystemd(std::shared_ptr<SystemdManager> systemd) {
  systemd_ = std::move(systemd);
}

Result<bool> GrantCgroups::Prepare() const {
  if (systemd_ != nullptr) return true;
  std::string dir = mount_ + "/" + subtree_;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error{"cannot create " + dir + ": " + strerror(errno)};
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != 0) {
    return Error{dir + " is not a directory owned by root"};
  }
  if (method_ == KillMethod::kCgroupKill &&
      access((dir + "/cgroup.kill").c_str(), W_OK) != 0) {
    return Error{"kill_method is cgroup.kill, but " + dir +
                 "/cgroup.kill is missing (it needs Linux 5.14 or later); "
                 "set kill_method to auto or freeze"};
  }
  if (method_ != KillMethod::kCgroupKill &&
      access((dir + "/cgroup.freeze").c_str(), W_OK) != 0 &&
      access((dir + "/cgroup.kill").c_str(), W_OK) != 0) {
    return Error{dir + " has neither cgroup.kill nor cgroup.freeze (they "
                       "need Linux 5.14 and 5.2), so work cannot be ended"};
  }
  if (method_ == KillMethod::kFreeze &&
      access((dir + "/cgroup.freeze").c_str(), W_OK) != 0) {
    return Error{"kill_method is freeze, but " + dir +
                 "/cgroup.freeze is missing (it needs Linux 5.2 or later); "
                 "set kill_method to auto or cgroup.kill"};
  }
  return true;
}

std::string GrantCgroups::PathOf(const std::string& grant) const {
  return mount_ + RelativePathOf(grant);
}

std::string GrantCgroups::RelativePathOf(const std::string& grant) const {
  if (systemd_ != nullptr) {
    return std::string("/") + kZspSlice + "/" + GrantSliceName(grant);
  }
  return "/" + subtree_ + "/" + grant;
}

Result<bool> GrantCgroups::Place(const std::string& grant, pid_t pid) const {
  if (systemd_ != nullptr) {
    std::string scope = "zsp-" + EscapeUnitNamePart(grant) + "-" +
                        std::to_string(pid) + ".scope";
    auto cgroup = systemd_->StartScope(scope, GrantSliceName(grant), pid,
                                       "zsp grant " + grant, kPlaceTimeoutMs);
    if (!cgroup.ok()) return Error{cgroup.error()};
    // KillGrant finds the work by this path, so a systemd that lays out
    // its slices elsewhere must not pass unnoticed.
    if (cgroup.value() != RelativePathOf(grant) + "/" + scope) {
      return Error{"systemd put " + scope + " at " + cgroup.value() +
                   ", expected it below " + RelativePathOf(grant)};
    }
    return true;
  }
  std::string dir = PathOf(grant);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error{"cannot create " + dir + ": " + strerror(errno)};
  }
  return WriteSmallFile(dir + "/cgroup.procs", std::to_string(pid));
}

Result<bool> GrantCgroups::MoveBack(const std::string& grant, pid_t pid,
                                    const std::string& origin,
                                    bool remove_empty) const {
  if (IsInCgroup(pid, RelativePathOf(grant))) {
    auto moved = WriteSmallFile(mount_ + origin + "/cgroup.procs",
                                std::to_string(pid));
    if (!moved.ok()) return moved;
  }
  if (remove_empty && systemd_ == nullptr && !IsPopulated(PathOf(grant))) {
    // Best effort: a leftover empty directory is ended as unknown work
    // at the agent's next start, which kills nothing.
    RemoveCgroupTree(PathOf(grant));
  }
  return true;
}

Result<KillReport> GrantCgroups::KillGrant(const std::string& grant,
                                           long timeout_ms) const {
  KillReport report;
  std::string dir = PathOf(grant);
  if (access(dir.c_str(), F_OK) != 0) return report;
  CollectPids(dir, &report.pids);
  for (pid_t pid : report.pids) report.names.push_back(ProcessName(pid));
  if (systemd_ != nullptr) {
    // systemd stops the slice by its own rules (SIGTERM first); the kill
    // below is the follow-up that does not depend on it.
    report.unit = GrantSliceName(grant);
    auto stopped = systemd_->StopUnit(report.unit);
    if (!stopped.ok()) report.unit_error = stopped.error();
  }

  auto emptied = KillUntilEmpty(dir, RelativePathOf(grant), timeout_ms,
                                &report);
  if (!emptied.ok()) return Error{emptied.error()};
  if (systemd_ != nullptr) return report;
  auto removed = RemoveCgroupTree(dir);
  if (!removed.ok()) return Error{removed.error()};
  return report;
}

Result<bool> GrantCgroups::KillUntilEmpty(const std::string& dir,
                                          const std::string& relative,
                                          long timeout_ms,
                                          KillReport* report) const {
  bool use_cgroup_kill =
      method_ == KillMethod::kCgroupKill ||
      (method_ == KillMethod::kAuto &&
       access((dir + "/cgroup.kill").c_str(), W_OK) == 0);
  report->method = use_cgroup_kill ? kMethodCgroupKill : kMethodFreeze;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(timeout_ms);
  while (IsPopulated(dir)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error{"processes are still running in " + dir + " after " +
                   std::to_string(timeout_ms) + " ms (" + report->method +
                   ")"};
    }
    // cgroup.kill: the kernel kills every process in the cgroup and below
    // it, and one that forks meanwhile cannot slip out.
    auto killed = use_cgroup_kill
                      ? WriteSmallFile(dir + "/cgroup.kill", "1")
                      : FreezeAndKill(dir, relative, deadline);
    if (!killed.ok()) return Error{killed.error()};
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

KillReport GrantCgroups::ListCgroup(const std::string& relative) const {
  KillReport report;
  if (!IsCgroupPath(relative)) return report;
  CollectPids(mount_ + relative, &report.pids);
  for (pid_t pid : report.pids) report.names.push_back(ProcessName(pid));
  return report;
}

Result<KillReport> GrantCgroups::KillCgroup(const std::string& relative,
                                            long timeout_ms) const {
  if (!IsCgroupPath(relative)) {
    return Error{"\"" + relative.substr(0, 256) + "\" is not a valid cgroup path"};
  }
  std::string dir = mount_ + relative;
  KillReport report = ListCgroup(relative);
  if (access(dir.c_str(), F_OK) != 0 || !IsPopulated(dir)) return report;
  auto emptied = KillUntilEmpty(dir, relative, timeout_ms, &report);
  if (!emptied.ok()) return Error{emptied.error()};
  return report;
}

std::vector<std::string> GrantCgroups::ListGrants() const {
  if (systemd_ == nullptr) return ChildDirectories(mount_ + "/" + subtree_);
  std::vector<std::string> grants;
  for (const auto& slice :
       ChildDirectories(mount_ + "/" + std::string(kZspSlice))) {
    auto grant = GrantOfSliceName(slice);
    if (grant.ok()) grants.push_back(grant.value());
  }
  return grants;
}

}  // namespace zsp::agent

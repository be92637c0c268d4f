// A test-only stand-in for the two methods of systemd's manager
// (org.freedesktop.systemd1.Manager) that zsp-agent calls, on a private
// system bus. It is not systemd. It keeps no units beyond the scopes it
// started, runs no jobs and replies with made-up job paths.
//
//   StartTransientUnit(name, mode, properties, aux): for a scope, creates
//     the cgroup of its Slice property (a-b.slice is a.slice/a-b.slice, as
//     in systemd) and of the scope under it, and moves the PIDs property's
//     processes there before it replies.
//   StopUnit(name, mode): sends SIGTERM to every process in the unit's
//     cgroup and below it, and removes the cgroups once they are empty.
//     Unlike systemd it never follows up with SIGKILL, so a process that
//     ignores SIGTERM stays until its caller kills it.
//
// Every call is appended to the log file as one line: the method and its
// arguments as key=value.
//
// usage: systemd_standin CGROUP2_MOUNT LOG_FILE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

std::string g_mount;
std::string g_log_path;
std::map<std::string, std::string> g_scopes;  // unit name -> cgroup dir
std::set<std::string> g_stopping;             // cgroup dirs to remove
unsigned g_job = 0;

void LogLine(const std::string& line) {
  std::ofstream log(g_log_path, std::ios::app);
  log << line << "\n";
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) ==
             0;
}

// The cgroup directory of slice name relative to the mount, as systemd
// lays it out: every '-' in the name starts one more level.
std::string SlicePath(const std::string& slice) {
  std::string base = slice.substr(0, slice.size() - 6);  // drop ".slice"
  std::string path;
  for (size_t dash = base.find('-'); dash != std::string::npos;
       dash = base.find('-', dash + 1)) {
    path += "/" + base.substr(0, dash) + ".slice";
  }
  return path + "/" + slice;
}

std::vector<pid_t> PidsBelow(const std::string& dir) {
  std::vector<pid_t> pids;
  std::ifstream procs(dir + "/cgroup.procs");
  for (long pid; procs >> pid;) pids.push_back(static_cast<pid_t>(pid));
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return pids;
  while (dirent* entry = readdir(handle)) {
    std::string name = entry->d_name;
    if (entry->d_type != DT_DIR || name == "." || name == "..") continue;
    for (pid_t pid : PidsBelow(dir + "/" + name)) pids.push_back(pid);
  }
  closedir(handle);
  return pids;
}

void RemoveTree(const std::string& dir) {
  DIR* handle = opendir(dir.c_str());
  if (handle != nullptr) {
    while (dirent* entry = readdir(handle)) {
      std::string name = entry->d_name;
      if (entry->d_type != DT_DIR || name == "." || name == "..") continue;
      RemoveTree(dir + "/" + name);
    }
    closedir(handle);
  }
  rmdir(dir.c_str());
}

std::string JoinPids(const std::vector<pid_t>& pids) {
  std::string joined;
  for (pid_t pid : pids) {
    joined += (joined.empty() ? "" : ",") + std::to_string(pid);
  }
  return joined;
}

int ReplyJob(sd_bus_message* m) {
  std::string job = "/org/freedesktop/systemd1/job/" + std::to_string(++g_job);
  return sd_bus_reply_method_return(m, "o", job.c_str());
}

// Reads the a(sv) properties, keeping Slice and PIDs and skipping the rest.
int ReadProperties(sd_bus_message* m, std::string* slice,
                   std::vector<pid_t>* pids) {
  int r = sd_bus_message_enter_container(m, 'a', "(sv)");
  if (r < 0) return r;
  while ((r = sd_bus_message_enter_container(m, 'r', "sv")) > 0) {
    const char* name = nullptr;
    r = sd_bus_message_read(m, "s", &name);
    if (r < 0) return r;
    if (strcmp(name, "Slice") == 0) {
      const char* value = nullptr;
      r = sd_bus_message_read(m, "v", "s", &value);
      if (r < 0) return r;
      *slice = value;
    } else if (strcmp(name, "PIDs") == 0) {
      r = sd_bus_message_enter_container(m, 'v', "au");
      if (r < 0) return r;
      r = sd_bus_message_enter_container(m, 'a', "u");
      if (r < 0) return r;
      uint32_t pid = 0;
      while ((r = sd_bus_message_read(m, "u", &pid)) > 0) {
        pids->push_back(static_cast<pid_t>(pid));
      }
      if (r < 0) return r;
      r = sd_bus_message_exit_container(m);
      if (r < 0) return r;
      r = sd_bus_message_exit_container(m);
    } else {
      r = sd_bus_message_skip(m, "v");
    }
    if (r < 0) return r;
    r = sd_bus_message_exit_container(m);
    if (r < 0) return r;
  }
  if (r < 0) return r;
  return sd_bus_message_exit_container(m);
}

int StartTransientUnit(sd_bus_message* m, void*, sd_bus_error* error) {
  const char* name = nullptr;
  const char* mode = nullptr;
  int r = sd_bus_message_read(m, "ss", &name, &mode);
  if (r < 0) return r;
  std::string slice;
  std::vector<pid_t> pids;
  r = ReadProperties(m, &slice, &pids);
  if (r < 0) return r;
  r = sd_bus_message_skip(m, "a(sa(sv))");
  if (r < 0) return r;

  std::string unit = name;
  LogLine("StartTransientUnit unit=" + unit + " mode=" + mode +
          " slice=" + slice + " pids=" + JoinPids(pids));
  if (!EndsWith(unit, ".scope") || !EndsWith(slice, ".slice") ||
      pids.empty()) {
    return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                            "the stand-in starts only scopes in a slice "
                            "with PIDs");
  }
  if (g_scopes.count(unit) != 0) {
    return sd_bus_error_setf(error, "org.freedesktop.systemd1.UnitExists",
                             "Unit %s already exists.", name);
  }
  std::string dir = g_mount;
  std::string relative = SlicePath(slice) + "/" + unit;
  for (size_t slash = 1; slash != std::string::npos;
       slash = relative.find('/', slash + 1)) {
    mkdir((g_mount + relative.substr(0, slash)).c_str(), 0755);
  }
  dir += relative;
  mkdir(dir.c_str(), 0755);
  for (pid_t pid : pids) {
    std::ofstream procs(dir + "/cgroup.procs");
    procs << pid << std::flush;
    if (!procs) {
      return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED,
                               "cannot move %d into %s", pid, dir.c_str());
    }
  }
  g_scopes[unit] = dir;
  return ReplyJob(m);
}

int StopUnit(sd_bus_message* m, void*, sd_bus_error* error) {
  const char* name = nullptr;
  const char* mode = nullptr;
  int r = sd_bus_message_read(m, "ss", &name, &mode);
  if (r < 0) return r;
  std::string unit = name;
  std::string dir;
  if (g_scopes.count(unit) != 0) {
    dir = g_scopes[unit];
  } else if (EndsWith(unit, ".slice")) {
    dir = g_mount + SlicePath(unit);
  }
  std::vector<pid_t> pids;
  if (!dir.empty()) pids = PidsBelow(dir);
  LogLine("StopUnit unit=" + unit + " mode=" + mode +
          " pids=" + JoinPids(pids));
  struct stat st {};
  if (dir.empty() || stat(dir.c_str(), &st) != 0) {
    return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit",
                             "Unit %s not loaded.", name);
  }
  for (pid_t pid : pids) kill(pid, SIGTERM);
  for (auto it = g_scopes.begin(); it != g_scopes.end();) {
    it = it->second.rfind(dir, 0) == 0 ? g_scopes.erase(it) : std::next(it);
  }
  g_stopping.insert(dir);
  return ReplyJob(m);
}

// Removes the cgroups of stopped units that have become empty.
void RemoveEmptyStopped() {
  for (auto it = g_stopping.begin(); it != g_stopping.end();) {
    if (PidsBelow(*it).empty()) {
      RemoveTree(*it);
      LogLine("Removed cgroup=" + it->substr(g_mount.size()));
      it = g_stopping.erase(it);
    } else {
      ++it;
    }
  }
}

const sd_bus_vtable kManagerVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("StartTransientUnit", "ssa(sv)a(sa(sv))", "o",
                  StartTransientUnit, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("StopUnit", "ss", "o", StopUnit,
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: systemd_standin CGROUP2_MOUNT LOG_FILE\n");
    return 2;
  }
  g_mount = argv[1];
  g_log_path = argv[2];

  sd_bus* bus = nullptr;
  int r = sd_bus_open_system(&bus);
  if (r >= 0) {
    r = sd_bus_add_object_vtable(bus, nullptr, "/org/freedesktop/systemd1",
                                 "org.freedesktop.systemd1.Manager",
                                 kManagerVtable, nullptr);
  }
  if (r >= 0) r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
  if (r < 0) {
    fprintf(stderr, "systemd_standin: cannot serve on the system bus: %s\n",
            strerror(-r));
    return 1;
  }
  LogLine("ready");
  while (true) {
    r = sd_bus_process(bus, nullptr);
    if (r < 0) {
      fprintf(stderr, "systemd_standin: %s\n", strerror(-r));
      return 1;
    }
    if (r > 0) continue;
    RemoveEmptyStopped();
    r = sd_bus_wait(bus, 50'000);
    if (r < 0 && r != -EINTR) {
      fprintf(stderr, "systemd_standin: %s\n", strerror(-r));
      return 1;
    }
  }
}

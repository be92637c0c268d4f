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
// Unless --no-logind is given, it also owns org.freedesktop.login1 and
// implements the parts of systemd-logind that pam_systemd and
// zsp-agent use:
//
//   CreateSession(uid, leader, ...): what pam_systemd calls. Makes session
//     N with the leader (the caller's pid when leader is 0) and, as logind
//     has systemd do, moves the leader into the cgroup
//     /user.slice/user-UID.slice/session-N.scope, out of any zsp scope.
//     A leader that already leads a session gets SessionBusy.
//   ReleaseSession(id): accepted and ignored.
//   GetSession(id), GetSessionByPID(pid): the session object path. A pid
//     is found as a session's leader first, then by its session-N.scope
//     cgroup.
//   TerminateSession(id): sends SIGTERM to the processes in the
//     session's scope cgroup. Like StopUnit above it never sends SIGKILL.
//   KillSession(id, who, signal): sends signal to the same processes.
//   Session objects /org/freedesktop/login1/session/_3N with the
//     properties Id and Leader.
//
// A session goes away once its scope cgroup is empty and its leader has
// exited, which imitates logind seeing the session's FIFO closed.
//
// Every call is appended to the log file as one line: the method and its
// arguments as key=value.
//
// usage: systemd_standin [--no-logind] CGROUP2_MOUNT LOG_FILE
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
#include <memory>
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

// A session of the logind stand-in.
struct Session {
  std::string id;
  uint32_t leader = 0;
  uint32_t uid = 0;
  std::string cgroup;  // the scope's cgroup directory
  sd_bus_slot* slot = nullptr;
};

std::map<std::string, std::unique_ptr<Session>> g_sessions;
unsigned g_session_counter = 0;

constexpr char kSessionPrefix[] = "/org/freedesktop/login1/session";

std::string SessionPath(const std::string& id) {
  char* path = nullptr;
  if (sd_bus_path_encode(kSessionPrefix, id.c_str(), &path) < 0) return "";
  std::string out = path;
  free(path);
  return out;
}

// The "0::" line of /proc/PID/cgroup, without the prefix.
std::string CgroupOf(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return "";
}

// True while pid runs and is not a zombie.
bool IsRunning(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() &&
         text[close + 2] != 'Z';
}

Session* FindSession(const std::string& id) {
  auto it = g_sessions.find(id);
  return it == g_sessions.end() ? nullptr : it->second.get();
}

Session* SessionOfPid(uint32_t pid) {
  for (auto& [id, session] : g_sessions) {
    if (session->leader == pid) return session.get();
  }
  std::string cgroup = g_mount + CgroupOf(static_cast<pid_t>(pid));
  for (auto& [id, session] : g_sessions) {
    if (cgroup == session->cgroup) return session.get();
  }
  return nullptr;
}

int NoSuchSession(sd_bus_error* error, const char* id) {
  return sd_bus_error_setf(error, "org.freedesktop.login1.NoSuchSession",
                           "No session '%s' known", id);
}

int SessionProperty(sd_bus*, const char*, const char*, const char* property,
                    sd_bus_message* reply, void* userdata, sd_bus_error*) {
  auto* session = static_cast<Session*>(userdata);
  if (strcmp(property, "Id") == 0) {
    return sd_bus_message_append(reply, "s", session->id.c_str());
  }
  return sd_bus_message_append(reply, "u", session->leader);
}

const sd_bus_vtable kSessionVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Id", "s", SessionProperty, 0,
                    SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Leader", "u", SessionProperty, 0,
                    SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_VTABLE_END};

int CreateSession(sd_bus_message* m, void*, sd_bus_error* error) {
  uint32_t uid = 0;
  uint32_t leader = 0;
  int r = sd_bus_message_read(m, "uu", &uid, &leader);
  if (r < 0) return r;
  r = sd_bus_message_skip(m, "sssssussbss");
  if (r < 0) return r;
  r = sd_bus_message_skip(m, "a(sv)");
  if (r < 0) return r;
  if (leader == 0) {
    sd_bus_creds* creds = nullptr;
    pid_t pid = 0;
    r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_PID, &creds);
    if (r >= 0) r = sd_bus_creds_get_pid(creds, &pid);
    sd_bus_creds_unref(creds);
    if (r < 0) return r;
    leader = static_cast<uint32_t>(pid);
  }
  LogLine("CreateSession uid=" + std::to_string(uid) +
          " leader=" + std::to_string(leader));
  for (auto& [id, session] : g_sessions) {
    if (session->leader == leader) {
      return sd_bus_error_setf(error, "org.freedesktop.login1.SessionBusy",
                               "Already running in a session");
    }
  }

  auto session = std::make_unique<Session>();
  session->id = std::to_string(++g_session_counter);
  session->leader = leader;
  session->uid = uid;
  std::string user_slice = g_mount + "/user.slice";
  std::string uid_slice = user_slice + "/user-" + std::to_string(uid) +
                          ".slice";
  session->cgroup = uid_slice + "/session-" + session->id + ".scope";
  mkdir(user_slice.c_str(), 0755);
  mkdir(uid_slice.c_str(), 0755);
  mkdir(session->cgroup.c_str(), 0755);
  std::ofstream procs(session->cgroup + "/cgroup.procs");
  procs << leader << std::flush;
  if (!procs) {
    return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED,
                             "cannot move %u into %s", leader,
                             session->cgroup.c_str());
  }
  std::string path = SessionPath(session->id);
  r = sd_bus_add_object_vtable(sd_bus_message_get_bus(m), &session->slot,
                               path.c_str(),
                               "org.freedesktop.login1.Session",
                               kSessionVtable, session.get());
  if (r < 0) return r;
  LogLine("SessionNew id=" + session->id + " leader=" +
          std::to_string(leader) + " cgroup=" +
          session->cgroup.substr(g_mount.size()));

  // logind hands out the write end of a FIFO that marks the session's
  // life; a pipe does here, and its other end is dropped.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
  std::string id = session->id;
  std::string runtime = "/run/user/" + std::to_string(uid);
  g_sessions[id] = std::move(session);
  r = sd_bus_reply_method_return(m, "soshusub", id.c_str(), path.c_str(),
                                 runtime.c_str(), fds[1], uid, "", 0u, 0);
  close(fds[0]);
  close(fds[1]);
  return r;
}

int ReleaseSession(sd_bus_message* m, void*, sd_bus_error*) {
  const char* id = nullptr;
  int r = sd_bus_message_read(m, "s", &id);
  if (r < 0) return r;
  LogLine(std::string("ReleaseSession id=") + id);
  return sd_bus_reply_method_return(m, "");
}

int GetSession(sd_bus_message* m, void*, sd_bus_error* error) {
  const char* id = nullptr;
  int r = sd_bus_message_read(m, "s", &id);
  if (r < 0) return r;
  if (FindSession(id) == nullptr) return NoSuchSession(error, id);
  return sd_bus_reply_method_return(m, "o", SessionPath(id).c_str());
}

int GetSessionByPID(sd_bus_message* m, void*, sd_bus_error* error) {
  uint32_t pid = 0;
  int r = sd_bus_message_read(m, "u", &pid);
  if (r < 0) return r;
  Session* session = SessionOfPid(pid);
  LogLine("GetSessionByPID pid=" + std::to_string(pid) +
          " session=" + (session ? session->id : "none"));
  if (session == nullptr) {
    return sd_bus_error_setf(error, "org.freedesktop.login1.NoSessionForPID",
                             "PID %u does not belong to any known session",
                             pid);
  }
  return sd_bus_reply_method_return(m, "o", SessionPath(session->id).c_str());
}

int TerminateSession(sd_bus_message* m, void*, sd_bus_error* error) {
  const char* id = nullptr;
  int r = sd_bus_message_read(m, "s", &id);
  if (r < 0) return r;
  Session* session = FindSession(id);
  std::vector<pid_t> pids;
  if (session != nullptr) pids = PidsBelow(session->cgroup);
  LogLine(std::string("TerminateSession id=") + id +
          " pids=" + JoinPids(pids));
  if (session == nullptr) return NoSuchSession(error, id);
  for (pid_t pid : pids) kill(pid, SIGTERM);
  return sd_bus_reply_method_return(m, "");
}

int KillSession(sd_bus_message* m, void*, sd_bus_error* error) {
  const char* id = nullptr;
  const char* who = nullptr;
  int32_t signal = 0;
  int r = sd_bus_message_read(m, "ssi", &id, &who, &signal);
  if (r < 0) return r;
  Session* session = FindSession(id);
  std::vector<pid_t> pids;
  if (session != nullptr) pids = PidsBelow(session->cgroup);
  LogLine(std::string("KillSession id=") + id + " who=" + who +
          " signal=" + std::to_string(signal) + " pids=" + JoinPids(pids));
  if (session == nullptr) return NoSuchSession(error, id);
  for (pid_t pid : pids) kill(pid, signal);
  return sd_bus_reply_method_return(m, "");
}

// Drops the sessions whose scope is empty and whose leader has exited.
void RemoveEndedSessions() {
  for (auto it = g_sessions.begin(); it != g_sessions.end();) {
    Session& session = *it->second;
    if (PidsBelow(session.cgroup).empty() &&
        !IsRunning(static_cast<pid_t>(session.leader))) {
      rmdir(session.cgroup.c_str());
      sd_bus_slot_unref(session.slot);
      LogLine("SessionRemoved id=" + session.id);
      it = g_sessions.erase(it);
    } else {
      ++it;
    }
  }
}

const sd_bus_vtable kLoginVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("CreateSession", "uusssssussbssa(sv)", "soshusub",
                  CreateSession, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("ReleaseSession", "s", "", ReleaseSession,
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetSession", "s", "o", GetSession,
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetSessionByPID", "u", "o", GetSessionByPID,
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("TerminateSession", "s", "", TerminateSession,
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("KillSession", "ssi", "", KillSession,
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END};

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
  bool logind = true;
  if (argc == 4 && strcmp(argv[1], "--no-logind") == 0) {
    logind = false;
    --argc;
    ++argv;
  }
  if (argc != 3) {
    fprintf(stderr,
            "usage: systemd_standin [--no-logind] CGROUP2_MOUNT LOG_FILE\n");
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
  if (r >= 0 && logind) {
    r = sd_bus_add_object_vtable(bus, nullptr, "/org/freedesktop/login1",
                                 "org.freedesktop.login1.Manager",
                                 kLoginVtable, nullptr);
  }
  if (r >= 0 && logind) {
    r = sd_bus_request_name(bus, "org.freedesktop.login1", 0);
  }
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
    RemoveEndedSessions();
    r = sd_bus_wait(bus, 50'000);
    if (r < 0 && r != -EINTR) {
      fprintf(stderr, "systemd_standin: %s\n", strerror(-r));
      return 1;
    }
  }
}

// zsp-agent: the root daemon on each host that ends live work under a
// grant at the grant's end and on revocation. See zsp-agent(8) and
// docs/live-sessions.md.
//
// Threads: the main thread accepts connections on the unix socket and
// runs Agent::Tick; each connection is served on a thread of its own (at
// most kMaxClients at once), and one more thread follows the broker feed.
// SIGTERM, SIGINT and SIGHUP are blocked in all of them and read through a
// signalfd by the main thread.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <thread>

#include "agent/agent.h"
#include "agent/cgroup.h"
#include "agent/feed_follower.h"
#include "agent/log.h"
#include "agent/logind.h"
#include "agent/peer.h"
#include "agent/relay.h"
#include "agent/systemd.h"
#include "common/agent_protocol.h"
#include "common/audit_spool.h"
#include "common/breakglass.h"
#include "common/config.h"
#include "common/decision.h"
#include "common/decision_relay.h"
#include "common/handles.h"

namespace {

using zsp::agent::Log;

constexpr char kDefaultStateDir[] = "/run/zsp/agent";
// How long one client may take to send its request.
constexpr auto kClientTimeout = std::chrono::seconds(2);
constexpr int kTickMs = 100;
// Connections served at once. A connection beyond it is refused at once,
// so that a module falls back to its direct path instead of waiting.
constexpr int kMaxClients = 16;
// Relayed decisions served at once. A relay waits for the broker for up
// to timeout_ms, so a slow broker could otherwise hold every connection
// with relays. The other kMaxClients - kMaxRelays connections stay free
// for placements, because a failed placement denies allowed work under
// agent = required.
constexpr int kMaxRelays = 12;

// Connections in progress, and how many of them relay a decision.
struct ConnectionCounts {
  std::atomic<int> clients{0};
  std::atomic<int> relays{0};
};

struct Options {
  std::string config_path = zsp::kDefaultConfigPath;
  std::string state_dir = kDefaultStateDir;
};

// The SHA-256 (hex) of the zsp.conf text read at start, sent in the
// status reply so that zspctl host check can tell a stale agent. Written
// once before any client thread starts.
std::string g_config_sha256;

constexpr char kUsage[] =
    "usage: zsp-agent [--config PATH] [--state-dir DIR]\n"
    "  --config PATH    host configuration (default /etc/zsp/zsp.conf)\n"
    "  --state-dir DIR  root-only directory for the live grants "
    "(default /run/zsp/agent)\n";

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--config" || arg == "--state-dir") && i + 1 < argc) {
      std::string value = argv[++i];
      if (value.empty() || value[0] != '/') {
        std::cerr << "zsp-agent: " << arg << " needs an absolute path\n";
        return false;
      }
      (arg == "--config" ? options->config_path : options->state_dir) = value;
    } else {
      std::cerr << "zsp-agent: unknown argument \"" << arg << "\"\n"
                << kUsage;
      return false;
    }
  }
  return true;
}

zsp::Result<std::string> ReadMountInfo() {
  zsp::FilePtr file(fopen("/proc/self/mountinfo", "re"));
  if (!file) {
    return zsp::Error{std::string("cannot open /proc/self/mountinfo: ") +
                      strerror(errno)};
  }
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    text.append(buffer, n);
  }
  return text;
}

// Creates dir with mode if missing and checks that root owns it and that
// nobody else may write to it.
zsp::Result<bool> EnsureRootDirectory(const std::string& dir, mode_t mode) {
  if (mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return zsp::Error{"cannot create " + dir + ": " + strerror(errno)};
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return zsp::Error{dir + " must be a directory owned by root and "
                            "writable by root only"};
  }
  return true;
}

// Binds the root-only socket at path, replacing a stale one.
zsp::Result<zsp::UniqueFd> Listen(const std::string& path) {
  std::string parent = path.substr(0, path.find_last_of('/'));
  if (!parent.empty()) {
    auto made = EnsureRootDirectory(parent, 0755);
    if (!made.ok()) return zsp::Error{made.error()};
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    return zsp::Error{"agent_socket path " + path + " is too long"};
  }
  std::memcpy(address.sun_path, path.c_str(), path.size());
  zsp::UniqueFd fd(
      socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    return zsp::Error{std::string("socket: ") + strerror(errno)};
  }
  unlink(path.c_str());
  mode_t old_mask = umask(0177);
  int bound = bind(fd.get(), reinterpret_cast<sockaddr*>(&address),
                   sizeof address);
  umask(old_mask);
  if (bound != 0 || chmod(path.c_str(), 0600) != 0) {
    return zsp::Error{"cannot bind " + path + ": " + strerror(errno)};
  }
  if (listen(fd.get(), 16) != 0) {
    return zsp::Error{"cannot listen on " + path + ": " + strerror(errno)};
  }
  return fd;
}

// Reads one line from a client until kClientTimeout; "" on failure or
// when the line is longer than max_bytes.
std::string ReadRequestLine(int fd, size_t max_bytes) {
  auto deadline = std::chrono::steady_clock::now() + kClientTimeout;
  std::string line;
  char buffer[4096];
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || line.size() > max_bytes) {
      return "";
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return "";
    line.append(buffer, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

void Reply(int fd, const zsp::AgentReply& reply) {
  std::string text = zsp::EncodeAgentReply(reply);
  ssize_t ignored = send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  (void)ignored;
}

// Relays one decision request and sends the reply within the request's
// time limit, or rejects it when kMaxRelays relays are in progress.
void ServeRelay(int fd, pid_t pid, std::string_view line,
                zsp::agent::BrokerRelay* relay, std::atomic<int>* relays) {
  auto request = zsp::ParseRelayRequest(line);
  zsp::RelayReply reply;
  if (!request.ok()) {
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(pid)}, {"reason", request.error()}});
    reply.error = "invalid request: " + request.error();
  } else if (relays->fetch_add(1) >= kMaxRelays) {
    relays->fetch_sub(1);
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(pid)}, {"reason", "too many relays"}});
    reply.error = "the agent is relaying " + std::to_string(kMaxRelays) +
                  " decisions already";
  } else {
    reply = relay->Forward(request.value());
    relays->fetch_sub(1);
  }
  auto deadline = std::chrono::steady_clock::now() + kClientTimeout;
  auto sent = zsp::SendAll(fd, zsp::EncodeRelayReply(reply), deadline);
  (void)sent;  // a client that left has fallen back to its direct path
}

// Serves one connection: only a root process may place itself or relay a
// decision request.
void ServeClient(int fd, zsp::agent::Agent* agent,
                 zsp::agent::BrokerRelay* relay, ConnectionCounts* counts) {
  zsp::AgentReply reply;
  // Pinned before the request is read, so that a caller that exits and
  // has its pid reused meanwhile is noticed at placement.
  auto peer = zsp::agent::PeerProcess::FromSocket(fd);
  if (!peer.ok()) {
    Log(LOG_WARNING, "rejected", {{"reason", peer.error()}});
    reply.error = "cannot identify the caller: " + peer.error();
    Reply(fd, reply);
    return;
  }
  if (peer.value().uid() != 0) {
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(peer.value().pid())},
         {"uid", std::to_string(peer.value().uid())},
         {"reason", "caller is not root"}});
    reply.error = "only root may place work or relay decisions";
    Reply(fd, reply);
    return;
  }
  std::string line = ReadRequestLine(
      fd, std::max(zsp::kMaxAgentRequestBytes, zsp::kMaxRelayRequestBytes));
  if (zsp::AgentRequestOp(line) == "decide") {
    ServeRelay(fd, peer.value().pid(), line, relay, &counts->relays);
    return;
  }
  if (zsp::AgentRequestOp(line) == "status") {
    nlohmann::json status = {{"ok", true},
                             {zsp::kAgentConfigHashMember, g_config_sha256}};
    auto deadline = std::chrono::steady_clock::now() + kClientTimeout;
    auto sent = zsp::SendAll(fd, status.dump() + "\n", deadline);
    (void)sent;
    return;
  }
  auto request = zsp::ParsePlaceRequest(line);
  explicit_bzero(line.data(), line.size());
  if (!request.ok()) {
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(peer.value().pid())},
         {"reason", request.error()}});
    reply.error = "invalid request: " + request.error();
    Reply(fd, reply);
    return;
  }
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::string& token = request.value().token;
  if (request.value().break_glass) {
    Reply(fd, agent->PlaceBreakGlass(peer.value(), token, now));
  } else {
    Reply(fd, agent->Place(peer.value(), token, now));
  }
  // A break-glass token may still open other hosts.
  explicit_bzero(token.data(), token.size());
}

// The host's break-glass keys, for verifying tokens of work to place. A
// host without usable keys gets an empty policy, under which break-glass
// work is rejected: hosts with agent = required then deny it.
zsp::BreakGlassPolicy LoadBreakGlassKeys(const zsp::HostConfig& config) {
  if (config.breakglass_keys.empty()) return {};
  auto policy = zsp::LoadBreakGlassPolicy(config);
  if (!policy.ok()) {
    Log(LOG_WARNING, "failed",
        {{"action", "load-breakglass-keys"}, {"error", policy.error()}});
    return {};
  }
  return std::move(policy).value();
}

// Serves client on a detached thread, or refuses it when kMaxClients
// connections are already being served.
void ServeInThread(zsp::UniqueFd client, zsp::agent::Agent* agent,
                   zsp::agent::BrokerRelay* relay, ConnectionCounts* counts) {
  if (counts->clients.fetch_add(1) >= kMaxClients) {
    counts->clients.fetch_sub(1);
    zsp::AgentReply busy;
    busy.error = "the agent is serving " + std::to_string(kMaxClients) +
                 " connections already";
    Reply(client.get(), busy);
    Log(LOG_WARNING, "rejected", {{"reason", "too many connections"}});
    return;
  }
  try {
    std::thread([fd = std::move(client), agent, relay, counts]() mutable {
      ServeClient(fd.get(), agent, relay, counts);
      fd = zsp::UniqueFd();
      counts->clients.fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    counts->clients.fetch_sub(1);
    Log(LOG_ERR, "failed", {{"action", "serve"}, {"error", e.what()}});
  }
}

zsp::Result<std::string> HostName(const zsp::HostConfig& config) {
  if (!config.host.empty()) return config.host;
  char name[256] = "";
  if (gethostname(name, sizeof name - 1) != 0) {
    return zsp::Error{std::string("gethostname: ") + strerror(errno)};
  }
  return std::string(name);
}

int Fail(const std::string& what) {
  Log(LOG_ERR, "failed", {{"action", "start"}, {"error", what}});
  return 1;
}

// Returns the SHA-256 (hex) of the regular file at path, or "" when it
// cannot be read. Opened as LoadHostConfig opens it, so that a FIFO there
// does not block. Read before the configuration is parsed, so that a file
// changed in between shows up as changed, never as current.
std::string HashFile(const std::string& path) {
  zsp::UniqueFd fd(
      open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size > static_cast<off_t>(zsp::kMaxConfigBytes)) {
    return "";
  }
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd.get(), buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  if (n < 0) return "";
  return zsp::Sha256Hex(text);
}

int Run(const Options& options) {
  g_config_sha256 = HashFile(options.config_path);
  auto config = zsp::LoadHostConfig(options.config_path);
  if (!config.ok()) return Fail(config.error());
  auto agent_keys = zsp::LoadPinnedKeys(config.value());
  auto feed_keys = zsp::LoadPinnedKeys(config.value());
  if (!agent_keys.ok()) return Fail(agent_keys.error());
  if (!feed_keys.ok()) return Fail(feed_keys.error());
  auto host = HostName(config.value());
  if (!host.ok()) return Fail(host.error());
  auto mountinfo = ReadMountInfo();
  if (!mountinfo.ok()) return Fail(mountinfo.error());
  auto mount = zsp::agent::FindCgroup2Mount(mountinfo.value());
  if (!mount.ok()) return Fail(mount.error());
  zsp::agent::GrantCgroups cgroups(mount.value(), config.value().agent_cgroup,
                                   config.value().kill_method);
  // systemd owns the cgroup tree on hosts it booted (sd_booted(3)).
  bool systemd = sd_booted() > 0;
  if (systemd) {
    auto manager = zsp::agent::SystemdManager::Connect();
    if (!manager.ok()) return Fail(manager.error());
    cgroups.UseSystemd(std::move(manager).value());
  }
  auto prepared = cgroups.Prepare();
  if (!prepared.ok()) return Fail(prepared.error());

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  zsp::UniqueFd signals(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (signals.get() < 0) return Fail(std::string("signalfd: ") + strerror(errno));

  auto listener = Listen(config.value().agent_socket);
  if (!listener.ok()) return Fail(listener.error());
  // After Listen, which creates the socket's directory (by default
  // /run/zsp, the parent of the default state directory).
  auto state_dir = EnsureRootDirectory(options.state_dir, 0700);
  if (!state_dir.ok()) return Fail(state_dir.error());

  // Static, so that client threads still running when Run returns never
  // see them destroyed: main ends the process with _exit, which runs no
  // destructors of static objects.
  static zsp::agent::Agent agent(config.value(),
                                 std::move(agent_keys).value(), host.value(),
                                 cgroups, options.state_dir,
                                 LoadBreakGlassKeys(config.value()));
  static zsp::agent::BrokerOrder broker_order;
  static zsp::agent::BrokerRelay relay(config.value(), &broker_order);
  static ConnectionCounts counts;
  if (systemd) agent.UseLogind(std::make_shared<zsp::agent::LogindManager>());
  agent.AdoptOrEndLeftovers(static_cast<int64_t>(std::time(nullptr)));

  std::atomic<bool> stop{false};
  zsp::agent::FeedFollower follower(config.value(),
                                    std::move(feed_keys).value(), host.value(),
                                    &agent, &broker_order);
  // Detached: a long poll may take kMaxFeedWaitSeconds to return, and the
  // process exits without waiting for it.
  std::thread([&follower, &stop] { follower.Run(stop); }).detach();

  Log(LOG_INFO, "started",
      {{"socket", config.value().agent_socket},
       {"cgroup", systemd ? std::string("/") + zsp::agent::kZspSlice
                          : cgroups.RelativePathOf("")},
       {"systemd", systemd ? "yes" : "no"},
       {"host", host.value()},
       {"broker", config.value().broker_url},
       {"live_grants", std::to_string(agent.LiveGrants())}});
  sd_notify(0, "READY=1");

  while (true) {
    pollfd fds[2] = {{listener.value().get(), POLLIN, 0},
                     {signals.get(), POLLIN, 0}};
    int ready = poll(fds, 2, kTickMs);
    if (ready < 0 && errno != EINTR) return Fail(strerror(errno));
    if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      ssize_t ignored = read(signals.get(), &info, sizeof info);
      (void)ignored;
      Log(LOG_INFO, "stopped",
          {{"signal", std::to_string(info.ssi_signo)},
           {"live_grants", std::to_string(agent.LiveGrants())}});
      // Live work stays in its cgroups; the next start adopts it.
      stop = true;
      return 0;
    }
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
      zsp::UniqueFd client(accept4(listener.value().get(), nullptr, nullptr,
                                   SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (client.get() >= 0) {
        ServeInThread(std::move(client), &agent, &relay, &counts);
      }
    }
    agent.Tick(static_cast<int64_t>(std::time(nullptr)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) return 2;
  if (geteuid() != 0) {
    std::cerr << "zsp-agent: must run as root (it writes cgroups)\n";
    return 1;
  }
  int status = Run(options);
  // The feed thread is detached and may be inside a request: end the
  // process without running destructors under its feet.
  std::cout.flush();
  _exit(status);
}

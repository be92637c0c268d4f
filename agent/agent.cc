#include "agent/agent.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/log.h"
#include "common/journal.h"
#include "common/strict_json.h"

namespace zsp::agent {
namespace {

using nlohmann::json;

// How long an ended grant stays on the list that blocks new placements
// after its own end, so that clocks a little apart cannot reopen it.
constexpr int64_t kEndedMarginSeconds = 300;

std::string JoinPids(const std::vector<pid_t>& pids) {
  std::string joined;
  for (pid_t pid : pids) {
    joined += (joined.empty() ? "" : ",") + std::to_string(pid);
  }
  return joined;
}

std::string JoinProcesses(const KillReport& report) {
  std::string joined;
  for (size_t i = 0; i < report.pids.size(); ++i) {
    if (!joined.empty()) joined += " ";
    joined += std::to_string(report.pids[i]) + "(" + report.names[i] + ")";
  }
  return joined;
}

AgentReply Rejected(std::string why) {
  AgentReply reply;
  reply.error = std::move(why);
  return reply;
}

}  // namespace

Agent::Agent(HostConfig config, std::vector<PinnedKey> keys, std::string host,
             GrantCgroups cgroups, std::string state_dir,
             BreakGlassPolicy break_glass)
    : config_(std::move(config)),
      keys_(std::move(keys)),
      host_(std::move(host)),
      cgroups_(std::move(cgroups)),
      state_dir_(std::move(state_dir)),
      break_glass_(std::move(break_glass)),
      last_feed_page_(SteadyClock::now()) {}

void Agent::AdoptOrEndLeftovers(int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& name : cgroups_.ListGrants()) {
    auto state = IsWorkId(name) ? LoadState(name)
                                 : Result<GrantClaims>(Error{"not a grant id"});
    if (state.ok() && state.value().grant_expires > now) {
      live_[name] = LiveGrant{state.value(), ""};
      Log(LOG_INFO, "adopted",
          {{"grant", name},
           {"user", state.value().user},
           {"grant_exp", std::to_string(state.value().grant_expires)}});
      continue;
    }
    LiveGrant unknown;
    unknown.claims = state.ok() ? state.value() : GrantClaims{};
    unknown.claims.grant = name;
    live_[name] = unknown;
    EndWorkLocked(name, state.ok() ? kCauseExpired : kCauseUnknownAtStart);
  }
}

AgentReply Agent::Place(const PeerProcess& peer, const std::string& token,
                        int64_t now) {
  pid_t pid = peer.pid();
  auto claims = CheckPlacementToken(token, keys_, host_, now,
                                    config_.clock_skew_sec);
  if (!claims.ok()) {
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(pid)}, {"reason", claims.error()}});
    return Rejected(claims.error());
  }
  const GrantClaims& grant = claims.value();

  std::lock_guard<std::mutex> lock(mutex_);
  if (config_.feed_stale_action == StaleAction::kEnd &&
      FeedIsStaleLocked(SteadyClock::now())) {
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(pid)},
         {"grant", grant.grant},
         {"reason", "feed stale"}});
    return Rejected("the agent has no current revocation feed from the "
                    "broker, so it places no new work");
  }
  if (ended_.count(grant.grant) != 0) {
    Log(LOG_NOTICE, "rejected",
        {{"pid", std::to_string(pid)},
         {"grant", grant.grant},
         {"reason", "grant ended"}});
    return Rejected("grant " + grant.grant + " has been revoked or ended");
  }
  return PlaceLocked(peer, grant);
}

// Break-glass work is placed without the feed check: a stale feed is the
// usual state while the broker is down, and the feed cannot revoke a
// token anyway.
AgentReply Agent::PlaceBreakGlass(const PeerProcess& peer,
                                  const std::string& text, int64_t now) {
  pid_t pid = peer.pid();
  if (break_glass_.keys.empty()) {
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(pid)},
         {"reason", "no break-glass keys"}});
    return Rejected("this host lists no usable breakglass_key, so the agent "
                    "cannot verify break-glass tokens");
  }
  auto claims = CheckBreakGlassPlacement(text, break_glass_, host_, now);
  if (!claims.ok()) {
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(pid)}, {"reason", claims.error()}});
    return Rejected(claims.error());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (ended_.count(claims.value().grant) != 0) {
    Log(LOG_NOTICE, "rejected",
        {{"pid", std::to_string(pid)},
         {"grant", claims.value().grant},
         {"reason", "break-glass token ended"}});
    return Rejected("break-glass token " + claims.value().grant +
                    " has ended");
  }
  return PlaceLocked(peer, claims.value());
}

AgentReply Agent::PlaceLocked(const PeerProcess& peer,
                              const GrantClaims& grant) {
  pid_t pid = peer.pid();
  auto origin = CgroupOfProcess(pid);
  auto placed = origin.ok() ? cgroups_.Place(grant.grant, pid)
                            : Result<bool>(Error{origin.error()});
  if (!placed.ok()) {
    Log(LOG_ERR, "failed",
        {{"action", "place"},
         {"pid", std::to_string(pid)},
         {"grant", grant.grant},
         {"error", placed.error()}});
    return Rejected("cannot place the work in its cgroup: " + placed.error());
  }
  if (!peer.IsAlive()) return UndoPlaceLocked(peer, grant, origin.value());

  if (live_.count(grant.grant) == 0) SaveState(grant);
  live_[grant.grant] = LiveGrant{grant, ""};
  Log(LOG_INFO, "placed",
      {{"grant", grant.grant},
       {"user", grant.user},
       {"kind", grant.kind},
       {"pid", std::to_string(pid)},
       {"grant_exp", std::to_string(grant.grant_expires)}});
  AgentReply reply;
  reply.ok = true;
  reply.grant = grant.grant;
  reply.cgroup = cgroups_.RelativePathOf(grant.grant);
  return reply;
}

// The caller exited before or while its pid was written, so the kernel may
// have given that pid to another process, which is then in the grant's
// cgroup and would be killed at the grant's end.
// NOTE: origin was read just before the move. A pid reused between that
// read and the move sends the other process to the caller's old cgroup.
AgentReply Agent::UndoPlaceLocked(const PeerProcess& peer,
                                  const GrantClaims& grant,
                                  const std::string& origin) {
  auto moved = cgroups_.MoveBack(grant.grant, peer.pid(), origin,
                                 live_.count(grant.grant) == 0);
  Log(moved.ok() ? LOG_WARNING : LOG_ERR, "rejected",
      {{"pid", std::to_string(peer.pid())},
       {"grant", grant.grant},
       {"reason", "caller exited before it was placed"},
       {"pin", peer.pin()},
       {"moved_back", moved.ok() ? origin : "failed: " + moved.error()}});
  return Rejected("the process that requested placement exited first");
}

void Agent::ApplyFeedPage(const FeedPage& page, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_feed_page_ = SteadyClock::now();
  if (stale_reported_) {
    Log(LOG_NOTICE, "feed-restored", {{"last", std::to_string(page.last)}});
    stale_reported_ = false;
  }
  for (const FeedEvent& event : page.events) {
    if (event.type != "revoked") continue;
    Log(LOG_NOTICE, "revoked",
        {{"grant", event.grant},
         {"user", event.user},
         {"seq", std::to_string(event.seq)}});
    ended_[event.grant] = std::max(event.grant_expires, now);
    if (live_.count(event.grant) != 0) {
      EndWorkLocked(event.grant, kCauseRevoked);
    }
  }
}

void Agent::Tick(int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, std::string>> due;
  for (const auto& [grant, live] : live_) {
    if (!live.failed_cause.empty()) {
      due.emplace_back(grant, live.failed_cause);
    } else if (live.claims.grant_expires <= now) {
      due.emplace_back(grant, kCauseExpired);
    }
  }
  for (const auto& [grant, cause] : due) EndWorkLocked(grant, cause);

  for (auto it = ended_.begin(); it != ended_.end();) {
    if (it->second + kEndedMarginSeconds < now) {
      it = ended_.erase(it);
    } else {
      ++it;
    }
  }

  if (!FeedIsStaleLocked(SteadyClock::now())) return;
  if (!stale_reported_) {
    stale_reported_ = true;
    bool end = config_.feed_stale_action == StaleAction::kEnd;
    Log(end ? LOG_ERR : LOG_WARNING, "feed-stale",
        {{"stale_after", std::to_string(config_.feed_stale_after_sec)},
         {"action", end ? "end" : "keep"},
         {"live_grants", std::to_string(live_.size())}});
  }
  if (config_.feed_stale_action != StaleAction::kEnd) return;
  std::vector<std::string> all;
  for (const auto& [grant, live] : live_) {
    if (live.claims.kind != kBreakGlassKind) all.push_back(grant);
  }
  for (const auto& grant : all) EndWorkLocked(grant, kCauseFeedStale);
}

size_t Agent::LiveGrants() {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_.size();
}

bool Agent::FeedIsStaleLocked(SteadyClock::time_point now) const {
  return now - last_feed_page_ >
         std::chrono::seconds(config_.feed_stale_after_sec);
}

void Agent::EndWorkLocked(const std::string& grant, const std::string& cause) {
  auto it = live_.find(grant);
  if (it == live_.end()) return;
  auto killed = cgroups_.KillGrant(grant, kKillTimeoutMs);
  if (!killed.ok()) {
    // Logged once per grant; Tick retries with the same cause.
    if (it->second.failed_cause.empty()) {
      Log(LOG_ERR, "failed",
          {{"action", "end"},
           {"grant", grant},
           {"cause", cause},
           {"error", killed.error()}});
    }
    it->second.failed_cause = cause;
    return;
  }
  if (!killed.value().unit_error.empty()) {
    Log(LOG_WARNING, "failed",
        {{"action", "stop-unit"},
         {"grant", grant},
         {"unit", killed.value().unit},
         {"error", killed.value().unit_error}});
  }
  RecordEnd(it->second.claims, cause, killed.value());
  ended_[grant] = it->second.claims.grant_expires;
  RemoveState(grant);
  live_.erase(it);
}

void Agent::RecordEnd(const GrantClaims& claims, const std::string& cause,
                      const KillReport& report) {
  AuditRecord record(AuditEvent::kWorkEnded, LOG_WARNING, "zsp-agent");
  record.Add("ZSP_GRANT", claims.grant)
      .Add("ZSP_REQUEST", claims.request)
      .Add("ZSP_USER", claims.user)
      .Add("ZSP_KIND", claims.kind)
      .Add("ZSP_HOST", host_)
      .Add("ZSP_CAUSE", cause)
      .Add("ZSP_PIDS", report.pids.empty() ? "none" : JoinPids(report.pids))
      .Add("ZSP_PROCESSES", JoinProcesses(report))
      .Add("ZSP_CGROUP", cgroups_.RelativePathOf(claims.grant))
      .Add("ZSP_KILL_METHOD", report.method);
  if (claims.kind == kBreakGlassKind) {
    record.Add("ZSP_BREAKGLASS_TOKEN", claims.grant);
  }
  if (!report.unit.empty()) record.Add("ZSP_UNIT", report.unit);
  if (claims.grant_expires > 0) {
    record.Add("ZSP_GRANT_EXPIRES", std::to_string(claims.grant_expires));
  }
  record.SetMessage("end-work grant=" + claims.grant + " cause=" + cause +
                    " pids=" + JoinPids(report.pids));
  std::string failure = record.Commit(config_.spool_dir);
  Log(failure.empty() ? LOG_WARNING : LOG_ERR, "ended",
      {{"grant", claims.grant},
       {"user", claims.user},
       {"cause", cause},
       {"pids", JoinPids(report.pids)},
       {"method", report.method},
       {"record", failure.empty() ? "ok" : failure}});
}

void Agent::SaveState(const GrantClaims& claims) const {
  json state = {{"grant", claims.grant},
                {"request", claims.request},
                {"user", claims.user},
                {"kind", claims.kind},
                {"grant_exp", claims.grant_expires}};
  std::string path = state_dir_ + "/" + claims.grant + ".json";
  std::string temporary = path + ".tmp";
  std::string text = state.dump() + "\n";
  int fd = open(temporary.c_str(),
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool ok = fd >= 0 &&
            write(fd, text.data(), text.size()) ==
                static_cast<ssize_t>(text.size());
  if (fd >= 0) close(fd);
  if (!ok || rename(temporary.c_str(), path.c_str()) != 0) {
    // The work is still placed and ended at expiry while this agent
    // runs; only a restart would treat it as unknown and end it early.
    Log(LOG_WARNING, "failed",
        {{"action", "save-state"},
         {"grant", claims.grant},
         {"error", strerror(errno)}});
    unlink(temporary.c_str());
  }
}

void Agent::RemoveState(const std::string& grant) const {
  unlink((state_dir_ + "/" + grant + ".json").c_str());
}

Result<GrantClaims> Agent::LoadState(const std::string& grant) const {
  std::string path = state_dir_ + "/" + grant + ".json";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error{"state file " + path + " not found"};
  char buffer[4096];
  ssize_t n = read(fd, buffer, sizeof buffer);
  close(fd);
  if (n <= 0) return Error{"failed to read " + path};
  json state = ParseStrictJson(std::string_view(buffer, n));
  if (!state.is_object() || !state["grant_exp"].is_number_integer() ||
      state.value("grant", "") != grant) {
    return Error{"invalid state file " + path};
  }
  GrantClaims claims;
  claims.grant = grant;
  claims.request = state.value("request", "");
  claims.user = state.value("user", "");
  claims.kind = state.value("kind", "");
  claims.grant_expires = state["grant_exp"].get<int64_t>();
  return claims;
}

}  // namespace zsp::agent

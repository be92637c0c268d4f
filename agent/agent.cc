#include "agent/agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
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
// How long after a login placement Tick looks for the session that
// pam_systemd opens later in the same stack, and how often.
constexpr auto kSessionLookupWindow = std::chrono::seconds(30);
constexpr auto kSessionLookupInterval = std::chrono::milliseconds(500);
// How often the agent checks (GetSession) whether a terminated session is
// gone.
constexpr auto kSessionPollInterval = std::chrono::milliseconds(50);
// Login processes tracked per grant, which keeps a state file well under
// kMaxStateBytes.
constexpr size_t kMaxLoginsPerGrant = 64;
constexpr size_t kMaxStateBytes = 16384;

std::string Join(const std::vector<std::string>& parts) {
  std::string joined;
  for (const auto& part : parts) {
    joined += (joined.empty() ? "" : ",") + part;
  }
  return joined;
}

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

void Agent::UseLogind(std::shared_ptr<LogindManager> logind) {
  logind_ = std::move(logind);
}

void Agent::AdoptOrEndLeftovers(int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& name : cgroups_.ListGrants()) {
    auto state = IsWorkId(name) ? LoadState(name)
                                 : Result<LiveGrant>(Error{"not a grant id"});
    if (state.ok() && state.value().claims.grant_expires > now) {
      const GrantClaims& claims = state.value().claims;
      live_[name] = state.value();
      Log(LOG_INFO, "adopted",
          {{"grant", name},
           {"user", claims.user},
           {"grant_exp", std::to_string(claims.grant_expires)}});
      continue;
    }
    LiveGrant unknown = state.ok() ? state.value() : LiveGrant{};
    unknown.claims.grant = name;
    live_[name] = unknown;
    EndWorkLocked(name, state.ok() ? kCauseExpired : kCauseUnknownAtStart);
  }
  AdoptSessionsLocked(now);
}

// A grant whose only work is a logind session may have no cgroup left:
// systemd removes a scope once its last process has moved to the
// session's scope. Its state file still names the session.
void Agent::AdoptSessionsLocked(int64_t now) {
  if (logind_ == nullptr) return;
  DIR* dir = opendir(state_dir_.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> grants;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    constexpr std::string_view kSuffix = ".json";
    if (name.size() <= kSuffix.size() ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(),
                     kSuffix) != 0) {
      continue;
    }
    name.resize(name.size() - kSuffix.size());
    if (IsWorkId(name) && live_.count(name) == 0) grants.push_back(name);
  }
  closedir(dir);
  for (const auto& grant : grants) {
    auto state = LoadState(grant);
    if (!state.ok() || state.value().logins.empty()) continue;
    live_[grant] = state.value();
    if (state.value().claims.grant_expires <= now) {
      EndWorkLocked(grant, kCauseExpired);
      continue;
    }
    Log(LOG_INFO, "adopted",
        {{"grant", grant},
         {"user", state.value().claims.user},
         {"grant_exp", std::to_string(state.value().claims.grant_expires)},
         {"login_processes",
          std::to_string(state.value().logins.size())}});
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
  // A login session that pam_systemd opened before pam_zsp ran is looked
  // up while the process is still in the session's scope. sudo work never
  // leads a session of its own, and its caller's session is not the
  // grant's to end.
  std::optional<ProcessRef> login;
  SessionLookup lookup;
  if (logind_ != nullptr && grant.kind != "sudo") {
    auto process = ReferToProcess(pid);
    if (process.ok()) {
      login = process.value();
      lookup = logind_->FindSessionLedBy(process.value());
    }
  }

  auto origin = CgroupOfProcess(pid);
  if (!origin.ok() && !peer.IsAlive()) {
    // The caller exited before the agent read its cgroup: nothing was
    // moved, and the user may cause this at will, so it is no failure of
    // the agent.
    Log(LOG_WARNING, "rejected",
        {{"pid", std::to_string(pid)},
         {"grant", grant.grant},
         {"reason", "caller exited before it was placed"},
         {"pin", peer.pin()}});
    return Rejected("the process that requested placement exited first");
  }
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

  bool is_new = live_.count(grant.grant) == 0;
  LiveGrant& live = live_[grant.grant];
  live.claims = grant;
  live.failed_cause.clear();
  Log(LOG_INFO, "placed",
      {{"grant", grant.grant},
       {"user", grant.user},
       {"kind", grant.kind},
       {"pid", std::to_string(pid)},
       {"grant_exp", std::to_string(grant.grant_expires)}});
  if (login) TrackLoginLocked(&live, *login, lookup);
  if (is_new || login) SaveState(live);
  AgentReply reply;
  reply.ok = true;
  reply.grant = grant.grant;
  reply.cgroup = cgroups_.RelativePathOf(grant.grant);
  return reply;
}

void Agent::TrackLoginLocked(LiveGrant* live, const ProcessRef& process,
                             const SessionLookup& lookup) {
  LoginProcess login{process, ""};
  std::string pid = std::to_string(process.pid);
  switch (lookup.status) {
    case LookupStatus::kFound:
      login.session = lookup.id;
      login.scope_cgroup = lookup.scope_cgroup;
      Log(LOG_INFO, "session",
          {{"grant", live->claims.grant},
           {"pid", pid},
           {"logind_session", lookup.id}});
      break;
    case LookupStatus::kNoSession:
      break;
    case LookupStatus::kUnavailable:
    case LookupStatus::kFailed:
      Log(LOG_WARNING, "failed",
          {{"action", "find-session"},
           {"grant", live->claims.grant},
           {"pid", pid},
           {"error", lookup.error}});
      live->logind_warned = true;
      break;
  }
  if (live->logins.size() >= kMaxLoginsPerGrant) {
    // Processes that have exited without a session are of no more use.
    std::erase_if(live->logins, [](const LoginProcess& old) {
      auto now = ReferToProcess(old.process.pid);
      return old.session.empty() &&
             (!now.ok() || now.value().start_time != old.process.start_time);
    });
  }
  if (live->logins.size() >= kMaxLoginsPerGrant) {
    Log(LOG_WARNING, "failed",
        {{"action", "track-session"},
         {"grant", live->claims.grant},
         {"pid", pid},
         {"error", "the grant has " + std::to_string(kMaxLoginsPerGrant) +
                       " login processes already; only its cgroup ends "
                       "this one"}});
    return;
  }
  live->logins.push_back(login);
  live->lookup_until = SteadyClock::now() + kSessionLookupWindow;
  live->next_lookup = SteadyClock::now() + kSessionLookupInterval;
}

bool Agent::FindSessionsLocked(LiveGrant* live) {
  bool found = false;
  for (LoginProcess& login : live->logins) {
    if (!login.session.empty()) continue;
    SessionLookup lookup = logind_->FindSessionLedBy(login.process);
    if (lookup.status == LookupStatus::kFound) {
      login.session = lookup.id;
      login.scope_cgroup = lookup.scope_cgroup;
      found = true;
      Log(LOG_INFO, "session",
          {{"grant", live->claims.grant},
           {"pid", std::to_string(login.process.pid)},
           {"logind_session", lookup.id}});
    } else if (!lookup.error.empty() && !live->logind_warned) {
      Log(LOG_WARNING, "failed",
          {{"action", "find-session"},
           {"grant", live->claims.grant},
           {"pid", std::to_string(login.process.pid)},
           {"error", lookup.error}});
      live->logind_warned = true;
    }
  }
  return found;
}

SessionsEnd MergeSessionsEnd(const SessionsEnd& earlier,
                             const SessionsEnd& later) {
  SessionsEnd out = earlier;
  for (size_t i = 0; i < later.ids.size(); ++i) {
    bool known = false;
    for (const auto& id : earlier.ids) known = known || id == later.ids[i];
    if (known) continue;
    out.ids.push_back(later.ids[i]);
    out.scopes.push_back(i < later.scopes.size() ? later.scopes[i] : "");
    for (const auto& outcome : later.outcomes) {
      if (outcome.rfind(later.ids[i] + "=", 0) == 0) {
        out.outcomes.push_back(outcome);
      }
    }
  }
  for (size_t i = 0; i < later.processes.pids.size(); ++i) {
    bool listed = false;
    for (pid_t pid : out.processes.pids) {
      listed = listed || pid == later.processes.pids[i];
    }
    if (listed) continue;
    out.processes.pids.push_back(later.processes.pids[i]);
    if (i < later.processes.names.size()) {
      out.processes.names.push_back(later.processes.names[i]);
    }
  }
  if (out.error.empty()) out.error = later.error;
  return out;
}

SessionsEnd Agent::TerminateSessionsLocked(LiveGrant* live) {
  SessionsEnd end;
  if (logind_ == nullptr || live->logins.empty()) return end;
  FindSessionsLocked(live);
  for (const LoginProcess& login : live->logins) {
    if (login.session.empty()) continue;
    bool seen = false;
    for (const auto& id : end.ids) seen = seen || id == login.session;
    if (seen) continue;
    end.ids.push_back(login.session);
    end.scopes.push_back(login.scope_cgroup);
    if (login.scope_cgroup.empty()) continue;
    KillReport listed = cgroups_.ListCgroup(login.scope_cgroup);
    end.processes.pids.insert(end.processes.pids.end(), listed.pids.begin(),
                              listed.pids.end());
    end.processes.names.insert(end.processes.names.end(),
                               listed.names.begin(), listed.names.end());
  }
  if (end.ids.empty() && live->logind_warned) {
    end.error = "no logind session found: logind lookups failed";
  }
  for (const auto& id : end.ids) {
    std::string error;
    SessionCall call = logind_->TerminateSession(id, &error);
    if (call == SessionCall::kDone) continue;
    end.outcomes.push_back(id + (call == SessionCall::kGone ? "=gone"
                                                            : "=failed"));
    if (call == SessionCall::kGone) continue;
    Log(LOG_ERR, "failed",
        {{"action", "terminate-session"},
         {"grant", live->claims.grant},
         {"logind_session", id},
         {"error", error}});
    if (end.error.empty()) end.error = error;
  }
  return end;
}

void Agent::KillSessionsLocked(const std::string& grant, SessionsEnd* end) {
  std::vector<std::string> pending;
  for (const auto& id : end->ids) {
    bool settled = false;
    for (const auto& outcome : end->outcomes) {
      settled = settled || outcome.rfind(id + "=", 0) == 0;
    }
    if (!settled) pending.push_back(id);
  }
  auto deadline = SteadyClock::now() +
                  std::chrono::milliseconds(kSessionKillGraceMs);
  while (!pending.empty()) {
    std::vector<std::string> left;
    for (const auto& id : pending) {
      std::string error;
      if (logind_->CheckSession(id, &error) == SessionCall::kGone) {
        end->outcomes.push_back(id + "=terminated");
      } else {
        left.push_back(id);
      }
    }
    pending = std::move(left);
    if (pending.empty() || SteadyClock::now() >= deadline) break;
    std::this_thread::sleep_for(kSessionPollInterval);
  }
  for (const auto& id : pending) {
    std::string error;
    SessionCall call = logind_->KillSession(id, SIGKILL, &error);
    if (call == SessionCall::kDone || call == SessionCall::kGone) {
      end->outcomes.push_back(id + (call == SessionCall::kDone ? "=killed"
                                                               : "=gone"));
      continue;
    }
    end->outcomes.push_back(id + "=failed");
    Log(LOG_ERR, "failed",
        {{"action", "kill-session"},
         {"grant", grant},
         {"logind_session", id},
         {"error", error}});
    if (end->error.empty()) end->error = error;
  }
  KillSessionScopesLocked(grant, end);
}

// The follow-up that does not depend on logind: processes that remain in
// a session's scope after TerminateSession and KillSession, or because
// logind failed, get the same kill as the grant's own cgroup.
void Agent::KillSessionScopesLocked(const std::string& grant,
                                    SessionsEnd* end) {
  for (size_t i = 0; i < end->ids.size(); ++i) {
    const std::string& scope = end->scopes[i];
    if (scope.empty()) continue;
    // Processes that KillSession signalled may take a moment to exit.
    auto deadline = SteadyClock::now() + kSessionPollInterval * 4;
    while (!cgroups_.ListCgroup(scope).pids.empty() &&
           SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    auto killed = cgroups_.KillCgroup(scope, kKillTimeoutMs);
    if (!killed.ok()) {
      Log(LOG_ERR, "failed",
          {{"action", "kill-session-scope"},
           {"grant", grant},
           {"logind_session", end->ids[i]},
           {"cgroup", scope},
           {"error", killed.error()}});
      if (end->error.empty()) end->error = killed.error();
      continue;
    }
    if (killed.value().pids.empty()) continue;
    Log(LOG_WARNING, "killed-session-scope",
        {{"grant", grant},
         {"logind_session", end->ids[i]},
         {"cgroup", scope},
         {"pids", JoinPids(killed.value().pids)}});
    for (auto& outcome : end->outcomes) {
      if (outcome.rfind(end->ids[i] + "=", 0) == 0) {
        outcome = end->ids[i] + "=killed-by-agent";
      }
    }
  }
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

  auto steady_now = SteadyClock::now();
  for (auto& [grant, live] : live_) {
    if (logind_ == nullptr || live.logins.empty() ||
        steady_now >= live.lookup_until || steady_now < live.next_lookup) {
      continue;
    }
    live.next_lookup = steady_now + kSessionLookupInterval;
    if (FindSessionsLocked(&live)) SaveState(live);
  }

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
  // logind first, so that a session whose leader left the grant's slice
  // is stopping while the cgroup kill below runs. A logind failure never
  // stops that kill.
  SessionsEnd sessions = TerminateSessionsLocked(&it->second);
  auto killed = cgroups_.KillGrant(grant, kKillTimeoutMs);
  if (!sessions.ids.empty()) KillSessionsLocked(grant, &sessions);
  if (it->second.earlier_sessions) {
    sessions = MergeSessionsEnd(*it->second.earlier_sessions, sessions);
  }
  if (!killed.ok()) {
    it->second.earlier_sessions = sessions;
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
  RecordEnd(it->second.claims, cause, killed.value(), sessions);
  // A lost feed is no sign that the grant was revoked. Once the feed is
  // back and has delivered the revocations it missed, the grant may
  // place work again.
  if (cause != std::string_view(kCauseFeedStale)) {
    ended_[grant] = it->second.claims.grant_expires;
  }
  RemoveState(grant);
  live_.erase(it);
}

void Agent::RecordEnd(const GrantClaims& claims, const std::string& cause,
                      const KillReport& report, const SessionsEnd& sessions) {
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
  if (!sessions.ids.empty()) {
    const KillReport& listed = sessions.processes;
    record.Add("ZSP_LOGIND_SESSION", Join(sessions.ids))
        .Add("ZSP_LOGIND_END", Join(sessions.outcomes))
        .Add("ZSP_SESSION_PIDS",
             listed.pids.empty() ? "none" : JoinPids(listed.pids))
        .Add("ZSP_SESSION_PROCESSES", JoinProcesses(listed));
  }
  if (!sessions.error.empty()) {
    record.Add("ZSP_LOGIND_ERROR", sessions.error);
  }
  if (claims.grant_expires > 0) {
    record.Add("ZSP_GRANT_EXPIRES", std::to_string(claims.grant_expires));
  }
  std::string message = "end-work grant=" + claims.grant + " cause=" +
                        cause + " pids=" + JoinPids(report.pids);
  if (!sessions.ids.empty()) {
    message += " logind_session=" + Join(sessions.ids);
  }
  record.SetMessage(message);
  std::string failure = record.Commit(config_.spool_dir);
  Log(failure.empty() ? LOG_WARNING : LOG_ERR, "ended",
      {{"grant", claims.grant},
       {"user", claims.user},
       {"cause", cause},
       {"pids", JoinPids(report.pids)},
       {"method", report.method},
       {"logind_session", sessions.ids.empty() ? "none" : Join(sessions.ids)},
       {"record", failure.empty() ? "ok" : failure}});
}

void Agent::SaveState(const LiveGrant& live) const {
  const GrantClaims& claims = live.claims;
  json logins = json::array();
  for (const LoginProcess& login : live.logins) {
    logins.push_back({{"pid", login.process.pid},
                      {"start", login.process.start_time},
                      {"session", login.session},
                      {"scope", login.scope_cgroup}});
  }
  json state = {{"grant", claims.grant},
                {"request", claims.request},
                {"user", claims.user},
                {"kind", claims.kind},
                {"grant_exp", claims.grant_expires},
                {"logins", logins}};
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

Result<Agent::LiveGrant> Agent::LoadState(const std::string& grant) const {
  std::string path = state_dir_ + "/" + grant + ".json";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error{"state file " + path + " not found"};
  char buffer[kMaxStateBytes];
  ssize_t n = read(fd, buffer, sizeof buffer);
  close(fd);
  if (n <= 0) return Error{"failed to read " + path};
  json state = ParseStrictJson(std::string_view(buffer, n));
  if (!state.is_object() || !state["grant_exp"].is_number_integer() ||
      state.value("grant", "") != grant) {
    return Error{"invalid state file " + path};
  }
  LiveGrant live;
  GrantClaims& claims = live.claims;
  claims.grant = grant;
  claims.request = state.value("request", "");
  claims.user = state.value("user", "");
  claims.kind = state.value("kind", "");
  claims.grant_expires = state["grant_exp"].get<int64_t>();
  // Written by SaveState; an entry of another shape is dropped, so a
  // damaged file can only lose a session, never name a foreign one.
  const json& logins = state.contains("logins") ? state["logins"] : json();
  if (!logins.is_array()) return live;
  for (const json& entry : logins) {
    if (!entry.is_object() || !entry.value("pid", json()).is_number_integer() ||
        !entry.value("start", json()).is_number_unsigned() ||
        !entry.value("session", json()).is_string()) {
      continue;
    }
    LoginProcess login;
    login.process.pid = static_cast<pid_t>(entry["pid"].get<int32_t>());
    login.process.start_time = entry["start"].get<uint64_t>();
    login.session = entry["session"].get<std::string>();
    if (login.process.pid <= 0 ||
        (!login.session.empty() && !IsSessionId(login.session))) {
      continue;
    }
    const json scope = entry.value("scope", json());
    if (scope.is_string()) {
      login.scope_cgroup =
          SessionScopeOf(scope.get<std::string>(), login.session);
    }
    live.logins.push_back(login);
  }
  return live;
}

}  // namespace zsp::agent

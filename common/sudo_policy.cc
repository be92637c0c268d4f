#include "common/sudo_policy.h"

#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <memory>

#include "common/audit_spool.h"
#include "common/breakglass_prompt.h"
#include "common/decision_cache.h"
#include "common/decision.h"
#include "common/agent_protocol.h"
#include "common/escape.h"
#include "common/host_requests.h"
#include "common/journal.h"
#include "common/sudo_env.h"
#include "common/text.h"

namespace zsp {
namespace {

constexpr char kIdentifier[] = "sudo_zsp";
constexpr char kPrefix[] = "zsp: ";
constexpr size_t kMaxArgc = 4096;
// Cap of ZSP_COMMAND. journalctl -o json prints a field whose data, name
// included, exceeds 4096 bytes as null unless --all is given (systemd's
// JSON_THRESHOLD in logs-show.c), so the command stays below that.
constexpr size_t kMaxCommandFieldBytes = 4000;

// Environment variables copied from the user without -E, each with a
// value that CheckUserEnvEntry accepts.
bool IsKeptEnvName(const std::string& name) {
  return name == "TERM" || name == "COLORTERM" || name == "LANG" ||
         name == "LANGUAGE" || name == "TZ" || name.rfind("LC_", 0) == 0;
}

std::string Lookup(const KeyValues& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

}  // namespace

KeyValues ParseKeyValues(const char* const* list) {
  KeyValues out;
  for (; list != nullptr && *list != nullptr; ++list) {
    const char* eq = std::strchr(*list, '=');
    if (eq == nullptr) continue;
    out.emplace(std::string(*list, eq), std::string(eq + 1));
  }
  return out;
}

std::vector<std::string> CopyStrings(const char* const* list) {
  std::vector<std::string> out;
  for (; list != nullptr && *list != nullptr; ++list) out.emplace_back(*list);
  return out;
}

int64_t ExpiryWarningDelay(int64_t now, int64_t grant_expires,
                           int64_t timeout_sec, int64_t warning_sec) {
  if (warning_sec <= 0) return -1;
  int64_t delay = std::max<int64_t>(grant_expires - warning_sec - now, 0);
  return delay < timeout_sec ? delay : -1;
}

std::string ExpiryWarningText(const std::string& grant,
                              int64_t grant_expires, int64_t now) {
  time_t end = static_cast<time_t>(grant_expires);
  tm utc{};
  char clock[16] = "?";
  if (gmtime_r(&end, &utc) != nullptr) {
    strftime(clock, sizeof clock, "%H:%M:%S", &utc);
  }
  std::string left = std::to_string(std::max<int64_t>(grant_expires - now, 0));
  bool break_glass = grant.rfind("bg-", 0) == 0;
  std::string what = break_glass ? "break-glass token " : "grant ";
  std::string next =
      break_glass ? "ask the break-glass key holders for a new token"
                  : "file a new request with zspctl request once it has "
                    "ended";
  return std::string(kPrefix) + what + grant + " ends at " + clock +
         " UTC, in " + left + " s, and this command is stopped then; for "
         "more time, " + next;
}

Result<std::string> ResolveCommand(const std::string& argv0,
                                   const std::string& cwd,
                                   const std::string& secure_path) {
  if (argv0.empty()) return Error{"empty command name"};
  std::string candidate;
  if (argv0.find('/') != std::string::npos) {
    if (argv0[0] != '/' && cwd.empty()) {
      return Error{"relative path " + argv0 + " with no working directory"};
    }
    candidate = argv0[0] == '/' ? argv0 : cwd + "/" + argv0;
  } else {
    for (const auto& dir : SplitString(secure_path, ':')) {
      std::string path = dir + "/" + argv0;
      struct stat st {};
      if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          (st.st_mode & 0111) != 0) {
        candidate = path;
        break;
      }
    }
    if (candidate.empty()) {
      return Error{argv0 + ": command not found in secure_path"};
    }
  }

  char resolved[PATH_MAX];
  if (realpath(candidate.c_str(), resolved) == nullptr) {
    return Error{argv0 + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Error{argv0 + ": not a regular file"};
  }
  if ((st.st_mode & 0111) == 0) return Error{argv0 + ": not executable"};
  return std::string(resolved);
}

namespace {

// Resolves a run-as user given as a name or as "#uid".
Result<RunAsUser> ResolveTarget(const std::string& spec) {
  long buf_size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(buf_size > 0 ? size_t(buf_size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  if (!spec.empty() && spec[0] == '#') {
    uid_t uid = 0;
    if (!ParseUnsigned(spec.substr(1), &uid)) {
      return Error{"invalid run-as user " + spec};
    }
    rc = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
  } else {
    rc = getpwnam_r(spec.c_str(), &pw, buf.data(), buf.size(), &found);
  }
  if (rc != 0 || found == nullptr) {
    return Error{"unknown run-as user " + EscapeForLog(spec, 64)};
  }

  RunAsUser t;
  t.name = pw.pw_name;
  t.uid = pw.pw_uid;
  t.gid = pw.pw_gid;
  t.home = pw.pw_dir;
  t.shell = pw.pw_shell[0] != '\0' ? pw.pw_shell : "/bin/sh";
  int count = 64;
  t.groups.resize(count);
  while (getgrouplist(t.name.c_str(), t.gid, t.groups.data(), &count) < 0) {
    if (count > 65536) return Error{"too many groups for " + t.name};
    t.groups.resize(count *= 2);
  }
  t.groups.resize(count);
  return t;
}

// Supplementary groups for the command: the -g group first when given,
// then the target's groups without repeats.
std::vector<gid_t> CommandGroups(const RunAsUser& target,
                                 const std::optional<RunAsGroup>& group) {
  std::vector<gid_t> groups;
  if (group) groups.push_back(group->gid);
  for (gid_t gid : target.groups) {
    if (std::find(groups.begin(), groups.end(), gid) == groups.end()) {
      groups.push_back(gid);
    }
  }
  return groups;
}

bool IsListedShell(const std::string& shell) {
  FILE* file = std::fopen("/etc/shells", "re");
  if (file == nullptr) return false;
  std::unique_ptr<FILE, int (*)(FILE*)> owner(file, std::fclose);
  char line[PATH_MAX];
  while (std::fgets(line, sizeof line, file) != nullptr) {
    std::string entry(line);
    while (!entry.empty() && (entry.back() == '\n' || entry.back() == ' ')) {
      entry.pop_back();
    }
    if (!entry.empty() && entry[0] != '#' && entry == shell) return true;
  }
  return false;
}

// The command's umask: the user's umask combined with 022, so a command
// run under zsp never creates group- or world-writable files unless the
// user's own umask already allowed less.
std::string CommandUmask(const std::string& user_umask) {
  unsigned long mask = 022;
  if (!user_umask.empty()) {
    char* end = nullptr;
    errno = 0;
    unsigned long parsed = std::strtoul(user_umask.c_str(), &end, 8);
    if (errno == 0 && *end == '\0' && parsed <= 0777) mask |= parsed;
  }
  char text[8];
  std::snprintf(text, sizeof text, "0%03lo", mask);
  return text;
}

std::string JoinGroups(const std::vector<gid_t>& groups) {
  std::string out;
  for (gid_t g : groups) {
    if (!out.empty()) out += ',';
    out += std::to_string(g);
  }
  return out;
}

}  // namespace

std::string UnescapeShellCommand(const std::string& escaped) {
  std::string out;
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '\\' && i + 1 < escaped.size()) ++i;
    out += escaped[i];
  }
  return out;
}

Result<RunAsGroup> ResolveRunAsGroup(const std::string& spec) {
  long buf_size = sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(buf_size > 0 ? size_t(buf_size) : 16384);
  group gr{};
  group* found = nullptr;
  int rc;
  while (true) {
    if (!spec.empty() && spec[0] == '#') {
      gid_t gid = 0;
      if (!ParseUnsigned(spec.substr(1), &gid)) {
        return Error{"invalid run-as group " + EscapeForLog(spec, 64)};
      }
      rc = getgrgid_r(gid, &gr, buf.data(), buf.size(), &found);
    } else {
      rc = getgrnam_r(spec.c_str(), &gr, buf.data(), buf.size(), &found);
    }
    // Groups with many members need more than the suggested buffer.
    if (rc != ERANGE || buf.size() >= (size_t(1) << 24)) break;
    buf.resize(buf.size() * 2);
  }
  if (rc != 0 || found == nullptr) {
    return Error{"unknown run-as group " + EscapeForLog(spec, 64)};
  }
  return RunAsGroup{gr.gr_name, gr.gr_gid};
}

Result<SudoCommand> SudoPolicy::BuildCommand(
    const std::vector<std::string>& argv_in, const RunAsUser& target,
    const std::string& secure_path) const {
  SudoCommand command;
  bool login_shell = Lookup(settings_, "login_shell") == "true";
  bool shell = login_shell || Lookup(settings_, "run_shell") == "true" ||
               Lookup(settings_, "implied_shell") == "true";
  command.login_shell = login_shell;
  command.exec_argv = argv_in;
  if (!shell) {
    auto path = ResolveCommand(argv_in[0], Lookup(user_info_, "cwd"),
                               secure_path);
    if (!path.ok()) return Error{path.error()};
    command.exec_argv[0] = path.value();
    command.match_argv = command.exec_argv;
    return command;
  }

  // -i runs the target's login shell; -s and plain `sudo` run the shell
  // sudo passed, which comes from the user's SHELL. Either must be a
  // listed login shell, and it counts as full root at the broker.
  std::string shell_path = login_shell ? target.shell : argv_in[0];
  if (!IsListedShell(shell_path)) {
    return Error{"shell " + EscapeForLog(shell_path, 256) +
                 " is not listed in /etc/shells"};
  }
  auto path = ResolveCommand(shell_path, "", secure_path);
  if (!path.ok()) return Error{path.error()};
  command.exec_argv[0] = path.value();
  command.match_argv = command.exec_argv;
  if (argv_in.size() >= 3 && argv_in[1] == "-c") {
    command.match_argv[2] = UnescapeShellCommand(argv_in[2]);
  }
  if (login_shell) {
    // A leading '-' in argv[0] makes the shell read its login files.
    std::string base = path.value().substr(path.value().rfind('/') + 1);
    command.exec_argv[0] = "-" + base;
  }
  return command;
}

SudoPolicy::SudoPolicy(KeyValues settings, KeyValues user_info,
                       std::vector<std::string> user_env,
                       ModuleOptions options)
    : settings_(std::move(settings)),
      user_info_(std::move(user_info)),
      user_env_(std::move(user_env)),
      options_(std::move(options)) {}

SudoOutcome SudoPolicy::Check(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env_add) {
  return Decide(argv, env_add, false);
}

bool SudoPolicy::CanPrompt() const {
  auto tty = user_info_.find("tty");
  return terminal_ != nullptr &&
         Lookup(settings_, "noninteractive") != "true" &&
         tty != user_info_.end() && !tty->second.empty();
}

std::optional<HostConfig> SudoPolicy::ConfigForListing(
    SudoOutcome* out) const {
  auto config = LoadHostConfig(options_.config_path);
  if (!config.ok()) {
    out->result = SudoOutcome::kDeny;
    out->messages.push_back(std::string(kPrefix) +
                            "the zsp configuration is invalid (" +
                            EscapeForLog(config.error(), 256) + ")");
    return std::nullopt;
  }
  if (config.value().host.empty()) {
    config.value().host = Lookup(user_info_, "host");
  }
  return config.value();
}

SudoOutcome SudoPolicy::List(const std::vector<std::string>& argv,
                             bool verbose) {
  if (!argv.empty()) return Decide(argv, {}, true);
  SudoOutcome out;
  auto config = ConfigForListing(&out);
  if (!config) return out;
  std::string user = Lookup(user_info_, "user");
  auto grants = ListHostGrants(*config, user, "sudo");
  if (!grants.ok()) {
    out.result = SudoOutcome::kDeny;
    out.messages.push_back(std::string(kPrefix) +
                           "cannot list grants: " +
                           EscapeForLog(grants.error(), 256));
    return out;
  }
  out.result = SudoOutcome::kAllow;
  std::string host = EscapeForLog(config->host, 64);
  if (grants.value().empty()) {
    out.messages.push_back("User " + EscapeForLog(user, 64) +
                           " has no active zsp grant for sudo on " + host +
                           "; request one with: zspctl request");
    return out;
  }
  out.messages.push_back("User " + EscapeForLog(user, 64) +
                         " may run the following commands on " + host +
                         " under zsp grants:");
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& g : grants.value()) {
    // Like sudoers' listing: "(users : groups)".
    std::string runas;
    for (const auto& r : g.runas) runas += (runas.empty() ? "" : ",") + r;
    std::string groups;
    for (const auto& r : g.runas_groups) {
      groups += (groups.empty() ? "" : ",") + r;
    }
    if (!groups.empty()) runas += " : " + groups;
    std::string env;
    for (const auto& name : g.env) env += (env.empty() ? "" : ",") + name;
    std::string commands;
    for (const auto& c : g.commands) {
      commands += (commands.empty() ? "" : ", ") + EscapeForLog(c, 256);
    }
    long minutes = static_cast<long>((g.expires_at - now + 59) / 60);
    std::string line = "    (" + EscapeForLog(runas, 256) + ") " + commands;
    if (!env.empty()) line += "  [environment " + EscapeForLog(env, 256) + "]";
    line += "  [grant " + g.id + ", ends in " + std::to_string(minutes) +
            " min]";
    out.messages.push_back(line);
    if (verbose) {
      out.messages.push_back("        approved by " +
                             EscapeForLog(g.approved_by, 64) +
                             ", ends at Unix time " +
                             std::to_string(g.expires_at));
    }
  }
  return out;
}

SudoOutcome SudoPolicy::Validate() {
  SudoOutcome out;
  auto config = ConfigForListing(&out);
  if (!config) return out;
  auto grants = ListHostGrants(*config, Lookup(user_info_, "user"), "sudo");
  if (!grants.ok()) {
    out.result = SudoOutcome::kDeny;
    out.messages.push_back(std::string(kPrefix) + "cannot check grants: " +
                           EscapeForLog(grants.error(), 256));
    return out;
  }
  if (grants.value().empty()) {
    out.result = SudoOutcome::kDeny;
    out.messages.push_back(std::string(kPrefix) +
                           "you have no active grant for sudo on this host");
    return out;
  }
  out.result = SudoOutcome::kAllow;
  return out;
}

std::string SudoPolicy::Invalidate() {
  auto config = LoadHostConfig(options_.config_path);
  if (!config.ok()) return config.error();
  return ClearDecisionCache(config.value(), Lookup(user_info_, "user"));
}

// Tells the user why the emergency path opened and asks for a token for
// exactly this sudo use.
EmergencyOutcome SudoPolicy::OfferBreakGlass(const HostConfig& config,
                                             const DecisionQuery& query,
                                             const Decision& decision) {
  if (decision.verdict == Verdict::kUnavailable) {
    terminal_->Show(std::string(kPrefix) +
                    "the access broker could not be reached (" +
                    EscapeForLog(decision.detail, 256) + ")");
  } else if (!decision.message.empty()) {
    terminal_->Show(std::string(kPrefix) +
                    EscapeForLog(decision.message, 1024));
  }
  BreakGlassUse use;
  use.user = query.user;
  use.host = query.host;
  use.kind = "sudo";
  use.runas = query.runas;
  use.now = static_cast<int64_t>(std::time(nullptr));
  // Spent once the command is placed (in Decide), so that a later
  // denial (a changed command file, a failed placement) leaves the token
  // for another try.
  return AskForBreakGlassToken(config, use, terminal_, false);
}

// Names a sudo mode that zsp does not allow yet, or returns "".
std::string SudoPolicy::UnsupportedMode() const {
  if (Lookup(settings_, "sudoedit") == "true") {
    return "sudoedit (sudo -e) is not supported; run the editor under a "
           "grant for it instead";
  }
  if (!Lookup(settings_, "selinux_role").empty() ||
      !Lookup(settings_, "selinux_type").empty() ||
      !Lookup(settings_, "apparmor_profile").empty()) {
    return "SELinux roles and AppArmor profiles are not supported";
  }
  // sudo passes these only when the user gives the option. Ignoring them
  // would run the command somewhere else than the user asked.
  if (!Lookup(settings_, "cmnd_chroot").empty()) {
    return "sudo -R (chroot) is not supported; a grant covers commands on "
           "the host's own root";
  }
  if (!Lookup(settings_, "cmnd_cwd").empty()) {
    return "sudo -D (working directory) is not supported; cd to the "
           "directory and run sudo there";
  }
  if (!Lookup(settings_, "closefrom").empty()) {
    return "sudo -C is not supported; the command never gets descriptors "
           "above 2";
  }
  return "";
}

SudoOutcome SudoPolicy::Decide(const std::vector<std::string>& argv_in,
                               const std::vector<std::string>& env_add,
                               bool listing) {
  SudoOutcome out;
  auto deny = [&](const std::string& why) {
    out.result = SudoOutcome::kDeny;
    out.messages.push_back(std::string(kPrefix) + "access denied: " + why);
    return std::move(out);
  };
  std::string user = Lookup(user_info_, "user");
  std::string group_spec = Lookup(settings_, "runas_group");
  std::string runas_spec = Lookup(settings_, "runas_user");
  // As sudo(8) documents, -g without -u runs as the invoking user.
  if (runas_spec.empty()) runas_spec = group_spec.empty() ? "root" : user;

  AuditRecord record(AuditEvent::kSudoDeny, LOG_NOTICE, kIdentifier);
  record.Add("ZSP_USER", user)
      .Add("ZSP_UID", Lookup(user_info_, "uid"))
      .Add("ZSP_TTY", Lookup(user_info_, "tty"))
      .Add("ZSP_CWD", Lookup(user_info_, "cwd"))
      .Add("ZSP_KIND", "sudo");
  // Until the configuration is read, denials go to the default spool.
  std::string spool_dir = kDefaultSpoolDir;
  // Every denial is recorded; a failed record cannot weaken a denial.
  auto deny_recorded = [&](const std::string& reason,
                           const std::string& user_text) {
    record.Add("ZSP_DECISION", "deny").Add("ZSP_REASON", reason);
    // The command as the user typed it, last, so that the one-line journal
    // view shows what was denied and the user's words cannot pose as the
    // reason. ZSP_COMMAND has the resolved path.
    std::string command =
        argv_in.empty() ? "" : " command=" + JoinArgvForLog(argv_in, 256);
    record.SetMessage("deny user=" + EscapeForLog(user, 64) + " reason=" +
                      EscapeForLog(reason, 256) + command);
    if (!listing) record.Commit(spool_dir);
    return deny(user_text);
  };

  if (argv_in.empty()) return deny_recorded("no command", "no command given");
  if (argv_in.size() > kMaxArgc) {
    return deny_recorded(
        "too many arguments (" + std::to_string(argv_in.size()) + ")",
        "too many arguments (" + std::to_string(argv_in.size()) +
            "); at most " + std::to_string(kMaxArgc) + " are allowed");
  }
  std::string mode = UnsupportedMode();
  if (!mode.empty()) return deny_recorded(mode, mode);
  if (env_add.size() > kMaxArgc) {
    return deny_recorded("too many VAR=value words",
                         "too many VAR=value words");
  }
  std::string env_problem;
  std::vector<std::string> env_names = RequestedEnvNames(
      env_add, Lookup(settings_, "preserve_environment") == "true",
      &env_problem);
  if (!env_problem.empty()) {
    return deny_recorded("environment: " + env_problem,
                         "environment variable " +
                             EscapeForLog(env_problem, 256));
  }
  record.Add("ZSP_ENV", JoinArgvForLog(env_names, 1024));

  auto config = LoadHostConfig(options_.config_path);
  if (!config.ok()) {
    return deny_recorded("configuration: " + config.error(),
                         "the zsp configuration is invalid (" +
                             EscapeForLog(config.error(), 256) +
                             "); ask an administrator to fix it");
  }
  spool_dir = config.value().spool_dir;
  auto keys = LoadPinnedKeys(config.value());
  if (!keys.ok()) {
    return deny_recorded("configuration: " + keys.error(),
                         "the broker's decision key cannot be loaded; ask an "
                         "administrator to check decision_key in " +
                             options_.config_path);
  }

  auto target = ResolveTarget(runas_spec);
  if (!target.ok()) return deny_recorded(target.error(), target.error());
  record.Add("ZSP_RUNAS", target.value().name);
  std::optional<RunAsGroup> group;
  if (!group_spec.empty()) {
    auto resolved = ResolveRunAsGroup(group_spec);
    if (!resolved.ok()) return deny_recorded(resolved.error(), resolved.error());
    group = resolved.value();
    record.Add("ZSP_RUNAS_GROUP", group->name);
  }

  auto command = BuildCommand(argv_in, target.value(),
                              config.value().secure_path);
  if (!command.ok()) {
    record.AddEscaped("ZSP_COMMAND",
                      JoinArgvForLog(argv_in, kMaxCommandFieldBytes));
    return deny_recorded(command.error(), EscapeForLog(command.error(), 512));
  }
  // The broker and the journal see the unescaped shell command line;
  // sudo runs the argv it passed in, with the resolved path.
  const std::vector<std::string>& argv = command.value().match_argv;
  record.AddEscaped("ZSP_COMMAND",
                    JoinArgvForLog(argv, kMaxCommandFieldBytes));
  for (const auto& word : argv) {
    if (!IsValidUtf8(word)) {
      return deny_recorded("argument is not valid UTF-8",
                           "arguments must be valid UTF-8 text");
    }
  }

  DecisionQuery query;
  query.user = user;
  query.host = config.value().host.empty() ? Lookup(user_info_, "host")
                                           : config.value().host;
  query.kind = "sudo";
  query.runas = target.value().name;
  query.argv = argv;
  if (group) query.runas_group = group->name;
  query.env = env_names;
  record.Add("ZSP_HOST", query.host).Add("ZSP_BROKER", config.value().broker_url);

  // sudo -k with a command requests fresh credentials, which here means a
  // new decision from the broker.
  if (Lookup(settings_, "ignore_ticket") == "true") {
    std::string failure = ClearDecisionCache(config.value(), user);
    if (!failure.empty()) record.Add("ZSP_CACHE_PROBLEM", failure);
  }
  std::string cache_problem;
  if (terminal_ != nullptr) terminal_->BeginStopWatch();
  Decision decision =
      AskBrokerCached(config.value(), keys.value(), query, &cache_problem);
  bool stopped = terminal_ != nullptr && terminal_->EndStopWatch();
  if (!cache_problem.empty()) record.Add("ZSP_CACHE_PROBLEM", cache_problem);
  if (decision.cached) record.Add("ZSP_CACHED", "1");
  record.Add("ZSP_PATH", decision.path)
      .Add("ZSP_RELAY_PROBLEM", decision.relay_problem);
  if (stopped && decision.verdict == Verdict::kUnavailable &&
      !decision.rejected) {
    // While sudo was stopped the broker may well have sent its decision,
    // so this is no outage and offers no break-glass.
    record.Add("ZSP_STOPPED", "1");
    return deny_recorded(
        "stopped during the broker call: " + decision.detail,
        "sudo was stopped (Ctrl-Z) while it waited for the broker, so no "
        "emergency token is offered; run sudo again and let it finish");
  }
  EmergencyOutcome emergency;
  // A break-glass token names no run-as group or environment variables,
  // so it is never offered for -g, -E or VAR=value.
  bool token_can_cover = !group && env_names.empty();
  if (!listing && CanPrompt() && token_can_cover &&
      OffersBreakGlass(config.value(),
                       decision.verdict == Verdict::kUnavailable &&
                           !decision.rejected,
                       decision.verdict == Verdict::kDeny)) {
    emergency = OfferBreakGlass(config.value(), query, decision);
    if (emergency.presented) {
      MarkBreakGlassRecord(&record, emergency);
      record.Add("ZSP_BROKER_VERDICT", VerdictName(decision.verdict));
      if (!emergency.allowed) {
        return deny_recorded(emergency.log_reason,
                             "the break-glass token was not accepted");
      }
      decision = Decision{};
      decision.verdict = Verdict::kAllow;
      decision.grant = emergency.token.id;
      decision.grant_expires = emergency.token.expires;
      decision.seconds_left =
          emergency.token.expires - static_cast<int64_t>(std::time(nullptr));
    }
  }
  bool denial_shown = false;
  if (decision.verdict == Verdict::kDeny && !listing && CanPrompt() &&
      !emergency.presented) {
    InteractiveOutcome flow = RequestAndWait(config.value(), keys.value(),
                                             query, decision, terminal_);
    record.Add("ZSP_FILED_REQUEST", flow.request_id)
        .Add("ZSP_PROMPT_RESULT", flow.why);
    decision = flow.decision;
    denial_shown = true;
  }
  record.Add("ZSP_VERDICT", VerdictName(decision.verdict));
  switch (decision.verdict) {
    case Verdict::kAllow:
      break;
    case Verdict::kDeny: {
      std::string text = decision.message.empty()
                             ? "no active grant covers this command"
                             : EscapeForLog(decision.message, 1024);
      if (denial_shown) text = "no grant";
      record.Add("ZSP_DENY_CODE", decision.code);
      return deny_recorded(decision.code.empty() ? "denied" : decision.code,
                           text);
    }
    case Verdict::kUnavailable:
      if (decision.rejected) {
        return deny_recorded(
            decision.detail,
            "the access broker rejected the request (" +
                EscapeForLog(decision.detail, 256) +
                "); ask an administrator");
      }
      return deny_recorded(
          "broker unavailable: " + decision.detail,
          "the access broker could not be reached (" +
              EscapeForLog(decision.detail, 256) +
              "), so no grant can be checked; try again later or ask an "
              "administrator");
    case Verdict::kInvalid:
      record.Add("ZSP_ALERT", "invalid-decision");
      if (decision.clock_mismatch) {
        return deny_recorded(decision.detail,
                             "the broker's answer failed verification: its "
                             "time does not match this host's clock; ask an "
                             "administrator to check the clock of this host "
                             "and of the broker (timedatectl)");
      }
      return deny_recorded(decision.detail,
                           "the broker's answer failed verification; this "
                           "has been logged for the administrators");
    case Verdict::kError:
      return deny_recorded(decision.detail,
                           "sudo failed on this host (" +
                               EscapeForLog(decision.detail, 256) +
                               "); try again, or ask an administrator");
  }

  int64_t now = static_cast<int64_t>(std::time(nullptr));
  int64_t remaining = std::min(decision.grant_expires - now,
                               decision.seconds_left);
  if (remaining < 1) {
    return deny_recorded("grant ended", "the grant has just ended");
  }
  int64_t timeout = remaining;
  std::string user_timeout = Lookup(settings_, "timeout");
  if (!user_timeout.empty()) {
    int64_t seconds = 0;
    if (!ParseDurationSeconds(user_timeout, &seconds) || seconds <= 0) {
      return deny_recorded("invalid -T value",
                           "invalid timeout " + EscapeForLog(user_timeout, 64));
    }
    if (seconds < timeout) timeout = seconds;
  }

  record.Add("ZSP_GRANT", decision.grant)
      .Add("ZSP_REQUEST", decision.request)
      .Add("ZSP_GRANT_EXPIRES", std::to_string(decision.grant_expires))
      .Add("ZSP_TIMEOUT", std::to_string(timeout));
  if (listing) {
    out.result = SudoOutcome::kAllow;
    out.messages.push_back(JoinArgvForLog(argv));
    return out;
  }

  // Pin the approved file before recording the allow. O_PATH without
  // O_CLOEXEC: sudo needs the descriptor until it calls fexecve, and a
  // script's interpreter opens it again through /dev/fd.
  UniqueFd exec_fd(open(argv[0].c_str(), O_PATH | O_NOFOLLOW));
  struct stat exec_st {};
  if (exec_fd.get() < 0 || fstat(exec_fd.get(), &exec_st) != 0 ||
      !S_ISREG(exec_st.st_mode) || (exec_st.st_mode & 0111) == 0) {
    return deny_recorded("command changed after resolution",
                         "the command file changed while it was checked");
  }
  record.Add("ZSP_EXEC_INODE", std::to_string(exec_st.st_ino));

  // This is sudo's front-end process, which forks the command after
  // check_policy and init_session: placed here, the command, its monitor
  // and everything they start stay in the grant's cgroup. Work under a
  // break-glass token goes to a cgroup named by the token's id, under the
  // same agent rule: the agent runs on this host and needs no broker.
  Placement placement =
      emergency.allowed ? PlaceUnderBreakGlass(config.value(), emergency.text)
                        : PlaceUnderGrant(config.value(), decision.token,
                                          decision.requested_at);
  explicit_bzero(emergency.text.data(), emergency.text.size());
  record.Add("ZSP_CGROUP", placement.cgroup);
  if (!placement.allowed) {
    return deny_recorded("agent: " + placement.problem,
                         "the command could not be placed under its "
                         "grant (" +
                             EscapeForLog(placement.problem, 256) +
                             "); ask an administrator");
  }
  record.Add("ZSP_AGENT_WARNING", placement.problem);
  if (emergency.allowed) {
    SpendAcceptedToken(config.value(), static_cast<int64_t>(std::time(nullptr)),
                       &emergency, terminal_);
    if (!emergency.allowed) {
      record.Set("ZSP_BREAKGLASS_STATUS", emergency.status);
      return deny_recorded(emergency.log_reason,
                           "the break-glass token was not accepted");
    }
  }

  if (emergency.allowed) {
    record.SetEvent(AuditEvent::kBreakGlassAllow, LOG_ALERT);
  } else {
    record.SetEvent(AuditEvent::kSudoAllow, LOG_INFO);
  }
  record.Add("ZSP_DECISION", "allow");
  record.SetMessage(std::string(emergency.allowed ? "allow-break-glass"
                                                  : "allow") +
                    " user=" + EscapeForLog(user, 64) + " runas=" +
                    target.value().name +
                    (group ? " group=" + group->name : std::string()) +
                    " grant=" + decision.grant +
                   " command=" + JoinArgvForLog(argv, 1024));
  std::string failure = record.Commit(spool_dir);
  if (!failure.empty()) {
    record.CommitCorrection(spool_dir, failure);
    out.result = SudoOutcome::kDeny;
    out.messages.push_back(std::string(kPrefix) +
                           "access denied: the decision could not be "
                           "recorded (" + EscapeForLog(failure, 256) +
                           "); ask an administrator");
    return out;
  }

  const RunAsUser& t = target.value();
  gid_t gid = group ? group->gid : t.gid;
  out.result = SudoOutcome::kAllow;
  out.argv = command.value().exec_argv;
  out.command_info = {
      "command=" + argv[0],
      "runas_uid=" + std::to_string(t.uid),
      "runas_euid=" + std::to_string(t.uid),
      "runas_gid=" + std::to_string(gid),
      "runas_egid=" + std::to_string(gid),
      "runas_groups=" + JoinGroups(CommandGroups(t, group)),
      "timeout=" + std::to_string(timeout),
      "use_pty=true",
      "umask=" + CommandUmask(Lookup(user_info_, "umask")),
      "execfd=" + std::to_string(exec_fd.get()),
      // As sudoers does: descriptors the user had open stay out of the
      // command.
      "closefrom=3",
  };
  out.exec_fd = std::move(exec_fd);
  if (command.value().login_shell) {
    out.command_info.push_back("cwd=" + t.home);
  } else if (!Lookup(user_info_, "cwd").empty()) {
    out.command_info.push_back("cwd=" + Lookup(user_info_, "cwd"));
  }
  out.env = BuildEnv(t, argv, env_add, config.value().secure_path,
                     decision.grant, decision.grant_expires);
  out.grant = decision.grant;
  out.grant_expires = decision.grant_expires;
  out.warning_delay_sec = ExpiryWarningDelay(
      now, decision.grant_expires, timeout, config.value().expiry_warning_sec);
  if (out.warning_delay_sec == 0) {
    out.messages.push_back(
        ExpiryWarningText(decision.grant, decision.grant_expires, now));
    out.warning_delay_sec = -1;
  }
  return out;
}

// The command's environment, reset as sudoers' env_reset does: a few
// user variables with checked values, everything with -E, then the
// VAR=value words, then the variables sudo_zsp sets. Whatever
// CheckUserEnvEntry rejects is dropped, even under -E; the broker has
// already approved every name that gets this far.
std::vector<std::string> SudoPolicy::BuildEnv(
    const RunAsUser& target, const std::vector<std::string>& argv,
    const std::vector<std::string>& env_add, const std::string& secure_path,
    const std::string& grant, int64_t grant_expires) const {
  bool preserve_all = Lookup(settings_, "preserve_environment") == "true";
  std::map<std::string, std::string> values;
  for (const auto& entry : user_env_) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || !CheckUserEnvEntry(entry).empty()) continue;
    std::string name = entry.substr(0, eq);
    // For a name given twice getenv(3) returns the first entry.
    if (preserve_all || IsKeptEnvName(name)) {
      values.emplace(name, entry.substr(eq + 1));
    }
  }
  for (const auto& entry : env_add) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || !CheckUserEnvEntry(entry).empty()) continue;
    values[entry.substr(0, eq)] = entry.substr(eq + 1);
  }

  values["PATH"] = secure_path;
  values["HOME"] = target.home;
  values["SHELL"] = target.shell;
  values["LOGNAME"] = target.name;
  values["USER"] = target.name;
  values["MAIL"] = "/var/mail/" + target.name;
  values["SUDO_USER"] = Lookup(user_info_, "user");
  values["SUDO_UID"] = Lookup(user_info_, "uid");
  values["SUDO_GID"] = Lookup(user_info_, "gid");
  values["SUDO_COMMAND"] = JoinArgvForLog(argv, 4096);
  values["ZSP_GRANT_ID"] = grant;
  values["ZSP_GRANT_EXPIRES"] = std::to_string(grant_expires);
  std::vector<std::string> env;
  for (const auto& [name, value] : values) env.push_back(name + "=" + value);
  return env;
}

}  // namespace zsp

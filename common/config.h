// The host configuration, /etc/zsp/zsp.conf, shared by pam_zsp and sudo_zsp.
// Its path can be changed only by a module or plugin argument, never by the
// environment, because both run inside setuid programs.
#ifndef ZSP_COMMON_CONFIG_H_
#define ZSP_COMMON_CONFIG_H_

#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/audit_spool.h"
#include "common/result.h"

namespace zsp {

inline constexpr char kDefaultConfigPath[] = "/etc/zsp/zsp.conf";
inline constexpr size_t kMaxBrokerUrls = 8;
inline constexpr char kDefaultDecisionCacheDir[] = "/run/zsp/decisions";
inline constexpr long kMaxDecisionCacheSec = 60;
inline constexpr char kDefaultAgentSocket[] = "/run/zsp/agent.sock";
// The largest zsp.conf that LoadHostConfig reads.
inline constexpr size_t kMaxConfigBytes = 64 * 1024;

// What pam_zsp and sudo_zsp do with the host agent (setting "agent").
enum class AgentMode {
  kRequired,  // work must be placed in its grant's cgroup, or it is denied
  kOptional,  // placement is tried; a failure is logged and work goes on
  kOff,       // no agent is asked
};

// The path by which pam_zsp and sudo_zsp send a decision request to the
// broker (setting "decision_relay").
enum class DecisionRelay {
  kAgent,   // through zsp-agent's kept-alive connection, direct on failure
  kDirect,  // over a new HTTPS connection from the module itself
};

// What zsp-agent does when it has had no verified broker feed page for
// feed_stale_after (setting "feed_stale_action").
enum class StaleAction {
  kEnd,   // ends the work of every live grant and places no new work
  kKeep,  // keeps live work and logs a warning
};

// The way zsp-agent kills the processes of a grant's cgroup (setting
// "kill_method").
enum class KillMethod {
  kAuto,        // cgroup.kill when the kernel has it, else kFreeze
  kCgroupKill,  // only cgroup.kill (Linux 5.14 and later)
  kFreeze,      // cgroup.freeze, SIGKILL to each process, thaw
};
inline constexpr char kDefaultSecurePath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct HostConfig {
  std::string path;                   // the file this came from
  std::string broker_url;             // first of broker_urls
  // Every broker_url setting in file order, each https://host[:port] with
  // no trailing slash. AskBroker tries them in order within timeout_ms.
  std::vector<std::string> broker_urls;
  std::string ca_file;                // CA that issued the broker's cert
  std::string client_cert;            // this host's mutual TLS certificate
  std::string client_key;             // its private key, root-only
  std::vector<std::string> decision_keys;  // pinned Ed25519 public keys
  std::string host;                   // this host's name; "" = gethostname
  long connect_timeout_ms = 2000;
  long timeout_ms = 5000;             // whole broker exchange
  long clock_skew_sec = 30;
  std::string secure_path = kDefaultSecurePath;
  std::string spool_dir = kDefaultSpoolDir;  // local audit spool
  // How long a signed allow may be reused without asking the broker
  // again, in seconds; 0 turns the cache off. A revocation takes effect on
  // this host within this bound. See common/decision_cache.h.
  long decision_cache_sec = 0;
  std::string decision_cache_dir = kDefaultDecisionCacheDir;
  long request_duration_sec = 3600;  // duration asked for from a terminal
  long request_wait_sec = 300;       // how long a terminal waits for approval
  // How long before a grant ends sudo_zsp prints a warning on the
  // terminal of a running command, in seconds. 0 turns the warning off.
  long expiry_warning_sec = 60;
  // Break-glass public keys (breakglass_key, repeatable); none disables
  // emergency tokens. See common/breakglass.h.
  std::vector<std::string> breakglass_keys;
  long breakglass_signatures = 2;    // distinct signatures a token needs
  long breakglass_max_lifetime_sec = 4 * 3600;  // maximum token window
  // Whether a token is also offered when the broker replies with a denial;
  // by default only an unreachable broker opens the emergency path.
  bool breakglass_with_broker = false;
  AgentMode agent = AgentMode::kRequired;
  std::string agent_socket = kDefaultAgentSocket;  // root-only unix socket
  // Without a decision_relay line: kAgent, unless agent is off, because a
  // host that runs no agent would only pay for a failed connect and log a
  // fallback on every decision.
  DecisionRelay decision_relay = DecisionRelay::kAgent;
  // Directory under the cgroup v2 mount that zsp-agent owns; each grant
  // gets a child directory there.
  std::string agent_cgroup = "zsp";
  long feed_stale_after_sec = 60;
  StaleAction feed_stale_action = StaleAction::kEnd;
  KillMethod kill_method = KillMethod::kAuto;
  bool debug = false;
};

// Arguments given to pam_zsp in pam.d or to sudo_zsp in sudo.conf.
struct ModuleOptions {
  std::string config_path = kDefaultConfigPath;  // conf=PATH
  bool debug = false;                            // debug
};

// Parses module or plugin arguments; an unknown or malformed argument is an
// error that names it, so a typo never silently changes behaviour.
Result<ModuleOptions> ParseModuleOptions(const std::vector<std::string>& args);

// Parses configuration text. `origin` names the file in error messages,
// which have the form "FILE:LINE: problem". Checks values, not files.
Result<HostConfig> ParseHostConfig(std::string_view text,
                                   const std::string& origin);

// Reads and parses the file at path. The file must be a regular file owned
// by root and not writable by group or others; otherwise anyone who can
// write it could point the host at their own broker.
Result<HostConfig> LoadHostConfig(const std::string& path);

// Returns why the host must not trust the file with status st, named what
// in the message: a user other than root owns it, or group or others can
// write it. Returns "" when neither is the case.
std::string RootOnlyProblem(const struct stat& st, const std::string& what);

}  // namespace zsp

#endif  // ZSP_COMMON_CONFIG_H_

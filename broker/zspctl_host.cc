#include "broker/zspctl_host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sudo_plugin.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "broker/zspctl_audit.h"
#include "common/agent_protocol.h"
#include "common/audit_spool.h"
#include "common/breakglass.h"
#include "common/config.h"
#include "common/decision.h"
#include "common/escape.h"
#include "common/handles.h"

namespace zsp::zspctl {

const char kHostHelp[] =
    "  host check [--conf FILE] [--plugin FILE]\n"
    "                         as root on a host: test the configuration, keys,\n"
    "                         client certificate, each broker, the journal,\n"
    "                         the audit spool and the sudo plugin, and print\n"
    "                         what to fix\n"
    "  host enable-sudo [--conf FILE] [--plugin FILE] [--sudo-conf FILE]\n"
    "                         run the check, then make sudo_zsp sudo's policy\n"
    "                         plugin in sudo.conf (default /etc/sudo.conf)\n"
    "  host disable-sudo [--sudo-conf FILE]\n"
    "                         undo enable-sudo\n"
    "                         (plugin FILE defaults to "
    "/usr/libexec/sudo/sudo_zsp.so)\n";

namespace {

constexpr char kDefaultPluginPath[] = "/usr/libexec/sudo/sudo_zsp.so";
constexpr char kDefaultSudoConf[] = "/etc/sudo.conf";
constexpr char kJournalSocket[] = "/run/systemd/journal/socket";
// Marks the lines that enable-sudo adds and the prefix of the lines it
// comments out, so that disable-sudo undoes exactly those.
constexpr char kAddedMarker[] =
    "# Added by zspctl host enable-sudo; zspctl host disable-sudo removes it.";
constexpr char kDisabledPrefix[] = "#zsp-disabled# ";
// The user name in the decision request of the check. No grant is expected,
// so a signed deny is the normal result.
constexpr char kCheckUser[] = "zsp-host-check";
// How long host check waits for the agent's status reply.
constexpr long kAgentStatusMs = 2000;

constexpr int kOk = 0;
constexpr int kFailed = 1;

struct CheckOptions {
  std::string config_path = kDefaultConfigPath;
  std::string plugin_path = kDefaultPluginPath;
  std::string sudo_conf = kDefaultSudoConf;
};

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// The words of a sudo.conf line, or none for a comment or blank line.
std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    if (words.empty() && word[0] == '#') break;
    words.push_back(word);
  }
  return words;
}

bool IsPolicyPluginLine(const std::string& line) {
  auto words = Words(line);
  return words.size() >= 3 && words[0] == "Plugin" &&
         words[1].size() > 7 &&
         words[1].compare(words[1].size() - 7, 7, "_policy") == 0;
}

bool IsZspPluginLine(const std::string& line) {
  auto words = Words(line);
  return words.size() >= 3 && words[0] == "Plugin" &&
         words[1] == "sudo_zsp_policy";
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// One line of the check's report.
class Report {
 public:
  void Ok(const std::string& what) { std::cout << "ok    " << what << "\n"; }
  void Fail(const std::string& what, const std::string& fix) {
    ++failures_;
    std::cout << "FAIL  " << what << "\n      fix: " << fix << "\n";
  }
  void Warn(const std::string& what, const std::string& fix) {
    std::cout << "warn  " << what << "\n      fix: " << fix << "\n";
  }
  int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

std::string Show(const std::string& text) { return EscapeForLog(text, 512); }

std::string LocalHostName() {
  char name[HOST_NAME_MAX + 1] = "";
  if (gethostname(name, sizeof name) != 0) return "";
  name[HOST_NAME_MAX] = '\0';
  return name;
}

std::string FormatTime(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), time) != 1) return "?";
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size > 0 ? static_cast<size_t>(size) : 0);
}

// True when st is a regular file that the modules reject for its owner
// or mode (RootOnlyProblem).
bool WritableBeyondRoot(const struct stat& st) {
  return S_ISREG(st.st_mode) && !RootOnlyProblem(st, "").empty();
}

// Returns the fix for a key file that fails to load: chown and chmod for
// the first of paths that WritableBeyondRoot matches, else fallback.
std::string KeyFileFix(const std::vector<std::string>& paths,
                       const std::string& fallback) {
  for (const auto& path : paths) {
    struct stat key_stat {};
    if (stat(path.c_str(), &key_stat) == 0 && WritableBeyondRoot(key_stat)) {
      return "chown root:root and chmod 0644 " + Show(path);
    }
  }
  return fallback;
}

// Loads the break-glass keys the way sudo and login do at an outage, so
// that a key file they would reject shows up before one.
void CheckBreakGlass(const HostConfig& config, Report* report) {
  if (config.breakglass_keys.empty()) return;
  auto policy = LoadBreakGlassPolicy(config);
  if (!policy.ok()) {
    report->Fail("break-glass keys: " + Show(policy.error()),
                 KeyFileFix(config.breakglass_keys,
                            "fix breakglass_key and breakglass_signatures; "
                            "see docs/break-glass.md"));
    return;
  }
  report->Ok("break-glass keys: " +
             std::to_string(config.breakglass_keys.size()) + " pinned");
}

void CheckClientCertificate(const HostConfig& config, Report* report) {
  std::string what = "client certificate " + Show(config.client_cert);
  FILE* cert_file = std::fopen(config.client_cert.c_str(), "r");
  if (cert_file == nullptr) {
    report->Fail(what + ": cannot open it",
                 "set client_cert to the host certificate that "
                 "zsp-broker host-cert issued");
    return;
  }
  X509* raw_cert = PEM_read_X509(cert_file, nullptr, nullptr, nullptr);
  std::fclose(cert_file);
  std::unique_ptr<X509, decltype(&X509_free)> cert(raw_cert, X509_free);
  if (!cert) {
    report->Fail(what + ": not a PEM certificate",
                 "copy the .pem file from the broker's hosts/ directory");
    return;
  }

  std::string until = FormatTime(X509_get0_notAfter(cert.get()));
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0) {
    report->Fail(what + ": not valid yet",
                 "check this host's clock (see timedatectl)");
    return;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    report->Fail(what + ": expired on " + until,
                 "issue a new one with zsp-broker host-cert DIR " +
                     Show(config.host.empty() ? LocalHostName()
                                              : config.host));
    return;
  }

  FILE* key_file = std::fopen(config.client_key.c_str(), "r");
  if (key_file == nullptr) {
    report->Fail("client key " + Show(config.client_key) +
                     ": cannot open it",
                 "run as root, and set client_key to the certificate's key");
    return;
  }
  struct stat key_stat {};
  if (fstat(fileno(key_file), &key_stat) == 0 &&
      (key_stat.st_uid != 0 || (key_stat.st_mode & 077) != 0)) {
    std::fclose(key_file);
    report->Fail("client key " + Show(config.client_key) +
                     ": must be owned by root and readable by no one else, "
                     "because it lets anyone act as this host",
                 "chown root:root and chmod 0600 it; if others could have "
                 "read it, revoke the certificate (zspctl host revoke "
                 "NAME) and enroll the host again");
    return;
  }
  EvpPkeyPtr key(PEM_read_PrivateKey(key_file, nullptr, nullptr, nullptr));
  std::fclose(key_file);
  if (!key || X509_check_private_key(cert.get(), key.get()) != 1) {
    report->Fail("client key " + Show(config.client_key) +
                     ": does not match the certificate",
                 "install the key issued with this certificate");
    return;
  }
  report->Ok(what + ": valid until " + until + ", matches its key");
}

void CheckBrokers(const HostConfig& config,
                  const std::vector<PinnedKey>& keys, Report* report) {
  DecisionQuery query;
  query.user = kCheckUser;
  query.host = config.host.empty() ? LocalHostName() : config.host;
  query.kind = "login";
  for (const auto& url : config.broker_urls) {
    HostConfig one = config;
    one.broker_url = url;
    one.broker_urls = {url};
    // Each URL is checked from this host itself, not through zsp-agent.
    one.decision_relay = DecisionRelay::kDirect;
    Decision decision = AskBroker(one, keys, query);
    std::string what = "broker " + Show(url);
    switch (decision.verdict) {
      case Verdict::kAllow:
      case Verdict::kDeny:
        report->Ok(what + ": signed answer verified with the pinned key");
        break;
      case Verdict::kUnavailable:
        if (decision.rejected) {
          report->Fail(what + ": " + Show(decision.detail),
                       "check host = in the configuration against the name "
                       "of this host's certificate, and that the broker "
                       "still has the host enrolled");
          break;
        }
        report->Fail(what + ": unreachable: " + Show(decision.detail),
                     "check broker_url, ca_file, the network path and that "
                     "zsp-broker is running");
        break;
      case Verdict::kInvalid:
        report->Fail(what + ": answer failed verification: " +
                         Show(decision.detail),
                     "pin the broker's decision.pub with decision_key and "
                     "check this host's clock and its host name (host =)");
        break;
      case Verdict::kError:
        report->Fail(what + ": " + Show(decision.detail),
                     "see the message above");
        break;
    }
  }
}

void CheckAgent(const HostConfig& config, const std::string& config_path,
                Report* report) {
  if (config.agent == AgentMode::kOff &&
      config.decision_relay != DecisionRelay::kAgent) {
    report->Ok("zsp-agent: not used (agent = off, decision_relay = direct)");
    return;
  }
  std::string what = "zsp-agent at " + Show(config.agent_socket);
  if (geteuid() != 0) {
    report->Warn(what + ": not checked, because only root may connect",
                 "run zspctl host check as root");
    return;
  }
  // The agent reads zsp.conf once, at start, and reports the SHA-256 of the
  // text it read.
  auto running = AskAgentConfigHash(config.agent_socket, kAgentStatusMs);
  if (!running.ok() && !IsAgentConnectError(running.error())) {
    report->Warn(what + ": no status: " + Show(running.error()),
                 "see the agent's log (journalctl -u zsp-agent); an agent "
                 "older than this zspctl gives no status, so restart it: "
                 "systemctl restart zsp-agent");
    return;
  }
  if (!running.ok()) {
    std::string fix = "start it: systemctl enable --now zsp-agent";
    if (config.agent == AgentMode::kRequired) {
      report->Fail(what + ": " + Show(running.error()),
                   fix + "; with agent = required, every sudo and login "
                         "under a grant is denied until it runs");
    } else {
      report->Warn(what + ": " + Show(running.error()),
                   fix + "; until then work is not placed under its grant "
                         "and decisions go directly to the broker");
    }
    return;
  }
  std::ifstream file(config_path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  if (running.value() != Sha256Hex(text.str())) {
    report->Fail(what + ": runs with other settings than " +
                     Show(config_path) + " holds now",
                 "restart it: systemctl restart zsp-agent (if the agent "
                 "reads another file, pass that one with --conf)");
    return;
  }
  report->Ok(what + ": running as root, with this configuration");
}

void CheckJournal(Report* report) {
  struct stat st {};
  if (stat(kJournalSocket, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    report->Fail(std::string("journal: ") + kJournalSocket + " is missing",
                 "start systemd-journald; without it every decision denies");
    return;
  }
  int rc = sd_journal_send("MESSAGE=zspctl host check: journal is writable",
                           "PRIORITY=6", "SYSLOG_IDENTIFIER=zspctl", nullptr);
  if (rc < 0) {
    report->Fail("journal: sd_journal_send failed",
                 "check systemd-journald (journalctl -u systemd-journald)");
    return;
  }
  report->Ok("journal: writable");
}

void CheckSpool(const HostConfig& config, Report* report) {
  std::string what = "audit spool " + Show(config.spool_dir);
  struct stat st {};
  if (lstat(config.spool_dir.c_str(), &st) != 0) {
    std::string parent = config.spool_dir.substr(
        0, config.spool_dir.find_last_of('/'));
    if (parent.empty()) parent = "/";
    if (access(parent.c_str(), W_OK) == 0) {
      report->Ok(what + ": created at the first decision");
    } else {
      report->Fail(what + ": missing, and its parent " + Show(parent) +
                       (access(parent.c_str(), F_OK) == 0
                            ? " is not writable"
                            : " is missing too"),
                   "create it: install -d -m 0700 " + Show(config.spool_dir));
    }
    return;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) != 0) {
    report->Fail(what + ": must be a directory owned by root, mode 0700",
                 "chown root:root and chmod 0700 it");
    return;
  }
  if (access(config.spool_dir.c_str(), W_OK) != 0) {
    report->Fail(what + ": not writable (read-only file system?)",
                 "make it writable; a spool that cannot be written denies "
                 "every decision");
    return;
  }
  report->Ok(what + ": writable");
}

void CheckPlugin(const std::string& path, Report* report) {
  std::string what = "sudo plugin " + Show(path);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    report->Fail(what + ": not found",
                 "install the sudo-zsp package or pass --plugin FILE");
    return;
  }
  if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
    report->Fail(what + ": must be owned by root and not writable by "
                        "group or others (sudo refuses to load it otherwise)",
                 "chown root and chmod 0644 it");
    return;
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    report->Fail(what + ": cannot be loaded: " + Show(error ? error : "?"),
                 "install the plugin's dependencies (ldd " + Show(path) + ")");
    return;
  }
  auto* plugin =
      static_cast<const policy_plugin*>(dlsym(handle, "sudo_zsp_policy"));
  bool valid = plugin != nullptr && plugin->type == SUDO_POLICY_PLUGIN &&
               SUDO_API_VERSION_GET_MAJOR(plugin->version) ==
                   SUDO_API_VERSION_MAJOR;
  dlclose(handle);
  if (!valid) {
    report->Fail(what + ": has no sudo_zsp_policy policy plugin of API " +
                     std::to_string(SUDO_API_VERSION_MAJOR),
                 "install a sudo_zsp.so built for this sudo");
    return;
  }
  report->Ok(what + ": loads, policy plugin API " +
             std::to_string(SUDO_API_VERSION_MAJOR));
}

// Runs every check and prints one line each; returns the failure count.
int RunChecks(const CheckOptions& options) {
  Report report;
  if (geteuid() != 0) {
    report.Fail("not running as root",
                "run zspctl host check as root, as sudo and sshd do");
  }
  auto config = LoadHostConfig(options.config_path);
  if (!config.ok()) {
    std::string fix = "fix that line; zsp.conf(5) describes every setting";
    struct stat config_stat {};
    if (lstat(options.config_path.c_str(), &config_stat) != 0) {
      fix = "write it; zsp.conf(5) describes every setting";
    } else if (WritableBeyondRoot(config_stat)) {
      fix = "chown root:root and chmod 0644 " + Show(options.config_path);
    }
    report.Fail("configuration: " + Show(config.error()), fix);
  } else {
    report.Ok("configuration " + Show(options.config_path));
    auto keys = LoadPinnedKeys(config.value());
    if (!keys.ok()) {
      report.Fail("decision keys: " + Show(keys.error()),
                  KeyFileFix(config.value().decision_keys,
                             "copy the broker's decision.pub and set "
                             "decision_key"));
    } else {
      report.Ok("decision keys: " + std::to_string(keys.value().size()) +
                " pinned");
      CheckClientCertificate(config.value(), &report);
      CheckBrokers(config.value(), keys.value(), &report);
    }
    CheckBreakGlass(config.value(), &report);
    CheckSpool(config.value(), &report);
    CheckAgent(config.value(), options.config_path, &report);
  }
  CheckJournal(&report);
  CheckPlugin(options.plugin_path, &report);
  return report.failures();
}

Result<std::string> ReadFile(const std::string& path, bool* exists) {
  std::ifstream in(path, std::ios::binary);
  *exists = static_cast<bool>(in);
  if (!in) {
    if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return {""};
    return Error{"cannot read " + path};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return {text.str()};
}

// Replaces path with text atomically (temporary file, fsync, rename),
// mode 0644 and owned by root as sudo requires.
Result<bool> WriteFileAtomically(const std::string& path,
                                 const std::string& text) {
  std::string temp = path + ".zsp-new";
  UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
                                     O_CLOEXEC,
                   0644));
  if (fd.get() < 0) return Error{"cannot create " + temp};
  if (fchmod(fd.get(), 0644) != 0 ||
      write(fd.get(), text.data(), text.size()) !=
          static_cast<ssize_t>(text.size()) ||
      fsync(fd.get()) != 0) {
    unlink(temp.c_str());
    return Error{"cannot write " + temp};
  }
  fd.Reset();
  if (rename(temp.c_str(), path.c_str()) != 0) {
    unlink(temp.c_str());
    return Error{"cannot replace " + path};
  }
  return {true};
}

CheckOptions ParseOptions(const std::vector<std::string>& args, size_t first,
                          bool allow_check_options) {
  CheckOptions options;
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string* field =
        arg == "--sudo-conf"                           ? &options.sudo_conf
        : allow_check_options && arg == "--conf"       ? &options.config_path
        : allow_check_options && arg == "--plugin"     ? &options.plugin_path
                                                       : nullptr;
    if (field == nullptr) throw UsageException("unknown option " + Show(arg));
    if (i + 1 >= args.size()) throw UsageException(arg + " needs a value");
    *field = args[++i];
  }
  return options;
}

int EnableSudo(const CheckOptions& options) {
  bool exists = false;
  auto text = ReadFile(options.sudo_conf, &exists);
  if (!text.ok()) {
    std::cerr << "zspctl: " << text.error() << "\n";
    return kFailed;
  }
  if (SudoZspEnabled(text.value())) {
    std::cout << Show(options.sudo_conf) << " already uses sudo_zsp\n";
    return kOk;
  }
  int failures = RunChecks(options);
  if (failures > 0) {
    std::cerr << "zspctl: " << failures
              << " check(s) failed; sudo.conf was not changed. Fix them and "
                 "run zspctl host enable-sudo again.\n";
    return kFailed;
  }
  auto written = WriteFileAtomically(
      options.sudo_conf,
      EnableSudoZsp(text.value(), options.plugin_path, options.config_path));
  if (!written.ok()) {
    std::cerr << "zspctl: " << written.error() << "\n";
    return kFailed;
  }
  std::cout << "sudo now asks the zsp broker: " << Show(options.sudo_conf)
            << " uses " << Show(options.plugin_path)
            << "; zspctl host disable-sudo undoes this\n";
  return kOk;
}

int DisableSudo(const CheckOptions& options) {
  bool exists = false;
  auto text = ReadFile(options.sudo_conf, &exists);
  if (!text.ok()) {
    std::cerr << "zspctl: " << text.error() << "\n";
    return kFailed;
  }
  std::string restored = DisableSudoZsp(text.value());
  if (restored == text.value()) {
    std::cout << Show(options.sudo_conf) << " has no zsp changes\n";
    return kOk;
  }
  if (restored.empty()) {
    // enable-sudo created the file, so removing it restores sudo's default.
    if (unlink(options.sudo_conf.c_str()) != 0) {
      std::cerr << "zspctl: cannot remove " << Show(options.sudo_conf) << "\n";
      return kFailed;
    }
  } else {
    auto written = WriteFileAtomically(options.sudo_conf, restored);
    if (!written.ok()) {
      std::cerr << "zspctl: " << written.error() << "\n";
      return kFailed;
    }
  }
  std::cout << "sudo uses its previous policy again (" << Show(options.sudo_conf)
            << ")\n";
  return kOk;
}

}  // namespace

bool SudoZspEnabled(std::string_view text) {
  for (const auto& line : SplitLines(text)) {
    if (IsZspPluginLine(line)) return true;
  }
  return false;
}

std::string EnableSudoZsp(std::string_view text, const std::string& plugin_path,
                          const std::string& config_path) {
  if (SudoZspEnabled(text)) return std::string(text);
  std::vector<std::string> lines = SplitLines(text);
  for (auto& line : lines) {
    // sudo loads only the first policy plugin line, so the old one goes.
    if (IsPolicyPluginLine(line)) line = kDisabledPrefix + line;
  }
  lines.push_back(kAddedMarker);
  lines.push_back("Plugin sudo_zsp_policy " + plugin_path +
                  " conf=" + config_path);
  return JoinLines(lines);
}

std::string DisableSudoZsp(std::string_view text) {
  std::vector<std::string> kept;
  std::vector<std::string> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line == kAddedMarker) {
      // The marker and the Plugin line after it.
      if (i + 1 < lines.size() && IsZspPluginLine(lines[i + 1])) ++i;
      continue;
    }
    if (line.rfind(kDisabledPrefix, 0) == 0) {
      kept.push_back(line.substr(sizeof kDisabledPrefix - 1));
      continue;
    }
    kept.push_back(line);
  }
  return JoinLines(kept);
}

int RunHost(const std::vector<std::string>& args) {
  if (args.empty()) {
    throw UsageException(
        "host needs enroll, check, enable-sudo or disable-sudo");
  }
  const std::string& command = args[0];
  if (command == "check") {
    int failures = RunChecks(ParseOptions(args, 1, true));
    if (failures > 0) {
      std::cout << failures << " check(s) failed\n";
      return kFailed;
    }
    std::cout << "all checks passed\n";
    return kOk;
  }
  if (command == "enable-sudo") return EnableSudo(ParseOptions(args, 1, true));
  if (command == "disable-sudo") {
    return DisableSudo(ParseOptions(args, 1, false));
  }
  throw UsageException("unknown host command " + Show(command));
}

}  // namespace zsp::zspctl

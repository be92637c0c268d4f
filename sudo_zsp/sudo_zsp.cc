// sudo_zsp.so: the sudo policy plugin ABI. Each callback is a noexcept shim
// around zsp::SudoPolicy; no exception or exit ever reaches sudo.
#include <signal.h>
#include <sudo_plugin.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "common/nonblocking_write.h"
#include "common/sudo_policy.h"

extern "C" {
// Defined at the end of this file; sudo fills in its event_alloc.
extern struct policy_plugin sudo_zsp_policy;
}

namespace {

// The release version, from VERSION in the Makefile.
constexpr char kVersion[] = ZSP_VERSION;

// An owned NULL-terminated char* array over a vector of strings, valid
// until the next decision or close: sudo reads command_info, argv and env
// after check_policy returns.
class CStringArray {
 public:
  void Assign(std::vector<std::string> strings) {
    strings_ = std::move(strings);
    pointers_.clear();
    for (auto& s : strings_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

// Set by InterruptHandler while the plugin waits for an approval.
volatile sig_atomic_t g_interrupted = 0;
// sudo's own SIGINT action, which InterruptHandler passes the signal on to.
struct sigaction g_sudo_sigint {};

// Passes a signal on to sudo's own action for it, when that is a handler.
void CallSudoHandler(const struct sigaction& action, int signo,
                     siginfo_t* info, void* context) {
  if ((action.sa_flags & SA_SIGINFO) != 0) {
    if (action.sa_sigaction != nullptr) action.sa_sigaction(signo, info, context);
  } else if (action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN) {
    action.sa_handler(signo);
  }
}

// Records a Ctrl-C, then lets sudo's handler record it as well. sudo only
// records SIGINT before exec, so without this a Ctrl-C that lands during a
// broker call (whose poll libcurl restarts) would go unnoticed.
void InterruptHandler(int signo, siginfo_t* info, void* context) {
  g_interrupted = 1;
  CallSudoHandler(g_sudo_sigint, signo, info, context);
}

// Set by ContinueHandler while the plugin waits for a broker.
volatile sig_atomic_t g_continued = 0;
// sudo's own SIGCONT action, which ContinueHandler passes the signal on to.
struct sigaction g_sudo_sigcont {};

// Records that the process was resumed after a stop, then lets sudo's
// handler see the signal too.
void ContinueHandler(int signo, siginfo_t* info, void* context) {
  g_continued = 1;
  CallSudoHandler(g_sudo_sigcont, signo, info, context);
}

// The user's terminal through sudo's conversation function. sudo catches
// SIGINT before exec and only records it, so a Ctrl-C shows up here as an
// interrupted wait, or, while waiting for an approval, through
// InterruptHandler.
class SudoTerminal : public zsp::UserTerminal {
 public:
  SudoTerminal(sudo_conv_t conversation, sudo_printf_t printf_fn)
      : conversation_(conversation), printf_fn_(printf_fn) {}

  void Show(const std::string& line) override {
    printf_fn_(SUDO_CONV_ERROR_MSG, "%s\n", line.c_str());
  }

  void Status(const std::string& text) override {
    // \r returns to the line start; ESC [ K clears what an older, longer
    // status left behind.
    printf_fn_(SUDO_CONV_ERROR_MSG, "\r%s\033[K", text.c_str());
  }

  std::optional<std::string> Ask(const std::string& prompt) override {
    return Converse(prompt, SUDO_CONV_PROMPT_ECHO_ON);
  }

  std::optional<std::string> AskHidden(const std::string& prompt) override {
    return Converse(prompt, SUDO_CONV_PROMPT_ECHO_OFF);
  }

  bool Wait(int milliseconds) override {
    if (g_interrupted) return false;
    timespec delay{milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    return nanosleep(&delay, nullptr) == 0 && !g_interrupted;
  }

  void BeginWaiting() override {
    g_interrupted = 0;
    struct sigaction current {};
    // A SIGINT that sudo's parent ignores stays ignored.
    if (sigaction(SIGINT, nullptr, &current) != 0 ||
        current.sa_handler == SIG_IGN) {
      return;
    }
    struct sigaction watch {};
    watch.sa_sigaction = InterruptHandler;
    watch.sa_mask = current.sa_mask;
    watch.sa_flags = SA_SIGINFO | (current.sa_flags & SA_RESTART);
    g_sudo_sigint = current;
    watching_ = sigaction(SIGINT, &watch, nullptr) == 0;
  }

  void EndWaiting() override {
    if (watching_) sigaction(SIGINT, &g_sudo_sigint, nullptr);
    watching_ = false;
  }

  void BeginStopWatch() override {
    g_continued = 0;
    struct sigaction current {};
    if (sigaction(SIGCONT, nullptr, &current) != 0) return;
    struct sigaction watch {};
    watch.sa_sigaction = ContinueHandler;
    watch.sa_mask = current.sa_mask;
    // SA_RESTART, so that libcurl's poll goes on after the signal.
    watch.sa_flags = SA_SIGINFO | SA_RESTART;
    g_sudo_sigcont = current;
    watching_stops_ = sigaction(SIGCONT, &watch, nullptr) == 0;
  }

  bool EndStopWatch() override {
    if (!watching_stops_) return false;
    sigaction(SIGCONT, &g_sudo_sigcont, nullptr);
    watching_stops_ = false;
    return g_continued != 0;
  }

 private:
  std::optional<std::string> Converse(const std::string& prompt, int type) {
    sudo_conv_message message{};
    message.msg_type = type;
    message.msg = prompt.c_str();
    sudo_conv_reply reply{};
    int rc = conversation_(1, &message, &reply, nullptr);
    if (rc != 0 || reply.reply == nullptr) return std::nullopt;
    std::string answer = reply.reply;
    explicit_bzero(reply.reply, answer.size());
    std::free(reply.reply);
    return answer;
  }

  sudo_conv_t conversation_;
  sudo_printf_t printf_fn_;
  bool watching_ = false;  // InterruptHandler is installed
  bool watching_stops_ = false;  // ContinueHandler is installed
};

struct PluginState {
  std::unique_ptr<zsp::SudoPolicy> policy;
  std::unique_ptr<SudoTerminal> terminal;
  sudo_printf_t printf_fn = nullptr;
  unsigned int api_version = 0;
  zsp::UniqueFd exec_fd;  // kept open until sudo has run the command
  CStringArray command_info;
  CStringArray argv;
  CStringArray env;
  // The expiry warning timer in sudo's event loop, and what it names.
  sudo_plugin_event* warning_event = nullptr;
  std::string warning_grant;
  int64_t warning_grant_expires = 0;
};

PluginState& State() {
  static PluginState state;
  return state;
}

// Writes lines to the user's terminal as errors, never to stdout, so that
// `sudo cmd | jq` stays clean.
void PrintLines(const std::vector<std::string>& lines) {
  if (State().printf_fn == nullptr) return;
  for (const auto& line : lines) {
    State().printf_fn(SUDO_CONV_ERROR_MSG, "%s\n", line.c_str());
  }
}

// Prints the expiry warning. It runs in sudo's event loop while the
// command runs, and it only formats and writes one line, to the standard
// error that sudo's printf would use. The write never blocks: a user who
// stops their terminal's output (Ctrl-S, or a terminal program that
// stops reading) would otherwise hold sudo's loop, so the line is dropped
// when the terminal does not take it at once.
void OnExpiryWarning(int /*fd*/, int /*what*/, void* /*closure*/) noexcept {
  try {
    PluginState& s = State();
    std::string text = zsp::ExpiryWarningText(
        s.warning_grant, s.warning_grant_expires,
        static_cast<int64_t>(std::time(nullptr)));
    // Under use_pty sudo puts the user's terminal in raw mode, where a
    // bare newline does not return the cursor to the line start.
    text += isatty(STDERR_FILENO) ? "\r\n" : "\n";
    zsp::WriteWithoutBlocking(STDERR_FILENO, text);
  } catch (...) {
    // Out of memory: the warning is a courtesy and is dropped.
  }
}

void FreeWarningEvent() {
  PluginState& s = State();
  if (s.warning_event == nullptr) return;
  s.warning_event->del(s.warning_event);
  s.warning_event->free(s.warning_event);
  s.warning_event = nullptr;
}

// Arms the expiry warning in sudo's event loop, which sudo runs in its
// front-end process while the command runs. sudo keeps that process for
// the command because command_info sets use_pty and timeout and this
// plugin has a close function. Returns false when the front end offers no
// events (plugin API before 1.15) or the timer cannot be set. The command
// then runs without a warning.
bool ArmExpiryWarning(const zsp::SudoOutcome& outcome) {
  PluginState& s = State();
  FreeWarningEvent();
  if (s.api_version < SUDO_API_MKVERSION(1, 15) ||
      sudo_zsp_policy.event_alloc == nullptr) {
    return false;
  }
  sudo_plugin_event* event = sudo_zsp_policy.event_alloc();
  if (event == nullptr) return false;
  timespec delay{static_cast<time_t>(outcome.warning_delay_sec), 0};
  if (event->set(event, -1, SUDO_PLUGIN_EV_TIMEOUT, OnExpiryWarning,
                 nullptr) != 1 ||
      event->add(event, &delay) != 1) {
    event->free(event);
    return false;
  }
  s.warning_event = event;
  s.warning_grant = outcome.grant;
  s.warning_grant_expires = outcome.grant_expires;
  return true;
}

void SetErrstr(const char** errstr, const char* text) {
  if (errstr != nullptr &&
      State().api_version >= SUDO_API_MKVERSION(1, 15)) {
    *errstr = text;
  }
}

int PolicyOpen(unsigned int version, sudo_conv_t conversation,
               sudo_printf_t plugin_printf, char* const settings[],
               char* const user_info[], char* const user_env[],
               char* const plugin_options[], const char** errstr) noexcept {
  try {
    State().printf_fn = plugin_printf;
    State().api_version = version;
    if (SUDO_API_VERSION_GET_MAJOR(version) != SUDO_API_VERSION_MAJOR) {
      PrintLines({"zsp: incompatible sudo plugin API major version " +
                  std::to_string(SUDO_API_VERSION_GET_MAJOR(version))});
      return -1;
    }
    // Plugin options arrived with API 1.2; earlier front ends have none.
    char* const* options =
        version >= SUDO_API_MKVERSION(1, 2) ? plugin_options : nullptr;
    auto parsed = zsp::ParseModuleOptions(zsp::CopyStrings(options));
    if (!parsed.ok()) {
      // A typo in sudo.conf must not silently change which file is read.
      PrintLines({"zsp: invalid plugin option in sudo.conf: " +
                  parsed.error()});
      SetErrstr(errstr, "zsp: invalid plugin option in sudo.conf");
      return -1;
    }
    State().policy = std::make_unique<zsp::SudoPolicy>(
        zsp::ParseKeyValues(settings), zsp::ParseKeyValues(user_info),
        zsp::CopyStrings(user_env), std::move(parsed).value());
    if (conversation != nullptr && plugin_printf != nullptr) {
      State().terminal =
          std::make_unique<SudoTerminal>(conversation, plugin_printf);
      State().policy->SetTerminal(State().terminal.get());
    }
    return 1;
  } catch (...) {
    SetErrstr(errstr, "zsp: out of memory");
    return -1;
  }
}

void PolicyClose(int /*exit_status*/, int /*error*/) noexcept {
  FreeWarningEvent();
  State().policy.reset();
  State().terminal.reset();
  State().exec_fd.Reset();
}

int PolicyShowVersion(int /*verbose*/) noexcept {
  if (State().printf_fn != nullptr) {
    State().printf_fn(SUDO_CONV_INFO_MSG, "zsp sudo policy plugin version %s\n",
                      kVersion);
  }
  return 1;
}

int PolicyCheck(int argc, char* const argv[], char* env_add[],
                char** command_info_out[], char** argv_out[],
                char** user_env_out[], const char** errstr) noexcept {
  try {
    PluginState& s = State();
    if (!s.policy) return -1;
    std::vector<std::string> args(argv, argv + (argc > 0 ? argc : 0));
    zsp::SudoOutcome outcome =
        s.policy->Check(args, zsp::CopyStrings(env_add));
    PrintLines(outcome.messages);
    if (outcome.result != zsp::SudoOutcome::kAllow) {
      SetErrstr(errstr, "zsp: access denied");
      return outcome.result == zsp::SudoOutcome::kDeny ? 0 : -1;
    }
    s.exec_fd = std::move(outcome.exec_fd);
    s.command_info.Assign(std::move(outcome.command_info));
    s.argv.Assign(std::move(outcome.argv));
    s.env.Assign(std::move(outcome.env));
    *command_info_out = s.command_info.get();
    *argv_out = s.argv.get();
    *user_env_out = s.env.get();
    if (outcome.warning_delay_sec > 0 && !ArmExpiryWarning(outcome)) {
      PrintLines({"zsp: warning: this sudo offers no timers to plugins, so "
                  "no notice is shown before the grant ends"});
    }
    return 1;
  } catch (...) {
    PrintLines({"zsp: access denied: internal error"});
    SetErrstr(errstr, "zsp: internal error");
    return -1;
  }
}

int PolicyList(int argc, char* const argv[], int verbose,
               const char* list_user, const char** errstr) noexcept {
  try {
    if (!State().policy) return -1;
    if (list_user != nullptr) {
      PrintLines({"zsp: listing another user's rights (-U) is not supported"});
      return 0;
    }
    std::vector<std::string> args(argv, argv + (argc > 0 ? argc : 0));
    zsp::SudoOutcome outcome = State().policy->List(args, verbose > 1);
    if (outcome.result == zsp::SudoOutcome::kAllow) {
      // Listings go to stdout, as sudoers prints them.
      for (const auto& line : outcome.messages) {
        State().printf_fn(SUDO_CONV_INFO_MSG, "%s\n", line.c_str());
      }
    } else {
      PrintLines(outcome.messages);
    }
    return outcome.result == zsp::SudoOutcome::kAllow ? 1 : 0;
  } catch (...) {
    SetErrstr(errstr, "zsp: internal error");
    return -1;
  }
}

// sudo -v checks that the user has an active grant here; it never
// prompts.
int PolicyValidate(const char** errstr) noexcept {
  try {
    if (!State().policy) return -1;
    zsp::SudoOutcome outcome = State().policy->Validate();
    PrintLines(outcome.messages);
    return outcome.result == zsp::SudoOutcome::kAllow ? 1 : 0;
  } catch (...) {
    SetErrstr(errstr, "zsp: internal error");
    return -1;
  }
}

// sudo -k and -K drop the user's cached decisions (decision_cache in
// zsp.conf), so that the next sudo sends a new request to the broker.
void PolicyInvalidate(int /*remove*/) noexcept {
  try {
    if (!State().policy) return;
    std::string failure = State().policy->Invalidate();
    if (!failure.empty()) {
      PrintLines({"zsp: cached decisions were not removed: " + failure});
    }
  } catch (...) {
    PrintLines({"zsp: cached decisions were not removed: internal error"});
  }
}

int PolicyInitSession(struct passwd* /*pwd*/, char** /*user_env_out*/[],
                      const char** /*errstr*/) noexcept {
  return 1;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) struct policy_plugin sudo_zsp_policy = {
    SUDO_POLICY_PLUGIN,
    SUDO_API_VERSION,
    PolicyOpen,
    PolicyClose,
    PolicyShowVersion,
    PolicyCheck,
    PolicyList,
    PolicyValidate,
    PolicyInvalidate,
    PolicyInitSession,
    nullptr,  // register_hooks
    nullptr,  // deregister_hooks
    nullptr,  // event_alloc
};

}  // extern "C"

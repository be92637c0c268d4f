// The sudo_zsp policy: decides one sudo invocation by asking the broker,
// and builds what sudo needs to run the command. The plugin entry file
// (sudo_zsp/sudo_zsp.cc) only converts between this and the C ABI.
#ifndef ZSP_COMMON_SUDO_POLICY_H_
#define ZSP_COMMON_SUDO_POLICY_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/breakglass_prompt.h"
#include "common/config.h"
#include "common/decision.h"
#include "common/handles.h"
#include "common/interactive_request.h"

namespace zsp {

using KeyValues = std::map<std::string, std::string>;

// Parses a NULL-terminated "key=value" array from sudo. Entries without '='
// are skipped; for a repeated key the first one wins.
KeyValues ParseKeyValues(const char* const* list);

// Copies a NULL-terminated string array.
std::vector<std::string> CopyStrings(const char* const* list);

struct SudoOutcome {
  enum Result { kAllow, kDeny, kError } result = kDeny;
  std::vector<std::string> command_info;  // allow only
  std::vector<std::string> argv;          // allow only
  std::vector<std::string> env;           // allow only
  std::vector<std::string> messages;      // lines for the user's terminal
  // allow only: the approved binary, opened before the decision was
  // recorded; sudo runs it with fexecve (command_info execfd), so a file
  // swapped in at the path afterwards is not what runs.
  UniqueFd exec_fd;
  // allow only: seconds from the decision until the expiry warning is due
  // (expiry_warning in zsp.conf), or -1 for no warning. A warning due at
  // once is already in messages.
  int64_t warning_delay_sec = -1;
  std::string grant;          // allow only: grant or break-glass token id
  int64_t grant_expires = 0;  // allow only: its end, Unix seconds
};

// Returns the seconds from now until the expiry warning for a command that
// sudo stops after timeout_sec, or 0 when it is due at once. Returns -1
// when warning_sec is 0 or the timeout stops the command first.
int64_t ExpiryWarningDelay(int64_t now, int64_t grant_expires,
                           int64_t timeout_sec, int64_t warning_sec);

// Formats the expiry warning line for grant (a grant or break-glass token
// id) that ends at grant_expires, as seen at now. The time is in UTC.
std::string ExpiryWarningText(const std::string& grant,
                              int64_t grant_expires, int64_t now);

// The resolved run-as group of sudo -g.
struct RunAsGroup {
  std::string name;
  gid_t gid = 0;
};

// Resolves a run-as group given as a name or as "#gid"; the gid must
// exist in the group database, as a name must.
Result<RunAsGroup> ResolveRunAsGroup(const std::string& spec);

// The resolved run-as user.
struct RunAsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home;
  std::string shell;
};

// A command as sudo will run it and as the broker must approve it.
struct SudoCommand {
  std::vector<std::string> exec_argv;   // what sudo runs; [0] may be "-bash"
  std::vector<std::string> match_argv;  // [0] absolute; shell -c unescaped
  bool login_shell = false;             // sudo -i
};

class SudoPolicy {
 public:
  SudoPolicy(KeyValues settings, KeyValues user_info,
             std::vector<std::string> user_env, ModuleOptions options);

  // Decides whether argv may run. env_add holds VAR=value words from the
  // command line. Writes one journal record for the decision.
  SudoOutcome Check(const std::vector<std::string>& argv,
                    const std::vector<std::string>& env_add);

  // Implements `sudo -l` (no argv: the user's active grants on this host;
  // verbose adds request and approver) and `sudo -l CMD` (argv given).
  SudoOutcome List(const std::vector<std::string>& argv, bool verbose);

  // Implements `sudo -v`: allowed when the user has an active sudo grant
  // on this host. Never prompts.
  SudoOutcome Validate();

  // sudo -k and -K: drops the invoking user's cached decisions
  // (decision_cache in zsp.conf). Returns "" or what failed.
  std::string Invalidate();

  // Lends the user's terminal for the request-and-wait flow; nullptr (the
  // default) means never prompt. Not owned.
  void SetTerminal(UserTerminal* terminal) { terminal_ = terminal; }

 private:
  SudoOutcome Decide(const std::vector<std::string>& argv,
                     const std::vector<std::string>& env_add, bool listing);
  Result<SudoCommand> BuildCommand(const std::vector<std::string>& argv_in,
                                   const RunAsUser& target,
                                   const std::string& secure_path) const;
  bool CanPrompt() const;
  EmergencyOutcome OfferBreakGlass(const HostConfig& config,
                                   const DecisionQuery& query,
                                   const Decision& decision);
  // Loads the configuration for -l and -v; on failure fills *out.
  std::optional<HostConfig> ConfigForListing(SudoOutcome* out) const;
  std::string UnsupportedMode() const;
  std::vector<std::string> BuildEnv(const RunAsUser& target,
                                    const std::vector<std::string>& argv,
                                    const std::vector<std::string>& env_add,
                                    const std::string& secure_path,
                                    const std::string& grant,
                                    int64_t grant_expires) const;

  KeyValues settings_;
  KeyValues user_info_;
  std::vector<std::string> user_env_;
  ModuleOptions options_;
  UserTerminal* terminal_ = nullptr;
};

// Reverses sudo's escaping of the `SHELL -c` string for -s and -i. sudo
// joins the words after -s or -i into one string, putting a backslash
// before every character that is not alphanumeric, '_', '-' or '$', so
// removing those backslashes gives the command line the user typed. The
// broker matches that line against the grant.
std::string UnescapeShellCommand(const std::string& escaped);

// Finds the command to run: argv0 with a '/' is taken relative to cwd,
// otherwise it is looked up in secure_path (never the user's PATH). The
// result is canonical (realpath) and names a regular, executable file.
Result<std::string> ResolveCommand(const std::string& argv0,
                                   const std::string& cwd,
                                   const std::string& secure_path);

}  // namespace zsp

#endif  // ZSP_COMMON_SUDO_POLICY_H_

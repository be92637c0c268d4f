// zspctl's host commands, run as root on a host: check (a self-test of the
// host configuration, keys, broker, journal, spool and sudo plugin), and
// enable-sudo and disable-sudo, which switch /etc/sudo.conf to sudo_zsp and
// back only after the self-test passes.
#ifndef ZSP_BROKER_ZSPCTL_HOST_H_
#define ZSP_BROKER_ZSPCTL_HOST_H_

#include <string>
#include <string_view>
#include <vector>

namespace zsp::zspctl {

// Runs "zspctl host ARGS" and returns the exit status.
int RunHost(const std::vector<std::string>& args);

// The help lines of the host commands.
extern const char kHostHelp[];

// The sudo.conf text with sudo_zsp enabled: each active policy plugin line
// is commented out with a marker, and a marked Plugin line for the plugin
// at plugin_path (with conf=config_path) is appended. Returns text
// unchanged when a sudo_zsp_policy line is active already.
std::string EnableSudoZsp(std::string_view text, const std::string& plugin_path,
                          const std::string& config_path);

// The sudo.conf text with every change EnableSudoZsp made undone.
std::string DisableSudoZsp(std::string_view text);

// Whether text has an active (not commented) sudo_zsp_policy line.
bool SudoZspEnabled(std::string_view text);

}  // namespace zsp::zspctl

#endif  // ZSP_BROKER_ZSPCTL_HOST_H_

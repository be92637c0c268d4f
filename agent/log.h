// zsp-agent's operator log on stderr, which systemd sends to the journal.
// Each line starts with a syslog priority prefix ("<4>") that journald
// reads as the priority, then an outcome word and key=value fields whose
// values are escaped and capped.
#ifndef ZSP_AGENT_LOG_H_
#define ZSP_AGENT_LOG_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zsp::agent {

using LogFields = std::vector<std::pair<std::string, std::string>>;

// Writes one line as one write, safe from several threads.
void Log(int priority, std::string_view outcome, const LogFields& fields);

}  // namespace zsp::agent

#endif  // ZSP_AGENT_LOG_H_

// zspctl's audit commands: flush (deliver this host's spool), verify (a
// spool file, or a host's chain in the store with its signed checkpoints),
// query and alerts.
#ifndef ZSP_BROKER_ZSPCTL_AUDIT_H_
#define ZSP_BROKER_ZSPCTL_AUDIT_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker/zspctl_words.h"

namespace zsp::zspctl {

// Sends an authenticated GET for path ("/v1/...") to the broker and
// returns the JSON object of a 2xx response. Throws on anything else.
using BrokerGet = std::function<nlohmann::json(const std::string& path)>;

// Runs "zspctl audit ARGS". connect resolves the broker settings and is
// called only by the subcommands that need the broker.
int RunAudit(const std::vector<std::string>& args, bool json_output,
             const std::function<BrokerGet()>& connect);

// The help lines of the audit commands.
extern const char kAuditHelp[];

}  // namespace zsp::zspctl

#endif  // ZSP_BROKER_ZSPCTL_AUDIT_H_

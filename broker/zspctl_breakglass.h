// zspctl's break-glass commands. keygen, issue, sign and show work offline
// on the machine that stores one break-glass key. review records at the
// broker that an approver checked an emergency access.
#ifndef ZSP_BROKER_ZSPCTL_BREAKGLASS_H_
#define ZSP_BROKER_ZSPCTL_BREAKGLASS_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace zsp::zspctl {

// Sends an authenticated request (method, path "/v1/...", JSON body) to
// the broker and returns the JSON object of a 2xx response. Throws on
// anything else.
using BrokerCall = std::function<nlohmann::json(
    const std::string& method, const std::string& path,
    const nlohmann::json& body)>;

// Runs "zspctl breakglass ARGS". connect resolves the broker settings and
// is called only by review.
int RunBreakGlass(const std::vector<std::string>& args, bool json_output,
                  const std::function<BrokerCall()>& connect);

// The help lines of the break-glass commands.
extern const char kBreakGlassHelp[];

}  // namespace zsp::zspctl

#endif  // ZSP_BROKER_ZSPCTL_BREAKGLASS_H_

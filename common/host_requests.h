// Host calls on behalf of the user in front of it: file a request, follow
// it until a person decides, cancel it, and list the user's grants on this
// host (the /v1/host/ endpoints of docs/broker-api.md). These answers are
// not signed and never allow anything: access still needs a signed
// decision from AskBroker.
#ifndef ZSP_COMMON_HOST_REQUESTS_H_
#define ZSP_COMMON_HOST_REQUESTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/https_client.h"
#include "common/result.h"

namespace zsp {

struct RequestStatus {
  std::string id;
  std::string state;  // pending, approved, denied or cancelled
  std::string decided_by;
  std::string comment;
};

struct GrantSummary {
  std::string id;
  std::string kind;
  std::vector<std::string> runas;
  std::vector<std::string> commands;
  std::vector<std::string> runas_groups;
  std::vector<std::string> env;
  std::string approved_by;
  int64_t expires_at = 0;
};

struct NewRequest {
  std::string user;
  std::string kind;  // "sudo" or "login"
  std::vector<std::string> runas;
  std::vector<std::string> commands;
  std::vector<std::string> runas_groups;  // sudo -g
  std::vector<std::string> env;           // VAR=value names, "*" for -E
  int64_t duration = 0;  // seconds
  std::string reason;
};

// The mutual TLS settings every host call uses.
HttpsOptions HostHttpsOptions(const HostConfig& config);

Result<RequestStatus> FileHostRequest(const HostConfig& config,
                                      const NewRequest& request);
Result<RequestStatus> GetHostRequest(const HostConfig& config,
                                     const std::string& id);
Result<RequestStatus> CancelHostRequest(const HostConfig& config,
                                        const std::string& id);
Result<std::vector<GrantSummary>> ListHostGrants(const HostConfig& config,
                                                 const std::string& user,
                                                 const std::string& kind);

// Parse the response (HTTP status and body) of the request endpoints and
// of the grant list. Any status outside 2xx, a body that is not a JSON
// object, or a missing id, state or grants list is an error.
Result<RequestStatus> ParseRequestStatus(long status, std::string_view body);
Result<std::vector<GrantSummary>> ParseGrantList(long status,
                                                 std::string_view body);

// A command entry that covers exactly this argv, in the broker's entry
// syntax: the path alone when there are no arguments, else the path and
// the arguments. Returns "" when an argument holds a space or is empty,
// which the entry syntax cannot express.
std::string CommandEntryFor(const std::vector<std::string>& argv);

}  // namespace zsp

#endif  // ZSP_COMMON_HOST_REQUESTS_H_

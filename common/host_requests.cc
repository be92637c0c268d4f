#include "common/host_requests.h"

#include <nlohmann/json.hpp>

namespace zsp {
namespace {

using nlohmann::json;

constexpr size_t kMaxAnswerBytes = 256 * 1024;

std::string StringField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// Returns the JSON object of a 2xx response, or the broker's error
// message.
Result<json> ParseAnswer(long status, std::string_view body) {
  json answer = json::parse(body, nullptr, false);
  if (!answer.is_object()) {
    return Error{"broker answered HTTP " + std::to_string(status) +
                 " without a JSON object"};
  }
  if (status < 200 || status > 299) {
    // A "message" of another type is ignored; json::value() would throw.
    std::string message = StringField(answer, "message");
    return Error{"broker answered HTTP " + std::to_string(status) +
                 (message.empty() ? "" : ": " + message)};
  }
  return answer;
}

// Sends one call and returns the parsed JSON object of a 2xx answer, or
// the broker's error message.
Result<json> Call(const HostConfig& config, const std::string& method,
                  const std::string& path, const json& body) {
  std::string text;
  if (method == "POST") {
    text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  auto response = HttpsRequest(HostHttpsOptions(config), method,
                               config.broker_url + path, text);
  if (!response.ok()) return Error{response.error()};
  return ParseAnswer(response.value().status, response.value().body);
}

std::vector<std::string> StringList(const json& object, const char* name) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& item : *it) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

Result<RequestStatus> ToStatus(Result<json> answer) {
  if (!answer.ok()) return Error{answer.error()};
  const json& r = answer.value();
  RequestStatus status;
  status.id = StringField(r, "id");
  status.state = StringField(r, "state");
  status.decided_by = StringField(r, "decided_by");
  status.comment = StringField(r, "decision_comment");
  if (status.id.empty() || status.state.empty()) {
    return Error{"broker answer has no request id or state"};
  }
  return status;
}

Result<std::vector<GrantSummary>> ToGrants(Result<json> answer) {
  if (!answer.ok()) return Error{answer.error()};
  auto list = answer.value().find("grants");
  if (list == answer.value().end() || !list->is_array()) {
    return Error{"broker answer has no grants list"};
  }
  std::vector<GrantSummary> grants;
  for (const auto& g : *list) {
    if (!g.is_object()) continue;
    GrantSummary summary;
    summary.id = StringField(g, "id");
    summary.kind = StringField(g, "kind");
    summary.runas = StringList(g, "runas");
    summary.commands = StringList(g, "commands");
    summary.runas_groups = StringList(g, "runas_groups");
    summary.env = StringList(g, "env");
    summary.approved_by = StringField(g, "approved_by");
    auto expires = g.find("expires_at");
    if (expires != g.end() && expires->is_number_integer()) {
      summary.expires_at = expires->get<int64_t>();
    }
    grants.push_back(std::move(summary));
  }
  return grants;
}

bool IsSafeId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

HttpsOptions HostHttpsOptions(const HostConfig& config) {
  HttpsOptions options;
  options.ca_file = config.ca_file;
  options.client_cert = config.client_cert;
  options.client_key = config.client_key;
  options.connect_timeout_ms = config.connect_timeout_ms;
  options.total_timeout_ms = config.timeout_ms;
  options.max_response_bytes = kMaxAnswerBytes;
  return options;
}

Result<RequestStatus> FileHostRequest(const HostConfig& config,
                                      const NewRequest& request) {
  json body = {{"user", request.user},
               {"kind", request.kind},
               {"duration", request.duration},
               {"reason", request.reason}};
  if (request.kind == "sudo") {
    body["runas"] = request.runas;
    body["commands"] = request.commands;
    if (!request.runas_groups.empty()) {
      body["runas_groups"] = request.runas_groups;
    }
    if (!request.env.empty()) body["env"] = request.env;
  }
  return ToStatus(Call(config, "POST", "/v1/host/requests", body));
}

Result<RequestStatus> GetHostRequest(const HostConfig& config,
                                     const std::string& id) {
  if (!IsSafeId(id)) return Error{"invalid request id"};
  return ToStatus(Call(config, "GET", "/v1/host/requests/" + id, {}));
}

Result<RequestStatus> CancelHostRequest(const HostConfig& config,
                                        const std::string& id) {
  if (!IsSafeId(id)) return Error{"invalid request id"};
  return ToStatus(Call(config, "POST", "/v1/host/requests/" + id + "/cancel",
                       json::object()));
}

Result<std::vector<GrantSummary>> ListHostGrants(const HostConfig& config,
                                                 const std::string& user,
                                                 const std::string& kind) {
  json body = {{"user", user}};
  if (!kind.empty()) body["kind"] = kind;
  return ToGrants(Call(config, "POST", "/v1/host/grants", body));
}

Result<RequestStatus> ParseRequestStatus(long status, std::string_view body) {
  return ToStatus(ParseAnswer(status, body));
}

Result<std::vector<GrantSummary>> ParseGrantList(long status,
                                                 std::string_view body) {
  return ToGrants(ParseAnswer(status, body));
}

std::string CommandEntryFor(const std::vector<std::string>& argv) {
  if (argv.empty()) return "";
  std::string entry = argv[0];
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i].empty() || argv[i].find_first_of(" \t\n") != std::string::npos) {
      return "";
    }
    entry += " " + argv[i];
  }
  return entry;
}

}  // namespace zsp

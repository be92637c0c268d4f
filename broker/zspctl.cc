// zspctl: the people's client of the zsp broker. Files, reads, approves,
// denies and cancels access requests, and lists and revokes grants, over
// HTTPS with a bearer token. The audit commands are in zspctl_audit.cc.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "broker/access_text.h"
#include "broker/zspctl_audit.h"
#include "broker/zspctl_breakglass.h"
#include "broker/zspctl_host.h"
#include "broker/zspctl_login.h"
#include "common/escape.h"
#include "common/https_client.h"
#include "common/text.h"

namespace zsp::zspctl {
namespace {

using nlohmann::json;
using zsp::broker::AccessText;

constexpr size_t kMaxShownBytes = 256;
constexpr long kConnectTimeoutMs = 5000;
constexpr long kTotalTimeoutMs = 15000;
constexpr size_t kMaxResponseBytes = 4 * 1024 * 1024;

constexpr char kUsage[] =
    "usage: zspctl [--broker URL] [--ca FILE] [--token-file FILE] [--json] "
    "COMMAND ...\n";

constexpr char kHelp[] =
    "commands:\n"
    "  request --host H (--login | --sudo [--runas U]... --command \"PATH "
    "[ARGS]\"...\n"
    "          [--runas-group G]... [--env NAME]...) --duration D "
    "--reason TEXT [--quiet]\n"
    "                         file a request; D is seconds or like 90s, 15m, "
    "2h30m;\n"
    "                         --runas defaults to root; --runas-group allows "
    "sudo -g G;\n"
    "                         --env allows NAME=value (--env '*' allows "
    "sudo -E);\n"
    "                         --quiet prints the id only\n"
    "  status ID              show a request (r-...) or a grant (g-...)\n"
    "  history REQUEST_ID     list every state change of a request and "
    "its grant,\n"
    "                         with how each voter signed in\n"
    "  list [--state S] [--mine]\n"
    "                         list requests; S is pending, approved, denied, "
    "expired\n"
    "                         or cancelled\n"
    "  approve ID [--comment TEXT]   approve someone else's request\n"
    "  deny ID [--comment TEXT]      deny someone else's request\n"
    "  cancel ID              cancel your own pending request\n"
    "  grants [--active] [--user U]  list grants\n"
    "  revoke GRANT_ID [--reason TEXT]  end a grant now\n"
    "  whoami                 show your user name and roles\n"
    "%LOGIN%"
    "  user add NAME [--role approver|admin|auditor]...\n"
    "                         add a person and print their token once "
    "(admin)\n"
    "  user token NAME        print a new token for NAME; the old one "
    "stops working (admin)\n"
    "  user revoke NAME       revoke NAME's token (admin)\n"
    "  user list              list people, roles and whether they have a "
    "token (admin)\n"
    "  host enroll NAME [--out DIR]\n"
    "                         issue a client certificate for host NAME and "
    "write\n"
    "                         DIR/NAME.key (mode 600), DIR/NAME.pem and "
    "DIR/ca.pem;\n"
    "                         DIR defaults to the current directory (admin)\n"
    "  host revoke NAME [--reason TEXT]\n"
    "                         revoke every certificate issued to host NAME "
    "so far;\n"
    "                         the broker rejects them at once (admin)\n"
    "%AUDIT%"
    "%BREAKGLASS%"
    "%HOST%"
    "  help                   show this text\n"
    "settings: flags, else ZSP_BROKER_URL, ZSP_CA_FILE, ZSP_TOKEN_FILE or "
    "ZSP_TOKEN,\n"
    "else broker_url, ca_file and token_file in ~/.config/zsp/zspctl.conf,\n"
    "else the token that zspctl login saved in ~/.config/zsp/oidc-token\n";

// Exit statuses: 1 for failures, 2 for usage errors.
constexpr int kFailed = 1;
constexpr int kUsageError = 2;

struct Options {
  std::string broker_url;
  std::string ca_file;
  std::string token_file;
  std::string token;
  bool json_output = false;
};

using Words = CommandWords;

std::string Show(const std::string& text) {
  return EscapeForLog(text, kMaxShownBytes);
}

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

// Splits args into positionals, value options and flags. Each option in
// value_options takes the next word; flags take none.
Words ParseWords(const std::vector<std::string>& args,
                 const std::vector<std::string>& value_options,
                 const std::vector<std::string>& flag_options) {
  WordRules rules;
  rules.value_options = value_options;
  rules.flag_options = flag_options;
  rules.repeatable = true;
  return ParseCommandWords(args, 0, rules);
}

// --- settings -------------------------------------------------------------

std::string EnvOrEmpty(const char* name) {
  const char* value = getenv(name);
  return value == nullptr ? "" : value;
}

// Reads ~/.config/zsp/zspctl.conf into empty fields of options. A missing
// file is fine; a malformed one is an error naming the line.
void ReadConfigFile(Options* options) {
  std::string home = EnvOrEmpty("HOME");
  if (home.empty()) return;
  std::string path = home + "/.config/zsp/zspctl.conf";
  std::ifstream file(path);
  if (!file) return;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    size_t equals = trimmed.find('=');
    std::string key = Trim(trimmed.substr(0, equals));
    std::string value =
        equals == std::string::npos ? "" : Trim(trimmed.substr(equals + 1));
    std::string* field = nullptr;
    if (key == "broker_url") field = &options->broker_url;
    if (key == "ca_file") field = &options->ca_file;
    if (key == "token_file") field = &options->token_file;
    if (field == nullptr || equals == std::string::npos) {
      throw std::runtime_error(path + ":" + std::to_string(number) + ": " +
                               Show(key) + ": unknown setting or no value");
    }
    if (field->empty()) *field = value;
  }
}

std::string ReadTokenFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    std::cerr << "zspctl: warning: " << path
              << " is readable by others; run chmod 600 " << path << "\n";
  }
  std::ifstream file(path);
  std::string line;
  if (!file || !std::getline(file, line)) {
    throw std::runtime_error("cannot read the token file " + path);
  }
  std::string token = Trim(line);
  if (token.empty()) throw std::runtime_error(path + " holds no token");
  return token;
}

// Fills what the flags left empty from the environment, then the config
// file, and loads the token unless require_token is false.
void ResolveSettings(Options* options, bool require_token = true) {
  if (options->broker_url.empty()) {
    options->broker_url = EnvOrEmpty("ZSP_BROKER_URL");
  }
  if (options->ca_file.empty()) options->ca_file = EnvOrEmpty("ZSP_CA_FILE");
  if (options->token_file.empty()) {
    options->token_file = EnvOrEmpty("ZSP_TOKEN_FILE");
    if (options->token_file.empty()) options->token = EnvOrEmpty("ZSP_TOKEN");
  }
  if (options->broker_url.empty() || options->ca_file.empty() ||
      (options->token_file.empty() && options->token.empty())) {
    ReadConfigFile(options);
  }
  if (options->broker_url.empty()) {
    throw std::runtime_error(
        "no broker URL: use --broker, ZSP_BROKER_URL or broker_url in "
        "~/.config/zsp/zspctl.conf");
  }
  if (options->ca_file.empty()) {
    throw std::runtime_error(
        "no CA file: use --ca, ZSP_CA_FILE or ca_file in "
        "~/.config/zsp/zspctl.conf (the broker's ca.pem)");
  }
  while (!options->broker_url.empty() && options->broker_url.back() == '/') {
    options->broker_url.pop_back();
  }
  if (!require_token) return;
  if (options->token.empty() && options->token_file.empty()) {
    std::string signed_in = DefaultLoginTokenFile();
    struct stat st {};
    if (!signed_in.empty() && lstat(signed_in.c_str(), &st) == 0) {
      options->token_file = signed_in;
    }
  }
  if (options->token.empty() && !options->token_file.empty()) {
    options->token = ReadTokenFile(options->token_file);
  }
  int64_t expiry = UnverifiedJwtExpiry(options->token);
  if (expiry > 0 && expiry <= static_cast<int64_t>(std::time(nullptr))) {
    throw std::runtime_error("your sign-in has expired; run zspctl login");
  }
  if (options->token.empty()) {
    throw std::runtime_error(
        "no token: use --token-file, ZSP_TOKEN_FILE, ZSP_TOKEN or token_file "
        "in ~/.config/zsp/zspctl.conf, or sign in with zspctl login");
  }
}

// --- HTTP -----------------------------------------------------------------

// Failure reported by the broker or the transport; the message is ready to
// print after "zspctl: ".
class CallFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

json Call(const Options& options, const std::string& method,
          const std::string& path, const json& body = json()) {
  HttpsOptions https;
  https.ca_file = options.ca_file;
  https.bearer_token = options.token;
  https.connect_timeout_ms = kConnectTimeoutMs;
  https.total_timeout_ms = kTotalTimeoutMs;
  https.max_response_bytes = kMaxResponseBytes;
  std::string url = options.broker_url + path;
  std::string payload = body.is_null() ? "" : body.dump();
  auto response = HttpsRequest(https, method, url, payload);
  if (!response.ok()) {
    throw CallFailed(Show(response.error()) + " (" + Show(url) + ")");
  }
  json answer = json::parse(response.value().body, nullptr, false);
  long status = response.value().status;
  if (status >= 200 && status < 300 && answer.is_object()) return answer;
  if (answer.is_object() && answer.value("error", json()).is_string()) {
    throw CallFailed(Show(answer.value("error", "")) + ": " +
                     Show(answer.value("message", "")));
  }
  throw CallFailed("broker answered HTTP " + std::to_string(status) +
                   " without a usable body (" + Show(url) + ")");
}

// --- output ---------------------------------------------------------------

std::string StringField(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return "";
  return Show(it->get<std::string>());
}

std::optional<int64_t> IntField(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

std::string JoinField(const json& object, const char* name) {
  std::string joined;
  auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return "";
  for (const auto& item : *it) {
    if (!item.is_string()) continue;
    if (!joined.empty()) joined += ", ";
    joined += Show(item.get<std::string>());
  }
  return joined;
}

// "1h30m", "59m", "45s", "2d3h".
std::string FormatSpan(int64_t seconds) {
  if (seconds < 60) return std::to_string(seconds) + "s";
  int64_t minutes = seconds / 60;
  int64_t hours = minutes / 60;
  int64_t days = hours / 24;
  if (days > 0) {
    return std::to_string(days) + "d" +
           (hours % 24 ? std::to_string(hours % 24) + "h" : "");
  }
  if (hours > 0) {
    return std::to_string(hours) + "h" +
           (minutes % 60 ? std::to_string(minutes % 60) + "m" : "");
  }
  return std::to_string(minutes) + "m";
}

// "2025-12-04 15:57 CET (in 59m)" in local time.
std::string FormatWhen(int64_t when) {
  time_t t = static_cast<time_t>(when);
  struct tm local {};
  char text[64] = "?";
  if (localtime_r(&t, &local) != nullptr) {
    strftime(text, sizeof text, "%Y-%m-%d %H:%M %Z", &local);
  }
  int64_t delta = when - static_cast<int64_t>(time(nullptr));
  std::string relative = delta > 0    ? "in " + FormatSpan(delta)
                         : delta == 0 ? "now"
                                      : FormatSpan(-delta) + " ago";
  return std::string(text) + " (" + relative + ")";
}

// "sudo as root: /usr/bin/id" or "login".
std::string DescribeAccess(const json& object) {
  AccessText access = zsp::broker::DescribeAccess(
      object, [](std::string_view text) { return Show(std::string(text)); });
  if (access.commands.empty()) return access.head;
  std::string commands;
  for (const auto& command : access.commands) {
    commands += (commands.empty() ? "" : ", ") + command;
  }
  return access.head + ": " + commands;
}

void PrintRequest(const json& r) {
  std::cout << "request   " << StringField(r, "id") << " ("
            << StringField(r, "state") << ")\n"
            << "requester " << StringField(r, "requester") << "\n"
            << "host      " << StringField(r, "host") << "\n"
            << "access    " << DescribeAccess(r) << "\n"
            << "duration  " << FormatSpan(IntField(r, "duration").value_or(0))
            << "\n"
            << "reason    " << StringField(r, "reason") << "\n";
  std::string entitlement = StringField(r, "entitlement");
  if (!entitlement.empty()) {
    size_t approved = r.contains("approvals") && r["approvals"].is_array()
                          ? r["approvals"].size()
                          : 0;
    std::string approvers = JoinField(r, "approvals");
    std::cout << "policy    entitlement " << entitlement << ", "
              << approved << " of "
              << IntField(r, "approvals_required").value_or(1)
              << " approvals"
              << (approved > 0 ? " (" + approvers + ")" : std::string())
              << "\n";
  }
  if (r.value("full_root", false)) {
    std::cout << "warning   " << zsp::broker::kFullRootWarning << "\n";
  }
  if (auto created = IntField(r, "created_at")) {
    std::cout << "filed     " << FormatWhen(*created) << "\n";
  }
  std::string decided_by = StringField(r, "decided_by");
  if (!decided_by.empty()) {
    std::cout << "decided   by " << decided_by;
    if (auto at = IntField(r, "decided_at"))
      std::cout << ", " << FormatWhen(*at);
    std::cout << "\n";
  }
  std::string comment = StringField(r, "decision_comment");
  if (!comment.empty()) std::cout << "comment   " << comment << "\n";
  std::string grant = StringField(r, "grant");
  if (!grant.empty()) std::cout << "grant     " << grant << "\n";
}

void PrintGrant(const json& g) {
  std::cout << "grant     " << StringField(g, "id") << " ("
            << StringField(g, "state") << ")\n"
            << "user      " << StringField(g, "user") << "\n"
            << "host      " << StringField(g, "host") << "\n"
            << "access    " << DescribeAccess(g) << "\n"
            << "approved  by " << StringField(g, "approved_by")
            << " for request " << StringField(g, "request") << "\n";
  if (auto ends = IntField(g, "expires_at")) {
    std::cout << "ends      " << FormatWhen(*ends) << "\n";
  }
  std::string revoked_by = StringField(g, "revoked_by");
  if (!revoked_by.empty()) {
    std::cout << "revoked   by " << revoked_by;
    if (auto at = IntField(g, "revoked_at"))
      std::cout << ", " << FormatWhen(*at);
    std::string reason = StringField(g, "revoke_reason");
    if (!reason.empty()) std::cout << ": " << reason;
    std::cout << "\n";
  }
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

void PrintRequestTable(const json& list) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATE", "USER", "HOST", "DURATION", "ACCESS"}};
  for (const auto& r : list) {
    rows.push_back({StringField(r, "id"), StringField(r, "state"),
                    StringField(r, "requester"), StringField(r, "host"),
                    FormatSpan(IntField(r, "duration").value_or(0)),
                    DescribeAccess(r)});
  }
  if (list.empty()) {
    std::cout << "no requests\n";
    return;
  }
  PrintTable(rows);
}

void PrintGrantTable(const json& list) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATE", "USER", "HOST", "ENDS", "ACCESS"}};
  for (const auto& g : list) {
    rows.push_back({StringField(g, "id"), StringField(g, "state"),
                    StringField(g, "user"), StringField(g, "host"),
                    FormatWhen(IntField(g, "expires_at").value_or(0)),
                    DescribeAccess(g)});
  }
  if (list.empty()) {
    std::cout << "no grants\n";
    return;
  }
  PrintTable(rows);
}

// --- commands -------------------------------------------------------------

// Object ids are "r-" or "g-" with hex digits; checking them keeps the URL
// path intact.
std::string CheckId(const Words& words, const char* command) {
  if (words.positional.size() != 1) {
    throw UsageException(std::string(command) + " needs exactly one ID");
  }
  const std::string& id = words.positional[0];
  bool valid = id.size() > 2 && (id[0] == 'r' || id[0] == 'g') && id[1] == '-';
  for (size_t i = 2; valid && i < id.size(); ++i) {
    valid = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
  }
  if (!valid) throw UsageException("invalid ID " + Show(id));
  return id;
}

json BuildRequestBody(const Words& words) {
  bool login = words.Flag("--login");
  bool sudo = words.Flag("--sudo");
  if (!words.positional.empty()) {
    throw UsageException("unexpected argument " + Show(words.positional[0]));
  }
  if (login == sudo)
    throw UsageException("give exactly one of --login, --sudo");
  auto host = words.One("--host");
  auto duration_text = words.One("--duration");
  auto reason = words.One("--reason");
  if (!host || !duration_text || !reason) {
    throw UsageException("request needs --host, --duration and --reason");
  }
  int64_t duration = 0;
  if (!ParseDurationSeconds(*duration_text, &duration) || duration <= 0) {
    throw UsageException("invalid duration " + Show(*duration_text) +
                         ": use seconds or a form like 90s, 15m, 2h30m");
  }
  json body = {{"host", *host},
               {"kind", login ? "login" : "sudo"},
               {"duration", duration},
               {"reason", *reason}};
  auto runas = words.All("--runas");
  auto commands = words.All("--command");
  auto groups = words.All("--runas-group");
  auto env = words.All("--env");
  if (login && (!runas.empty() || !commands.empty() || !groups.empty() ||
                !env.empty())) {
    throw UsageException(
        "--runas, --command, --runas-group and --env are only for --sudo");
  }
  if (sudo) {
    if (commands.empty()) throw UsageException("--sudo needs --command");
    if (!runas.empty()) body["runas"] = runas;
    body["commands"] = commands;
    if (!groups.empty()) body["runas_groups"] = groups;
    if (!env.empty()) body["env"] = env;
  }
  return body;
}

int RunRequest(const Options& options, const std::vector<std::string>& args) {
  Words words = ParseWords(
      args,
      {"--host", "--runas", "--command", "--runas-group", "--env",
       "--duration", "--reason"},
      {"--login", "--sudo", "--quiet"});
  json request = Call(options, "POST", "/v1/requests", BuildRequestBody(words));
  std::string id = StringField(request, "id");
  if (words.Flag("--quiet")) {
    std::cout << id << "\n";
  } else if (options.json_output) {
    std::cout << EscapeJsonForTerminal(request.dump(2)) << "\n";
  } else {
    std::cout << "request " << id << " filed (" << StringField(request, "state")
              << ")\n"
              << "an approver can approve it with: zspctl approve " << id
              << "\n";
  }
  return 0;
}

int RunStatus(const Options& options, const std::vector<std::string>& args) {
  std::string id = CheckId(ParseWords(args, {}, {}), "status");
  bool grant = id[0] == 'g';
  json object =
      Call(options, "GET", (grant ? "/v1/grants/" : "/v1/requests/") + id);
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(object.dump(2)) << "\n";
  } else if (grant) {
    PrintGrant(object);
  } else {
    PrintRequest(object);
  }
  return 0;
}

int RunList(const Options& options, const std::vector<std::string>& args) {
  Words words = ParseWords(args, {"--state"}, {"--mine"});
  if (!words.positional.empty()) throw UsageException("list takes no ID");
  std::string query;
  if (auto state = words.One("--state")) query += "&state=" + PercentEncode(*state);
  if (words.Flag("--mine")) query += "&mine=1";
  if (!query.empty()) query[0] = '?';
  json answer = Call(options, "GET", "/v1/requests" + query);
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(answer.dump(2)) << "\n";
  } else {
    PrintRequestTable(answer.value("requests", json::array()));
  }
  return 0;
}

int RunDecide(const Options& options, const std::vector<std::string>& args,
              const std::string& verb) {
  Words words = ParseWords(args, {"--comment"}, {});
  std::string id = CheckId(words, verb.c_str());
  json body = json::object();
  if (auto comment = words.One("--comment")) body["comment"] = *comment;
  json request = Call(options, "POST", "/v1/requests/" + id + "/" + verb, body);
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(request.dump(2)) << "\n";
    return 0;
  }
  std::cout << "request " << id << " " << StringField(request, "state");
  if (verb == "approve" && StringField(request, "state") == "pending") {
    std::cout << " (" << request["approvals"].size() << " of "
              << IntField(request, "approvals_required").value_or(1)
              << " approvals)";
  }
  std::string grant = StringField(request, "grant");
  if (!grant.empty()) std::cout << "; grant " << grant;
  std::cout << "\n";
  return 0;
}

int RunGrants(const Options& options, const std::vector<std::string>& args) {
  Words words = ParseWords(args, {"--user"}, {"--active"});
  if (!words.positional.empty()) throw UsageException("grants takes no ID");
  std::string query;
  if (words.Flag("--active")) query += "&active=1";
  if (auto user = words.One("--user")) query += "&user=" + PercentEncode(*user);
  if (!query.empty()) query[0] = '?';
  json answer = Call(options, "GET", "/v1/grants" + query);
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(answer.dump(2)) << "\n";
  } else {
    PrintGrantTable(answer.value("grants", json::array()));
  }
  return 0;
}

int RunRevoke(const Options& options, const std::vector<std::string>& args) {
  Words words = ParseWords(args, {"--reason"}, {});
  std::string id = CheckId(words, "revoke");
  if (id[0] != 'g') throw UsageException("revoke needs a grant ID (g-...)");
  json body = json::object();
  if (auto reason = words.One("--reason")) body["reason"] = *reason;
  json grant = Call(options, "POST", "/v1/grants/" + id + "/revoke", body);
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(grant.dump(2)) << "\n";
  } else {
    std::cout << "grant " << id << " " << StringField(grant, "state") << "\n";
  }
  return 0;
}

// A vote's sign-in for the history table, such as "web_session acr=...
// amr=pwd, otp at TIME", or "-" for events without one.
std::string DescribeSignIn(const json& event) {
  auto it = event.find("sign_in");
  if (it == event.end() || !it->is_object()) return "-";
  std::string text = StringField(*it, "method");
  std::string acr = StringField(*it, "acr");
  std::string amr = JoinField(*it, "amr");
  int64_t auth_time = IntField(*it, "auth_time").value_or(0);
  if (!acr.empty()) text += " acr=" + acr;
  if (!amr.empty()) text += " amr=" + amr;
  if (auth_time > 0) text += " at " + FormatWhen(auth_time);
  std::string remote = StringField(*it, "remote");
  if (!remote.empty()) text += " from " + remote;
  return text;
}

int RunHistory(const Options& options, const std::vector<std::string>& args) {
  std::string id = CheckId(ParseWords(args, {}, {}), "history");
  if (id[0] != 'r') throw UsageException("history needs a request id (r-...)");
  json answer = Call(options, "GET", "/v1/requests/" + id + "/events");
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(answer.dump(2)) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"WHEN", "EVENT", "BY", "SIGN-IN", "DETAIL"}};
  if (answer.contains("events") && answer["events"].is_array()) {
    for (const auto& e : answer["events"]) {
      rows.push_back({FormatWhen(IntField(e, "at").value_or(0)),
                      StringField(e, "event"), StringField(e, "actor"),
                      DescribeSignIn(e), StringField(e, "detail")});
    }
  }
  PrintTable(rows);
  return 0;
}

int RunUser(const Options& options, const std::vector<std::string>& args) {
  Words words = ParseWords(args, {"--role"}, {});
  const auto& words_list = words.positional;
  std::string action = words_list.empty() ? "" : words_list[0];
  if (action == "list" && words_list.size() == 1) {
    json answer = Call(options, "GET", "/v1/users");
    if (options.json_output) {
      std::cout << EscapeJsonForTerminal(answer.dump(2)) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"USER", "ROLES", "TOKEN"}};
    for (const auto& u : answer.value("users", json::array())) {
      rows.push_back({StringField(u, "user"), JoinField(u, "roles"),
                      u.value("has_token", false) ? "yes" : "revoked"});
    }
    PrintTable(rows);
    return 0;
  }
  if (words_list.size() != 2 ||
      (action != "add" && action != "token" && action != "revoke")) {
    throw UsageException("user needs add NAME, token NAME, revoke NAME or list");
  }
  if (action != "add" && !words.All("--role").empty()) {
    throw UsageException("--role is only for user add");
  }
  const std::string& name = words_list[1];
  json answer;
  if (action == "add") {
    answer = Call(options, "POST", "/v1/users",
                  {{"user", name}, {"roles", words.All("--role")}});
  } else {
    answer = Call(options, "POST", "/v1/users/" + name + "/" + action,
                  json::object());
  }
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(answer.dump(2)) << "\n";
  } else if (action == "revoke") {
    std::cout << "revoked the token of " << name << "\n";
  } else {
    std::cout << StringField(answer, "token") << "\n";
  }
  return 0;
}

// Writes data to a file that must not exist yet, with mode.
void WriteNewPrivateFile(const std::string& path, const std::string& data,
                         mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + path + ": " +
                             strerror(errno) + "; remove it or use --out");
  }
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      throw std::runtime_error("writing " + path + " failed: " +
                               strerror(errno));
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    throw std::runtime_error("writing " + path + " failed: " +
                             strerror(errno));
  }
}

int RunHostEnroll(const Options& options,
                  const std::vector<std::string>& args) {
  Words words = ParseWords(args, {"--out"}, {});
  if (words.positional.size() != 2 || words.positional[0] != "enroll") {
    throw UsageException("host needs enroll NAME");
  }
  const std::string& name = words.positional[1];
  std::string dir = words.One("--out").value_or(".");
  json answer = Call(options, "POST", "/v1/hosts", {{"host", name}});
  // PEM text goes to files as it is, so it is checked, not escaped.
  auto pem = [&answer](const char* field) {
    auto it = answer.find(field);
    std::string text = it != answer.end() && it->is_string()
                           ? it->get<std::string>()
                           : std::string();
    if (text.rfind("-----BEGIN ", 0) != 0) {
      throw std::runtime_error(std::string("the broker returned no PEM ") +
                               field);
    }
    return text;
  };
  std::string key = pem("key");
  std::string cert = pem("certificate");
  std::string ca = pem("ca");
  WriteNewPrivateFile(dir + "/" + name + ".key", key, 0600);
  std::fill(key.begin(), key.end(), '\0');
  WriteNewPrivateFile(dir + "/" + name + ".pem", cert, 0644);
  std::string ca_path = dir + "/ca.pem";
  struct stat st {};
  if (stat(ca_path.c_str(), &st) != 0) WriteNewPrivateFile(ca_path, ca, 0644);
  std::cout << "wrote " << dir << "/" << name << ".key, " << name
            << ".pem and ca.pem; install them on " << name
            << " as /etc/zsp/host.key, host.pem and ca.pem\n";
  return 0;
}

int RunHostRevoke(const Options& options,
                  const std::vector<std::string>& args) {
  Words words = ParseWords(args, {"--reason"}, {});
  if (words.positional.size() != 2 || words.positional[0] != "revoke") {
    throw UsageException("host needs revoke NAME");
  }
  const std::string& name = words.positional[1];
  json body = json::object();
  if (auto reason = words.One("--reason")) body["reason"] = *reason;
  json answer = Call(options, "POST", "/v1/hosts/" + name + "/revoke", body);
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(answer.dump(2)) << "\n";
  } else {
    std::cout << "revoked every certificate of host " << name
              << " issued so far; enroll it again to give it a new one\n";
  }
  return 0;
}

int RunWhoami(const Options& options, const std::vector<std::string>& args) {
  if (!args.empty()) throw UsageException("whoami takes no arguments");
  json answer = Call(options, "GET", "/v1/whoami");
  if (options.json_output) {
    std::cout << EscapeJsonForTerminal(answer.dump(2)) << "\n";
  } else {
    std::cout << StringField(answer, "user") << " ("
              << JoinField(answer, "roles") << ")\n";
  }
  return 0;
}

int RunCommand(Options options, const std::string& command,
               const std::vector<std::string>& args) {
  using Runner = int (*)(const Options&, const std::vector<std::string>&);
  static const std::map<std::string, Runner> kRunners = {
      {"request", RunRequest}, {"status", RunStatus}, {"list", RunList},
      {"grants", RunGrants},   {"revoke", RunRevoke}, {"whoami", RunWhoami},
      {"history", RunHistory}, {"user", RunUser},
  };
  if (command == "audit") {
    // flush and verify --spool work without broker settings.
    return RunAudit(args, options.json_output, [&options]() -> BrokerGet {
      ResolveSettings(&options);
      return [&options](const std::string& path) {
        return Call(options, "GET", path);
      };
    });
  }
  if (command == "breakglass") {
    // Only review needs the broker; the rest runs offline.
    return RunBreakGlass(args, options.json_output, [&options]() -> BrokerCall {
      ResolveSettings(&options);
      return [&options](const std::string& method, const std::string& path,
                        const json& body) {
        return Call(options, method, path, body);
      };
    });
  }
  // enroll and revoke send a request to the broker. check, enable-sudo and
  // disable-sudo run on this host only (zspctl_host.cc).
  if (command == "host" && !args.empty() && args[0] == "enroll") {
    ResolveSettings(&options);
    return RunHostEnroll(options, args);
  }
  if (command == "host" && !args.empty() && args[0] == "revoke") {
    ResolveSettings(&options);
    return RunHostRevoke(options, args);
  }
  if (command == "host") return RunHost(args);
  if (command == "login") {
    ResolveSettings(&options, false);
    LoginSettings login{options.broker_url, options.ca_file,
                        options.token_file};
    if (login.token_file.empty()) login.token_file = DefaultLoginTokenFile();
    return RunLogin(login, args);
  }
  auto runner = kRunners.find(command);
  bool decide =
      command == "approve" || command == "deny" || command == "cancel";
  if (runner == kRunners.end() && !decide) {
    throw UsageException("unknown command " + Show(command));
  }
  ResolveSettings(&options);
  if (decide) return RunDecide(options, args, command);
  return runner->second(options, args);
}

// Reads the global options, which come before the command.
int Main(int argc, char** argv) {
  Options options;
  std::vector<std::string> words(argv + 1, argv + argc);
  size_t i = 0;
  for (; i < words.size() && words[i].rfind("--", 0) == 0; ++i) {
    const std::string& word = words[i];
    if (word == "--json") {
      options.json_output = true;
      continue;
    }
    if (word == "--help") break;
    std::string* field = word == "--broker"       ? &options.broker_url
                         : word == "--ca"         ? &options.ca_file
                         : word == "--token-file" ? &options.token_file
                                                  : nullptr;
    if (field == nullptr) throw UsageException("unknown option " + Show(word));
    if (i + 1 >= words.size()) throw UsageException(word + " needs a value");
    *field = words[++i];
  }
  if (i >= words.size()) throw UsageException("missing command");
  std::string command = words[i];
  if (command == "help" || command == "--help" || command == "-h") {
    std::string help = kHelp;
    help.replace(help.find("%AUDIT%"), 7, kAuditHelp);
    help.replace(help.find("%BREAKGLASS%"), 12, kBreakGlassHelp);
    help.replace(help.find("%HOST%"), 6, kHostHelp);
    help.replace(help.find("%LOGIN%"), 7, kLoginHelp);
    std::cout << kUsage << help;
    return 0;
  }
  std::vector<std::string> args(words.begin() + i + 1, words.end());
  return RunCommand(options, command, args);
}

}  // namespace
}  // namespace zsp::zspctl

int main(int argc, char** argv) {
  try {
    return zsp::zspctl::Main(argc, argv);
  } catch (const zsp::zspctl::UsageException& e) {
    std::cerr << "zspctl: " << e.what() << "\n"
              << zsp::zspctl::kUsage << "run zspctl help for the commands\n";
    return zsp::zspctl::kUsageError;
  } catch (const std::exception& e) {
    std::cerr << "zspctl: " << e.what() << "\n";
    return zsp::zspctl::kFailed;
  }
}

#include "common/agent_protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/handles.h"
#include "common/strict_json.h"

namespace zsp {
namespace {

using nlohmann::json;

// How ConnectToAgent's error for a failed connect() begins.
constexpr char kAgentConnectError[] = "cannot connect to the zsp agent at ";

std::string StringMember(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool IntMember(const json& object, const char* name, int64_t* out) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) return false;
  *out = it->get<int64_t>();
  return true;
}

}  // namespace

long MillisecondsLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<long>(left.count()) : 0;
}

// Waits for fd to become ready for events until deadline; false on
// timeout or error, with errno set (ETIMEDOUT on timeout).
bool WaitFor(int fd, short events,
             std::chrono::steady_clock::time_point deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, static_cast<int>(MillisecondsLeft(deadline)));
    if (rc > 0) return true;
    if (rc == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

bool IsAgentConnectError(std::string_view error) {
  return error.substr(0, std::strlen(kAgentConnectError)) ==
         kAgentConnectError;
}

Result<UniqueFd> ConnectToAgent(const std::string& socket_path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return Error{"agent_socket path " + socket_path + " is too long"};
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Error{std::string("socket: ") + strerror(errno)};
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
              sizeof address) != 0) {
    return Error{std::string(kAgentConnectError) + socket_path + ": " +
                 strerror(errno)};
  }
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    return Error{std::string("SO_PEERCRED: ") + strerror(errno)};
  }
  if (peer.uid != 0) {
    return Error{"the process at " + socket_path + " runs as uid " +
                 std::to_string(peer.uid) + ", not as root"};
  }
  return fd;
}

Result<UniqueFd> SendToAgent(const std::string& socket_path,
                             std::string_view request_line,
                             std::chrono::steady_clock::time_point deadline) {
  auto connected = ConnectToAgent(socket_path);
  if (!connected.ok()) return Error{connected.error()};
  auto sent = SendAll(connected.value().get(), request_line, deadline);
  if (!sent.ok()) return Error{sent.error()};
  return std::move(connected).value();
}

Result<bool> SendAll(int fd, std::string_view data,
                     std::chrono::steady_clock::time_point deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    if (!WaitFor(fd, POLLOUT, deadline)) {
      return Error{std::string("sending to the zsp agent: ") +
                   strerror(errno)};
    }
    // MSG_NOSIGNAL: an agent that closes early must not kill sudo or sshd
    // with SIGPIPE.
    ssize_t n = send(fd, data.data() + sent, data.size() - sent,
                     MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      return Error{std::string("sending to the zsp agent: ") +
                   strerror(errno)};
    }
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string EncodePlaceRequest(const std::string& token) {
  json request = {{"op", "place"}, {"decision", token}};
  return request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string EncodeBreakGlassPlaceRequest(const std::string& text) {
  json request = {{"op", "place"}, {"breakglass", text}};
  return request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<json> ParseAgentRequestLine(
    std::string_view line, size_t max_bytes,
    std::initializer_list<std::string_view> members) {
  if (line.size() >= max_bytes) {
    return Error{"request is longer than " + std::to_string(max_bytes) +
                 " bytes"};
  }
  json request = ParseStrictJson(line);
  if (!request.is_object()) {
    return Error{"request is not a JSON object with unique keys"};
  }
  for (const auto& [key, value] : request.items()) {
    bool known = false;
    for (std::string_view member : members) known = known || key == member;
    if (!known) {
      return Error{"request has unknown member \"" + EscapeForLog(key, 64) +
                   "\""};
    }
  }
  return request;
}

Result<PlaceRequest> ParsePlaceRequest(std::string_view line) {
  auto parsed = ParseAgentRequestLine(line, kMaxAgentRequestBytes,
                                      {"op", "decision", "breakglass"});
  if (!parsed.ok()) return Error{parsed.error()};
  const json& request = parsed.value();
  std::string op = StringMember(request, "op");
  if (op != "place") {
    return Error{"op: must be \"place\", not \"" + EscapeForLog(op, 64) +
                 "\""};
  }
  PlaceRequest out;
  out.break_glass = request.contains("breakglass");
  if (out.break_glass && request.contains("decision")) {
    return Error{"request has both decision and breakglass"};
  }
  const char* member = out.break_glass ? "breakglass" : "decision";
  out.token = StringMember(request, member);
  if (out.token.empty()) {
    return Error{std::string(member) + ": missing or not a string"};
  }
  return out;
}

std::string EncodeAgentReply(const AgentReply& reply) {
  json out = {{"ok", reply.ok}};
  if (reply.ok) {
    out["grant"] = reply.grant;
    out["cgroup"] = reply.cgroup;
  } else {
    out["error"] = reply.error;
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<AgentReply> ParseAgentReply(std::string_view line) {
  json parsed = ParseStrictJson(line);
  if (!parsed.is_object()) return Error{"agent reply is not a JSON object"};
  auto ok = parsed.find("ok");
  if (ok == parsed.end() || !ok->is_boolean()) {
    return Error{"agent reply has no boolean \"ok\""};
  }
  AgentReply reply;
  reply.ok = ok->get<bool>();
  reply.grant = StringMember(parsed, "grant");
  reply.cgroup = StringMember(parsed, "cgroup");
  reply.error = StringMember(parsed, "error");
  if (reply.ok && reply.grant.empty()) {
    return Error{"agent reply has ok but no grant"};
  }
  if (!reply.ok && reply.error.empty()) reply.error = "no reason given";
  return reply;
}

Result<AgentReply> AskAgentToPlace(const std::string& socket_path,
                                   const std::string& token,
                                   long timeout_ms) {
  return SendPlaceRequest(socket_path, EncodePlaceRequest(token), timeout_ms);
}

namespace {

// Reads the agent's one-line reply from fd before deadline, without its
// newline.
Result<std::string> ReadAgentReplyLine(
    int fd, std::chrono::steady_clock::time_point deadline) {
  std::string reply;
  char buffer[512];
  while (reply.find('\n') == std::string::npos) {
    if (!WaitFor(fd, POLLIN, deadline)) {
      return Error{std::string("waiting for the zsp agent: ") +
                   strerror(errno)};
    }
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      return Error{std::string("reading from the zsp agent: ") +
                   strerror(errno)};
    }
    if (n == 0) return Error{"the zsp agent closed the connection"};
    reply.append(buffer, static_cast<size_t>(n));
    if (reply.size() > kMaxAgentReplyBytes) {
      return Error{"the zsp agent's reply is longer than " +
                   std::to_string(kMaxAgentReplyBytes) + " bytes"};
    }
  }
  reply.resize(reply.find('\n'));
  return reply;
}

// Sends request_line to the agent and returns its reply line, all within
// timeout_ms.
Result<std::string> ExchangeWithAgent(const std::string& socket_path,
                                      std::string_view request_line,
                                      long timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(timeout_ms);
  auto connected = SendToAgent(socket_path, request_line, deadline);
  if (!connected.ok()) return Error{connected.error()};
  return ReadAgentReplyLine(connected.value().get(), deadline);
}

}  // namespace

Result<AgentReply> SendPlaceRequest(const std::string& socket_path,
                                    const std::string& request,
                                    long timeout_ms) {
  auto reply = ExchangeWithAgent(socket_path, request, timeout_ms);
  if (!reply.ok()) return Error{reply.error()};
  return ParseAgentReply(reply.value());
}

Result<std::string> AskAgentConfigHash(const std::string& socket_path,
                                       long timeout_ms) {
  auto reply = ExchangeWithAgent(socket_path, kAgentStatusRequest, timeout_ms);
  if (!reply.ok()) return Error{reply.error()};
  json status = ParseStrictJson(reply.value());
  std::string hash = status.is_object()
                         ? StringMember(status, kAgentConfigHashMember)
                         : "";
  std::string rejected =
      status.is_object() ? StringMember(status, "error") : "";
  if (hash.empty() && !rejected.empty()) {
    return Error{"the zsp agent rejected the status request: " +
                 EscapeForLog(rejected, 256)};
  }
  if (hash.size() != 64 ||
      hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Error{"the zsp agent's status reply has no configuration hash "
                 "(an agent older than this zspctl?)"};
  }
  return hash;
}

namespace {

Placement Place(const HostConfig& config, const std::string& request,
                long wait_ms) {
  Placement out;
  if (config.agent == AgentMode::kOff) {
    out.allowed = true;
    return out;
  }
  auto reply = SendPlaceRequest(config.agent_socket, request, wait_ms);
  if (!reply.ok()) {
    out.problem = reply.error();
  } else if (!reply.value().ok) {
    out.problem = "zsp-agent rejected the request: " + reply.value().error;
  } else {
    out.cgroup = reply.value().cgroup;
  }
  out.allowed = out.problem.empty() || config.agent == AgentMode::kOptional;
  return out;
}

}  // namespace

long PlacementWaitMs(long timeout_ms,
                     std::chrono::steady_clock::time_point requested_at,
                     std::chrono::steady_clock::time_point now) {
  long floor_ms = std::min(timeout_ms, kMinPlacementWaitMs);
  // A decision that never set requested_at, and a clock that reads before
  // it,
  // give the whole timeout.
  if (requested_at == std::chrono::steady_clock::time_point{} ||
      now < requested_at) {
    return timeout_ms;
  }
  auto used = std::chrono::duration_cast<std::chrono::milliseconds>(
                  now - requested_at).count();
  if (used >= timeout_ms) return floor_ms;
  return std::max(timeout_ms - static_cast<long>(used), floor_ms);
}

Placement PlaceUnderGrant(const HostConfig& config, const std::string& token,
                          std::chrono::steady_clock::time_point requested_at) {
  return Place(config, EncodePlaceRequest(token),
               PlacementWaitMs(config.timeout_ms, requested_at,
                               std::chrono::steady_clock::now()));
}

Placement PlaceUnderBreakGlass(const HostConfig& config,
                               const std::string& text) {
  std::string request = EncodeBreakGlassPlaceRequest(text);
  Placement out = Place(config, request, config.timeout_ms);
  explicit_bzero(request.data(), request.size());
  return out;
}

bool IsWorkId(std::string_view id) {
  return IsGrantId(id) || IsBreakGlassId(id);
}

bool IsGrantId(std::string_view id) {
  if (id.size() != 14 || id.substr(0, 2) != "g-") return false;
  for (char c : id.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<GrantClaims> CheckPlacementToken(std::string_view token,
                                        const std::vector<PinnedKey>& keys,
                                        const std::string& host, int64_t now,
                                        int64_t clock_skew) {
  VerifiedJws verified = VerifyJws(token, keys, kDecisionJwsType);
  if (verified.status != JwsStatus::kValid) {
    return Error{"decision rejected: " + verified.detail};
  }
  json claims = ParseStrictJson(verified.payload);
  if (!claims.is_object()) return Error{"signed payload is not an object"};
  auto ver = claims.find("ver");
  if (StringMember(claims, "iss") != "zsp-broker" || ver == claims.end() ||
      *ver != 1) {
    return Error{"decision rejected: wrong issuer or version"};
  }
  if (StringMember(claims, "decision") != "allow") {
    return Error{"decision rejected: not an allow"};
  }
  if (StringMember(claims, "host") != host) {
    return Error{"decision rejected: issued for host \"" +
                 EscapeForLog(StringMember(claims, "host"), 64) +
                 "\", not " + host};
  }
  int64_t iat = 0;
  int64_t exp = 0;
  GrantClaims out;
  if (!IntMember(claims, "iat", &iat) || !IntMember(claims, "exp", &exp) ||
      !IntMember(claims, "grant_exp", &out.grant_expires)) {
    return Error{"decision rejected: missing iat, exp or grant_exp"};
  }
  if (iat > now + clock_skew) return Error{"decision issued in the future"};
  if (exp < now - clock_skew) return Error{"decision expired"};
  if (out.grant_expires <= now) return Error{"the grant has ended"};
  out.grant = StringMember(claims, "grant");
  if (!IsGrantId(out.grant)) {
    return Error{"decision rejected: grant id is not g- and 12 hex digits"};
  }
  out.request = StringMember(claims, "request");
  out.user = StringMember(claims, "sub");
  out.kind = StringMember(claims, "kind");
  return out;
}

Result<GrantClaims> CheckBreakGlassPlacement(std::string_view text,
                                             const BreakGlassPolicy& policy,
                                             const std::string& host,
                                             int64_t now) {
  auto decoded = DecodeBreakGlassToken(text);
  if (!decoded.ok()) {
    return Error{"break-glass token rejected: " + decoded.error()};
  }
  const BreakGlassToken& fields = decoded.value();
  BreakGlassUse use;
  use.user = fields.user;
  use.host = host;
  use.kind = fields.scope == "sudo" ? "sudo" : "login";
  use.runas = fields.runas;
  use.now = now;
  BreakGlassCheck check = VerifyBreakGlassToken(text, policy, use);
  if (check.status != BreakGlassStatus::kValid) {
    return Error{"break-glass token rejected: " + check.detail};
  }
  if (!IsBreakGlassId(check.token.id)) {
    return Error{"break-glass token rejected: id is not bg- and 16 hex "
                 "digits"};
  }
  GrantClaims out;
  out.grant = check.token.id;
  out.user = check.token.user;
  out.kind = kBreakGlassKind;
  out.grant_expires = check.token.expires;
  return out;
}

}  // namespace zsp

#include "common/decision_relay.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/agent_protocol.h"
#include "common/escape.h"
#include "common/strict_json.h"

namespace zsp {
namespace {

using nlohmann::json;

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Reads the reply until the header line and the body it announces have
// arrived, the agent closes the connection, or deadline passes.
Result<std::string> ReadReply(int fd,
                              std::chrono::steady_clock::time_point deadline) {
  std::string reply;
  char buffer[8192];
  size_t expected = 0;  // header and body bytes, once the header is known
  while (expected == 0 || reply.size() < expected) {
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
    if (n == 0) break;
    reply.append(buffer, static_cast<size_t>(n));
    size_t newline = reply.find('\n');
    if (newline == std::string::npos) {
      if (reply.size() >= kMaxRelayHeaderBytes) {
        return Error{"the zsp agent's reply header is longer than " +
                     std::to_string(kMaxRelayHeaderBytes) + " bytes"};
      }
      continue;
    }
    if (expected == 0) {
      auto header = ParseRelayReplyHeader(
          std::string_view(reply).substr(0, newline));
      if (!header.ok()) return Error{header.error()};
      expected = newline + 1 + header.value().length;
    }
    if (reply.size() > expected) {
      return Error{"the zsp agent sent more bytes than its header announced"};
    }
  }
  return reply;
}

}  // namespace

std::string AgentRequestOp(std::string_view line) {
  json request = ParseStrictJson(line);
  if (!request.is_object()) return "";
  auto op = request.find("op");
  if (op == request.end() || !op->is_string()) return "";
  return op->get<std::string>();
}

std::string EncodeRelayRequest(const RelayRequest& request) {
  json line = {{"op", "decide"},
               {"timeout_ms", request.timeout_ms},
               {"body", request.body}};
  return Dump(line) + "\n";
}

Result<RelayRequest> ParseRelayRequest(std::string_view line) {
  auto request_line = ParseAgentRequestLine(line, kMaxRelayRequestBytes,
                                            {"op", "timeout_ms", "body"});
  if (!request_line.ok()) return Error{request_line.error()};
  const json& parsed = request_line.value();
  auto op = parsed.find("op");
  if (op == parsed.end() || *op != "decide") {
    return Error{"op: must be \"decide\""};
  }

  auto timeout = parsed.find("timeout_ms");
  if (timeout == parsed.end() || !timeout->is_number_integer() ||
      timeout->get<int64_t>() < kMinRelayTimeoutMs ||
      timeout->get<int64_t>() > kMaxRelayTimeoutMs) {
    return Error{"timeout_ms: must be a whole number from " +
                 std::to_string(kMinRelayTimeoutMs) + " to " +
                 std::to_string(kMaxRelayTimeoutMs)};
  }

  auto body = parsed.find("body");
  if (body == parsed.end() || !body->is_string() ||
      body->get_ref<const std::string&>().empty()) {
    return Error{"body: missing, empty or not a string"};
  }
  if (body->get_ref<const std::string&>().size() > kMaxRelayBodyBytes) {
    return Error{"body: longer than " + std::to_string(kMaxRelayBodyBytes) +
                 " bytes"};
  }
  RelayRequest request;
  request.timeout_ms = static_cast<long>(timeout->get<int64_t>());
  request.body = body->get<std::string>();
  return request;
}

std::string EncodeRelayReply(const RelayReply& reply) {
  if (!reply.ok) {
    json header = {{"ok", false}, {"error", reply.error}};
    if (!reply.failed_urls.empty()) header["failed_urls"] = reply.failed_urls;
    return Dump(header) + "\n";
  }
  json header = {{"ok", true},
                 {"status", reply.status},
                 {"length", reply.body.size()}};
  return Dump(header) + "\n" + reply.body;
}

Result<RelayReplyHeader> ParseRelayReplyHeader(std::string_view line) {
  json parsed = ParseStrictJson(line);
  if (!parsed.is_object()) {
    return Error{"the zsp agent's reply header is not a JSON object"};
  }
  auto ok = parsed.find("ok");
  if (ok == parsed.end() || !ok->is_boolean()) {
    return Error{"the zsp agent's reply header has no boolean \"ok\""};
  }
  RelayReplyHeader header;
  header.ok = ok->get<bool>();
  if (!header.ok) {
    auto error = parsed.find("error");
    header.error = error != parsed.end() && error->is_string()
                       ? error->get<std::string>()
                       : "no reason given";
    auto failed = parsed.find("failed_urls");
    if (failed == parsed.end()) return header;
    if (!failed->is_array() || failed->size() > kMaxRelayFailedUrls) {
      return Error{"the zsp agent's failed_urls is not a list of at most " +
                   std::to_string(kMaxRelayFailedUrls) + " entries"};
    }
    for (const auto& url : *failed) {
      if (!url.is_string() ||
          url.get_ref<const std::string&>().size() > kMaxRelayFailedUrlBytes) {
        return Error{"the zsp agent's failed_urls has an entry that is not "
                     "a string of at most " +
                     std::to_string(kMaxRelayFailedUrlBytes) + " bytes"};
      }
      header.failed_urls.push_back(url.get<std::string>());
    }
    return header;
  }

  auto status = parsed.find("status");
  if (status == parsed.end() || !status->is_number_integer() ||
      status->get<int64_t>() < 100 || status->get<int64_t>() > 599) {
    return Error{"the zsp agent's reply header has no HTTP status from 100 "
                 "to 599"};
  }
  auto length = parsed.find("length");
  if (length == parsed.end() || !length->is_number_unsigned() ||
      length->get<uint64_t>() > kMaxRelayResponseBytes) {
    return Error{"the zsp agent's reply header has no length from 0 to " +
                 std::to_string(kMaxRelayResponseBytes)};
  }
  header.status = static_cast<long>(status->get<int64_t>());
  header.length = static_cast<size_t>(length->get<uint64_t>());
  return header;
}

Result<RelayReply> ParseRelayReply(std::string_view reply) {
  size_t newline = reply.find('\n');
  if (newline == std::string_view::npos) {
    return Error{"the zsp agent's reply has no header line"};
  }
  auto header = ParseRelayReplyHeader(reply.substr(0, newline));
  if (!header.ok()) return Error{header.error()};
  std::string_view body = reply.substr(newline + 1);
  RelayReply out;
  out.ok = header.value().ok;
  if (!out.ok) {
    out.error = header.value().error;
    out.failed_urls = header.value().failed_urls;
    if (!body.empty()) {
      return Error{"the zsp agent sent bytes after a refusal"};
    }
    return out;
  }
  if (body.size() != header.value().length) {
    return Error{"the zsp agent's reply has " + std::to_string(body.size()) +
                 " body bytes, not the " +
                 std::to_string(header.value().length) + " it announced"};
  }
  out.status = header.value().status;
  out.body = std::string(body);
  return out;
}

Result<RelayReply> RelayThroughAgent(const std::string& socket_path,
                                     const RelayRequest& request) {
  return RelayThroughAgent(socket_path, request, request.timeout_ms, nullptr);
}

Result<RelayReply> RelayThroughAgent(const std::string& socket_path,
                                     const RelayRequest& request,
                                     long wait_ms,
                                     std::vector<std::string>* failed_urls) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(wait_ms);
  auto connected =
      SendToAgent(socket_path, EncodeRelayRequest(request), deadline);
  if (!connected.ok()) return Error{connected.error()};
  int fd = connected.value().get();

  auto reply = ReadReply(fd, deadline);
  if (!reply.ok()) return Error{reply.error()};
  auto parsed = ParseRelayReply(reply.value());
  if (!parsed.ok()) return Error{parsed.error()};
  if (!parsed.value().ok) {
    if (failed_urls != nullptr) *failed_urls = parsed.value().failed_urls;
    return Error{"zsp-agent rejected the request: " +
                 EscapeForLog(parsed.value().error, 256)};
  }
  return parsed;
}

}  // namespace zsp

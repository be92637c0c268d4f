// A small HTTPS client on libcurl, safe to run inside setuid hosts (sudo,
// su) and sshd: it reads no environment variable, uses no proxy, follows no
// redirect, bounds every phase in time and caps the response size.
#ifndef ZSP_COMMON_HTTPS_CLIENT_H_
#define ZSP_COMMON_HTTPS_CLIENT_H_

#include <string>

#include "common/result.h"

namespace zsp {

struct HttpsOptions {
  std::string ca_file;      // PEM bundle that must have issued the server
  std::string client_cert;  // PEM client certificate for mutual TLS, or ""
  std::string client_key;   // PEM key of client_cert, or ""
  std::string bearer_token;  // sent as "Authorization: Bearer", or ""
  // Content-Type of a POST body; OAuth token endpoints take
  // "application/x-www-form-urlencoded".
  std::string content_type = "application/json";
  long connect_timeout_ms = 2000;  // TCP and TLS handshake
  long total_timeout_ms = 5000;    // whole transfer, name lookup included
  size_t max_response_bytes = 256 * 1024;
  // When not null, set to true for a failure that this process's lack of
  // file descriptors or memory caused, which its user can bring about.
  // Such a failure is no sign that the server is down.
  bool* failed_here = nullptr;
};

struct HttpsResponse {
  long status = 0;
  std::string body;
};

// Sends one request. method is "GET" or "POST"; body is sent only for POST,
// as options.content_type. Fails on any transport or TLS error, a timeout, or a
// body over max_response_bytes; an HTTP error status is not a failure.
Result<HttpsResponse> HttpsRequest(const HttpsOptions& options,
                                   const std::string& method,
                                   const std::string& url,
                                   const std::string& body);

// Requests that reuse one connection (HTTP keep-alive) while the server
// keeps it open, for a long-running client such as zsp-agent. Not safe
// for use from several threads at once.
class HttpsSession {
 public:
  HttpsSession() = default;
  HttpsSession(const HttpsSession&) = delete;
  HttpsSession& operator=(const HttpsSession&) = delete;
  ~HttpsSession();

  // Sends one request as HttpsRequest does. After a failure the
  // connection is dropped and the next request opens a new one.
  Result<HttpsResponse> Request(const HttpsOptions& options,
                                const std::string& method,
                                const std::string& url,
                                const std::string& body);

 private:
  void Close();

  void* handle_ = nullptr;  // CURL*, from the libcurl opened at first use
};

}  // namespace zsp

#endif  // ZSP_COMMON_HTTPS_CLIENT_H_

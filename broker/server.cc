// cpp-httplib 0.11.4 as packaged by Debian is a compiled library whose
// Request has an `ssl` member only with OpenSSL support, so the macro must
// be defined before the header, exactly as the library was built.
#define CPPHTTPLIB_OPENSSL_SUPPORT
#include "broker/server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <ctime>
#include <iostream>
#include <thread>

#include "broker/api.h"
#include "broker/audit_store.h"
#include "broker/ids.h"
#include "broker/log.h"
#include "broker/notify.h"
#include "broker/oidc.h"
#include "broker/pki.h"
#include "broker/policy_file.h"
#include "broker/store.h"
#include "broker/validate.h"
#include "broker/web.h"
#include "common/jws.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

constexpr time_t kReadTimeoutSeconds = 10;
constexpr time_t kWriteTimeoutSeconds = 10;
constexpr time_t kKeepAliveSeconds = 5;
// Threads that serve calls. Long polls hold one each: up to 4 request
// waits (api_policy.cc) and 16 host feeds (api_feed.cc).
constexpr size_t kServerThreads = 32;
constexpr size_t kKeepAliveMaxRequests = 100;
constexpr char kSessionIdContext[] = "zsp-broker";
constexpr char kRequestIdHeader[] = "X-Request-Id";
constexpr size_t kMaxRequestIdBytes = 64;
constexpr char kIdempotencyKeyHeader[] = "Idempotency-Key";

bool SetupTls(SSL_CTX& ctx, const std::string& dir) {
  std::string ca = dir + "/ca.pem";
  std::string cert = dir + "/server.pem";
  std::string key = dir + "/server.key";
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1 ||
      SSL_CTX_load_verify_locations(&ctx, ca.c_str(), nullptr) != 1) {
    return false;
  }
  SSL_CTX_set_options(&ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  STACK_OF(X509_NAME)* client_cas = SSL_load_client_CA_file(ca.c_str());
  if (client_cas == nullptr) return false;
  SSL_CTX_set_client_CA_list(&ctx, client_cas);
  // Hosts must present a certificate from the broker CA; people connect
  // without one, so a missing certificate is not a handshake failure.
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify_depth(&ctx, 2);
  return SSL_CTX_set_session_id_context(
             &ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext),
             sizeof kSessionIdContext - 1) == 1;
}

// The single common name of a certificate, or "".
std::string CommonName(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0 ||
      X509_NAME_get_index_by_NID(name, NID_commonName, index) >= 0) {
    return "";
  }
  ASN1_STRING* data =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int size = ASN1_STRING_to_UTF8(&utf8, data);
  if (size < 0) return "";
  std::string text(reinterpret_cast<char*>(utf8), static_cast<size_t>(size));
  OPENSSL_free(utf8);
  return text;
}

// Sets the host name of a verified client certificate with the clientAuth
// purpose; leaves it empty for anything else.
void ReadPeerHost(const SSL* ssl, ApiRequest* request) {
  if (ssl == nullptr) return;
  X509* cert = SSL_get0_peer_certificate(ssl);
  request->has_client_cert = cert != nullptr;
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return;
  if (X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) != 1) return;
  std::string host = CommonName(cert);
  if (!IsValidHostName(host)) return;
  request->client_host = host;
  // An unreadable notBefore leaves the issue time at 0, which any
  // revocation of the host covers.
  struct tm not_before {};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &not_before) == 1) {
    request->client_cert_issued_at =
        static_cast<int64_t>(timegm(&not_before)) + kCertBackdateSeconds;
  }
}

// True for an X-Request-Id worth keeping: 1 to 64 characters of letters,
// digits, '.', '_', ':' and '-'. Anything else is replaced, so that the id
// is safe in logs and headers.
bool IsValidRequestId(const std::string& id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

// Runs before routing for every call, including those that httplib
// rejects itself, and stores the call's request id in the response header.
httplib::Server::HandlerResponse AssignRequestId(const httplib::Request& req,
                                                 httplib::Response& res) {
  std::string id = req.get_header_value(kRequestIdHeader);
  if (!IsValidRequestId(id)) {
    auto fresh = NewId("req-");
    id = fresh.ok() ? fresh.value() : "req-unknown";
  }
  res.set_header(kRequestIdHeader, id);
  return httplib::Server::HandlerResponse::Unhandled;
}

// Logs one served request with its status and duration since started.
void LogHttp(const std::string& method, const std::string& path, int status,
             std::chrono::steady_clock::time_point started,
             const std::string& remote) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
  LogEvent("http", {{"method", method},
                    {"path", path},
                    {"status", std::to_string(status)},
                    {"duration_us", std::to_string(micros)},
                    {"remote", remote}});
}

ApiRequest ReadApiRequest(const httplib::Request& req) {
  ApiRequest request;
  request.method = req.method;
  request.path = req.path;
  for (const auto& [key, value] : req.params) request.query.emplace(key, value);
  request.body = req.body;
  request.authorization = req.get_header_value("Authorization");
  request.remote = req.remote_addr + ":" + std::to_string(req.remote_port);
  request.remote_address = req.remote_addr;
  if (req.has_header(kIdempotencyKeyHeader)) {
    request.idempotency_key = req.get_header_value(kIdempotencyKeyHeader);
  }
  ReadPeerHost(req.ssl, &request);
  return request;
}

void HandleHttp(const Api& api, const httplib::Request& req,
                httplib::Response& res) {
  auto started = std::chrono::steady_clock::now();
  ScopedRequestId request_id(res.get_header_value(kRequestIdHeader));
  ApiRequest request = ReadApiRequest(req);

  ApiResponse response = api.Handle(request);
  res.status = response.status;
  for (const auto& [name, value] : response.headers) {
    res.set_header(name, value);
  }
  if (!response.content_type.empty()) {
    res.set_content(response.text, response.content_type);
  } else {
    res.set_content(
        response.body.dump(-1, ' ', false, json::error_handler_t::replace),
        "application/json");
  }
  LogHttp(request.method, request.path, response.status, started,
          request.remote);
}

// Gives errors that httplib produces itself (unknown route or method, body
// over the limit, malformed HTTP) the API's JSON shape, and logs them.
httplib::Server::HandlerResponse FillError(const httplib::Request& req,
                                           httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  ScopedRequestId request_id(res.get_header_value(kRequestIdHeader));
  LogEvent("reject", {{"status", std::to_string(res.status)},
                      {"method", req.method},
                      {"path", req.path},
                      {"remote", req.remote_addr + ":" +
                                     std::to_string(req.remote_port)},
                      {"detail", "rejected by the HTTP layer"}});
  ApiResponse error;
  if (res.status == 413) {
    error = ErrorResponse(413, "too_large", "request body is over 64 KiB");
  } else if (res.status == 404 || res.status == 405) {
    error = ErrorResponse(res.status, "not_found", "no such endpoint");
  } else if (res.status < 500) {
    error = ErrorResponse(res.status, "invalid_request", "malformed request");
  } else {
    error = ErrorResponse(res.status, "internal", "the broker failed");
  }
  res.set_content(error.body.dump(), "application/json");
  return httplib::Server::HandlerResponse::Handled;
}

void HandleWeb(WebUi& web, const httplib::Request& req,
               httplib::Response& res) {
  auto started = std::chrono::steady_clock::now();
  ScopedRequestId request_id(res.get_header_value(kRequestIdHeader));
  WebRequest request;
  request.method = req.method;
  request.path = req.path;
  for (const auto& [key, value] : req.params) request.query.emplace(key, value);
  request.body = req.body;
  request.cookie = req.get_header_value("Cookie");
  request.origin = req.get_header_value("Origin");
  request.remote = req.remote_addr + ":" + std::to_string(req.remote_port);
  request.remote_address = req.remote_addr;
  WebResponse response = web.Handle(request);
  res.status = response.status;
  for (const auto& [name, value] : response.headers) {
    res.headers.emplace(name, value);
  }
  res.set_content(response.body, response.content_type.c_str());
  LogHttp(request.method, request.path, response.status, started,
          request.remote);
}

void ConfigureServer(httplib::SSLServer* server, const Api& api, WebUi* web) {
  server->set_payload_max_length(kMaxBodyBytes);
  server->set_read_timeout(kReadTimeoutSeconds, 0);
  server->set_write_timeout(kWriteTimeoutSeconds, 0);
  server->set_keep_alive_timeout(kKeepAliveSeconds);
  server->set_keep_alive_max_count(kKeepAliveMaxRequests);
  // cpp-httplib writes headers and body separately; with Nagle's algorithm
  // the body then waits for the client's delayed ACK (40 ms on Linux).
  // Accepted sockets inherit TCP_NODELAY from the listening socket.
  server->set_tcp_nodelay(true);
  server->new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  auto handler = [&api](const httplib::Request& req, httplib::Response& res) {
    HandleHttp(api, req, res);
  };
  server->set_pre_routing_handler(
      httplib::Server::HandlerWithResponse(AssignRequestId));
  if (web != nullptr && web->enabled()) {
    auto web_handler = [web](const httplib::Request& req,
                             httplib::Response& res) {
      HandleWeb(*web, req, res);
    };
    // Registered first, because cpp-httplib takes the first match.
    server->Get("/web/.*", web_handler);
    server->Post("/web/.*", web_handler);
  }
  server->Get(".*", handler);
  server->Post(".*", handler);
  server->set_error_handler(httplib::Server::HandlerWithResponse(FillError));
  server->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        ScopedRequestId request_id(res.get_header_value(kRequestIdHeader));
        LogEvent("error", {{"detail", "exception outside the API handler"}});
        res.status = 500;
        res.set_content(
            ErrorResponse(500, "internal", "the broker failed").body.dump(),
            "application/json");
      });
}

// Refuses to run with a private key that others can read.
Result<bool> CheckKeyMode(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Error{path + ": cannot be read"};
  if ((st.st_mode & 077) != 0) {
    return Error{path + " is accessible by group or others; run chmod 600 " +
                 path};
  }
  return true;
}

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// Loads the policy file again on SIGHUP. A file that fails to load leaves
// the policy in force unchanged.
void ReloadPolicy(const std::string& path, PolicyHolder* holder) {
  auto policy = LoadPolicy(path);
  if (!policy.ok()) {
    LogEvent("error", {{"detail", "policy reload failed, the previous policy "
                                  "stays in force"},
                       {"policy", path},
                       {"error", policy.error()}});
    return;
  }
  size_t count = policy.value().entitlements.size();
  holder->Set(std::move(policy.value()));
  LogEvent("reload",
           {{"policy", path}, {"entitlements", std::to_string(count)}});
}

// Stops the server on SIGTERM or SIGINT and reloads the policy on SIGHUP;
// every thread blocks these signals.
class SignalWatcher {
 public:
  SignalWatcher(httplib::Server* server, std::string policy_path,
                PolicyHolder* policy)
      : server_(server),
        policy_path_(std::move(policy_path)),
        policy_(policy) {
    thread_ = std::thread([this] { Run(); });
  }
  ~SignalWatcher() {
    done_ = true;
    if (!signalled_) pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  void Run() {
    sigset_t set = StopSignals();
    int signal_number = 0;
    while (true) {
      sigwait(&set, &signal_number);
      if (done_) return;
      if (signal_number != SIGHUP) break;
      ReloadPolicy(policy_path_, policy_);
    }
    signalled_ = true;
    LogEvent("stop",
             {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
    // stop() does nothing before the listener runs, so repeat until the
    // server has returned.
    while (!done_) {
      server_->stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  httplib::Server* server_;
  std::string policy_path_;
  PolicyHolder* policy_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<bool> signalled_{false};
};

// Runs Api::RunMaintenance every second until destroyed.
class MaintenanceLoop {
 public:
  explicit MaintenanceLoop(const Api* api) : api_(api) {
    thread_ = std::thread([this] { Run(); });
  }
  ~MaintenanceLoop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!done_) {
      lock.unlock();
      api_->RunMaintenance();
      lock.lock();
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; });
    }
  }

  const Api* api_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// Logs why the broker cannot start, as one error line; returns the exit
// status.
int StartupFailed(const std::string& message) {
  LogEvent("error", {{"detail", "startup failed"}, {"error", message}});
  return 1;
}

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

int Listen(httplib::SSLServer* server, const ListenAddress& address) {
  int port = address.port;
  if (port == 0) {
    port = server->bind_to_any_port(address.host);
  } else if (!server->bind_to_port(address.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return StartupFailed("cannot listen on " + address.host + ":" +
                         std::to_string(address.port));
  }
  std::cerr << "zsp-broker: listening on https://" << UrlHost(address.host)
            << ":" << port << std::endl;
  LogEvent("start",
           {{"listen", UrlHost(address.host) + ":" + std::to_string(port)}});
  bool clean = server->listen_after_bind();
  return clean ? 0 : 1;
}

}  // namespace

int Serve(const std::string& dir, const Settings& settings) {
  auto address = ParseListenAddress(settings.listen);
  if (!address.ok()) {
    return StartupFailed(address.error());
  }
  for (const char* name : {"/decision.key", "/server.key"}) {
    auto mode = CheckKeyMode(dir + name);
    if (!mode.ok()) {
      return StartupFailed(mode.error());
    }
  }
  auto key = LoadEd25519PrivateKey(dir + "/decision.key");
  auto store = Store::Open(BrokerStoreLocation(dir, settings));
  if (!key.ok() || !store.ok()) {
    return StartupFailed(key.ok() ? store.error() : key.error());
  }
  auto audit_key = LoadOrCreateAuditKey(dir);
  if (!audit_key.ok()) {
    return StartupFailed(audit_key.error());
  }
  auto audit = AuditStore::Open(AuditStoreLocation(dir, settings),
                                std::move(audit_key.value()));
  if (!audit.ok()) {
    return StartupFailed(audit.error());
  }
  std::string policy_path = dir + "/" + kPolicyFileName;
  auto policy = LoadPolicy(policy_path);
  if (!policy.ok()) {
    return StartupFailed(policy.error());
  }
  PolicyHolder policy_holder(std::move(policy.value()));
  auto ca_mode = CheckKeyMode(dir + "/ca.key");
  auto ca = ca_mode.ok() ? LoadCa(dir + "/ca.pem", dir + "/ca.key")
                         : Result<KeyAndCert>(Error{ca_mode.error()});
  if (!ca.ok()) {
    return StartupFailed(ca.error());
  }
  std::unique_ptr<OidcVerifier> oidc;
  std::string oidc_path = dir + "/" + kOidcFileName;
  if (access(oidc_path.c_str(), F_OK) == 0) {
    auto oidc_settings = LoadOidcSettings(oidc_path);
    if (!oidc_settings.ok()) return StartupFailed(oidc_settings.error());
    oidc = std::make_unique<OidcVerifier>(std::move(oidc_settings.value()));
    LogEvent("oidc", {{"config", oidc_path},
                      {"providers", std::to_string(
                                        oidc->settings().providers.size())}});
  }
  Api api(store.value().get(), key.value().get(), settings,
          [] { return static_cast<int64_t>(std::time(nullptr)); });
  api.SetOidc(oidc.get());
  api.SetAuditStore(audit.value().get());
  api.SetPolicy(&policy_holder);
  api.SetCa(&ca.value());

  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // Created after the mask, so that its thread blocks SIGHUP too and only
  // the signal watcher takes it.
  Notifier notifier(&policy_holder, api.metrics());
  api.SetNotifier(&notifier);
  httplib::SSLServer server(
      [&dir](SSL_CTX& ctx) { return SetupTls(ctx, dir); });
  if (!server.is_valid()) {
    return StartupFailed("TLS setup failed; check " + dir +
                         "/server.pem, server.key and ca.pem");
  }
  WebUi web(&api, store.value().get(), oidc.get(),
            [] { return static_cast<int64_t>(std::time(nullptr)); });
  ConfigureServer(&server, api, &web);
  SignalWatcher watcher(&server, policy_path, &policy_holder);
  MaintenanceLoop maintenance(&api);
  return Listen(&server, address.value());
}

}  // namespace zsp::broker

// A broker that misbehaves on purpose, for the fault tests. It listens on
// 127.0.0.1 with a port chosen by the kernel, prints the port, and serves
// every connection (each in its own thread) in one fixed way chosen by
// --mode. With --broker-dir it signs crafted claims with the test broker's
// real decision key, so "right signature over the wrong claims" can be
// tested, and issues its TLS certificate from that broker's CA in the way
// --cert chooses.
//
//   hostile_broker --broker-dir DIR --mode MODE [--cert KIND]
//                  [--ca-out FILE]   (writes the CA that issued the
//                                     server certificate)
//   hostile_broker --mode dns-silent   (UDP and TCP port 53, never answers)
//
// Test tool only: it holds connections open for a minute and never exits
// on its own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "broker/pki.h"
#include "common/jws.h"

namespace {

using nlohmann::json;

constexpr int kStallSeconds = 60;

struct Settings {
  std::string broker_dir;
  std::string mode;
  std::string cert = "good";
  std::string ca_out;  // where to write the issuing CA's certificate, if set
};

Settings settings;
zsp::EvpPkeyPtr decision_key;  // the test broker's real signing key
zsp::EvpPkeyPtr stranger_key;  // a key no host pins
std::mutex replay_mutex;
std::map<std::string, std::string> recorded_tokens;  // per user and kind

void Stall() { std::this_thread::sleep_for(std::chrono::seconds(kStallSeconds)); }

void WriteAll(SSL* ssl, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    int n = SSL_write(ssl, data.data() + done,
                      static_cast<int>(data.size() - done));
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Reads one HTTP request and returns its body ("" on any problem).
std::string ReadRequestBody(SSL* ssl) {
  std::string data;
  char buf[4096];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos && data.size() < 65536) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return "";
    data.append(buf, static_cast<size_t>(n));
    header_end = data.find("\r\n\r\n");
  }
  if (header_end == std::string::npos) return "";
  size_t length = 0;
  size_t at = data.find("Content-Length:");
  if (at == std::string::npos) at = data.find("content-length:");
  if (at != std::string::npos) {
    length = std::strtoul(data.c_str() + at + 15, nullptr, 10);
  }
  std::string body = data.substr(header_end + 4);
  while (body.size() < length && body.size() < 65536) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    body.append(buf, static_cast<size_t>(n));
  }
  return body;
}

std::string Response(int status, const std::string& body,
                     const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " Hostile\r\n" +
         "Content-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// Claims that answer the request exactly, as the real broker would allow.
json AllowClaims(const json& request) {
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  return {{"iss", "zsp-broker"},
          {"ver", 1},
          {"decision", "allow"},
          {"sub", request.value("user", "")},
          {"host", request.value("host", "")},
          {"kind", request.value("kind", "")},
          {"runas", request.value("runas", "")},
          {"argv", request.value("argv", json::array())},
          {"runas_group", request.value("runas_group", "")},
          {"env", request.value("env", json::array())},
          {"nonce", request.value("nonce", "")},
          {"iat", now},
          {"exp", now + 60},
          {"grant", "g-hostile"},
          {"request", "r-hostile"},
          {"grant_exp", now + 3600}};
}

std::string Sign(EVP_PKEY* key, const json& claims) {
  auto token = zsp::SignJws(key, claims.dump(), zsp::kDecisionJwsType);
  return token.ok() ? token.value() : "";
}

std::string JwsBody(const std::string& token) {
  return json{{"jws", token}}.dump();
}

// The token for one of the signed modes; "" if mode is not one of them.
std::string SignedToken(const std::string& mode, const json& request) {
  json claims = AllowClaims(request);
  int64_t now = claims["iat"].get<int64_t>();
  EVP_PKEY* key = decision_key.get();
  if (mode == "allow") {
  } else if (mode == "slow-allow") {
    // Answers after a pause, so that a test can signal the client while
    // it waits (3 s leave room for a loaded machine), with a decision
    // valid for only 2 s, so that a client stopped meanwhile holds an
    // expired one when it resumes.
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    claims = AllowClaims(request);
    claims["exp"] = claims["iat"].get<int64_t>() + 2;
  } else if (mode == "deny") {
    claims.erase("grant");
    claims.erase("grant_exp");
    claims.erase("request");
    claims["decision"] = "deny";
    claims["code"] = "no_grant";
    claims["message"] = "hostile broker denies";
  } else if (mode == "bad-signature") {
    std::string token = Sign(key, claims);
    size_t at = token.rfind('.') + 4;
    if (at < token.size()) token[at] = token[at] == 'A' ? 'B' : 'A';
    return token;
  } else if (mode == "unknown-key") {
    key = stranger_key.get();
  } else if (mode == "other-user") {
    claims["sub"] = "mallory";
  } else if (mode == "other-host") {
    claims["host"] = "other-host";
  } else if (mode == "other-scope") {
    claims["kind"] = claims["kind"] == "sudo" ? "login" : "sudo";
  } else if (mode == "expired") {
    claims["iat"] = now - 7200;
    claims["exp"] = now - 3600;
  } else if (mode == "not-yet-valid") {
    claims["iat"] = now + 3600;
    claims["exp"] = now + 7200;
  } else if (mode == "skew") {
    // Issued 90 s ahead, beyond the 30 s tolerance the tests configure.
    claims["iat"] = now + 90;
    claims["exp"] = now + 150;
  } else if (mode == "replay") {
    std::string slot = request.value("user", "") + "/" +
                       request.value("kind", "");
    std::lock_guard<std::mutex> lock(replay_mutex);
    auto [it, first] = recorded_tokens.emplace(slot, "");
    if (first) it->second = Sign(key, claims);
    return it->second;
  } else {
    return "";
  }
  return Sign(key, claims);
}

// The whole HTTP response for the modes that answer after a request.
std::string AnswerFor(const std::string& mode, const json& request) {
  std::string token = SignedToken(mode, request);
  if (!token.empty()) return Response(200, JwsBody(token));
  std::string good = Sign(decision_key.get(), AllowClaims(request));
  if (mode.rfind("status-", 0) == 0) {
    int status = 500;
    std::from_chars(mode.data() + 7, mode.data() + mode.size(), status);
    std::string location =
        status / 100 == 3 ? "Location: https://127.0.0.1:1/v1/decisions\r\n"
                          : "";
    return Response(status, JwsBody(good), location);
  }
  if (mode == "empty") return Response(200, "");
  if (mode == "duplicate-key") {
    return Response(200, "{\"jws\":\"x\",\"jws\":\"" + good + "\"}");
  }
  if (mode == "nested") {
    std::string body = "{\"jws\":\"" + good + "\",\"x\":";
    body += std::string(50000, '[') + std::string(50000, ']') + "}";
    return Response(200, body);
  }
  if (mode == "wrong-type") return Response(200, "{\"jws\":12345}");
  if (mode == "nul") {
    return Response(200, "{\"jws\":\"" + good + std::string("\0\"}", 3));
  }
  return Response(500, "{\"error\":\"unknown hostile mode\"}");
}

// Sends a 200 header announcing size bytes, then size bytes of JSON text.
void SendLargeBody(SSL* ssl, size_t size) {
  WriteAll(ssl, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Content-Length: " + std::to_string(size) + "\r\n\r\n");
  std::string chunk(64 * 1024, ' ');
  for (size_t sent = 0; sent < size; sent += chunk.size()) {
    size_t n = std::min(chunk.size(), size - sent);
    int rc = SSL_write(ssl, chunk.data(), static_cast<int>(n));
    if (rc <= 0) return;
  }
}

// Serves one TLS connection after the handshake.
void ServeTls(SSL* ssl) {
  const std::string& mode = settings.mode;
  std::string body = ReadRequestBody(ssl);
  json request = json::parse(body, nullptr, false);
  if (!request.is_object()) request = json::object();
  const std::string header =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: 4096\r\n\r\n";
  if (mode == "stall-headers") {
    WriteAll(ssl, header);
    Stall();
  } else if (mode == "trickle") {
    WriteAll(ssl, header);
    for (int i = 0; i < kStallSeconds; ++i) {
      WriteAll(ssl, " ");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  } else if (mode == "close-mid-body") {
    WriteAll(ssl, header + "{\"jws\":\"eyJ");
  } else if (mode == "size-1m") {
    SendLargeBody(ssl, 1024 * 1024);
  } else if (mode == "size-100m") {
    SendLargeBody(ssl, 100 * 1024 * 1024);
  } else {
    WriteAll(ssl, AnswerFor(mode, request));
  }
}

// Reads the client's first flight and sends only part of the server's
// answer, so the client waits in the middle of the TLS handshake.
void StallHandshake(SSL_CTX* ctx, int fd) {
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_accept_state(ssl);
  char buf[16384];
  while (BIO_ctrl_pending(out) == 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    BIO_write(in, buf, static_cast<int>(n));
    SSL_do_handshake(ssl);
  }
  int pending = BIO_read(out, buf, sizeof buf);
  if (pending > 1) {
    ssize_t ignored = write(fd, buf, static_cast<size_t>(pending / 2));
    (void)ignored;
  }
  Stall();
  SSL_free(ssl);
}

void ServeConnection(SSL_CTX* ctx, int fd) {
  if (settings.mode == "silent") {
    Stall();
  } else if (settings.mode == "stall-handshake") {
    StallHandshake(ctx, fd);
  } else {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      ServeTls(ssl);
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  close(fd);
}

// Makes the server certificate that --cert asks for, from the test
// broker's CA unless the kind needs another issuer.
bool MakeCertificate(SSL_CTX* ctx) {
  namespace pki = zsp::broker;
  auto ca = pki::LoadCa(settings.broker_dir + "/ca.pem",
                        settings.broker_dir + "/ca.key");
  if (!ca.ok()) {
    std::fprintf(stderr, "hostile_broker: %s\n", ca.error().c_str());
    return false;
  }
  const std::string& kind = settings.cert;
  std::vector<std::string> names = {"DNS:localhost", "IP:127.0.0.1"};
  if (kind == "wrong-name") names = {"DNS:broker.invalid", "IP:127.0.0.2"};
  if (kind == "no-ip-san") names = {"DNS:localhost"};

  zsp::Result<pki::KeyAndCert> made = zsp::Error{"unknown --cert " + kind};
  X509* issuer = ca.value().cert.get();
  zsp::Result<pki::KeyAndCert> other = zsp::Error{"no other CA"};
  if (kind == "self-signed") {
    made = pki::CreateCa("localhost", 30);
    if (made.ok()) issuer = made.value().cert.get();
  } else if (kind == "wrong-ca") {
    other = pki::CreateCa("another CA", 30);
    if (other.ok()) {
      issuer = other.value().cert.get();
      made = pki::IssueCert(other.value(), "localhost", pki::CertUse::kServer,
                            names, 30);
    }
  } else if (kind == "good" || kind == "wrong-name" || kind == "no-ip-san" ||
             kind == "expired" || kind == "not-yet-valid") {
    made = pki::IssueCert(ca.value(), "localhost", pki::CertUse::kServer,
                          names, 30);
  }
  if (!made.ok()) {
    std::fprintf(stderr, "hostile_broker: %s\n", made.error().c_str());
    return false;
  }
  X509* cert = made.value().cert.get();
  if (kind == "expired" || kind == "not-yet-valid") {
    long days = kind == "expired" ? -20 : 10;
    X509_gmtime_adj(X509_getm_notBefore(cert), days * 86400L);
    X509_gmtime_adj(X509_getm_notAfter(cert), (days + 10) * 86400L);
    if (X509_sign(cert, ca.value().key.get(), EVP_sha256()) <= 0) return false;
  }
  if (!settings.ca_out.empty()) {
    auto pem = pki::CertificatePem(issuer);
    FILE* out = std::fopen(settings.ca_out.c_str(), "w");
    if (!pem.ok() || out == nullptr) return false;
    std::fputs(pem.value().c_str(), out);
    std::fclose(out);
  }
  return SSL_CTX_use_certificate(ctx, cert) == 1 &&
         SSL_CTX_use_PrivateKey(ctx, made.value().key.get()) == 1;
}

bool LoadKeys() {
  auto key = zsp::LoadEd25519PrivateKey(settings.broker_dir + "/decision.key");
  auto stranger = zsp::broker::GenerateEd25519Key();
  if (!key.ok() || !stranger.ok()) {
    std::fprintf(stderr, "hostile_broker: cannot load or make keys\n");
    return false;
  }
  decision_key = std::move(key).value();
  stranger_key = std::move(stranger).value();
  return true;
}

int Listen(int type, uint16_t port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return -1;
  }
  if (type == SOCK_STREAM && listen(fd, 64) != 0) return -1;
  return fd;
}

int BoundPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// A DNS server on 127.0.0.1:53 that reads queries and never answers.
int ServeSilentDns() {
  int udp = Listen(SOCK_DGRAM, 53);
  int tcp = Listen(SOCK_STREAM, 53);
  if (udp < 0 || tcp < 0) {
    std::perror("hostile_broker: bind 127.0.0.1:53");
    return 1;
  }
  std::printf("53\n");
  std::fflush(stdout);
  char buf[512];
  for (;;) {
    if (recv(udp, buf, sizeof buf, 0) < 0) pause();
  }
}

bool ParseArguments(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--broker-dir") {
      settings.broker_dir = argv[i + 1];
    } else if (flag == "--mode") {
      settings.mode = argv[i + 1];
    } else if (flag == "--cert") {
      settings.cert = argv[i + 1];
    } else if (flag == "--ca-out") {
      settings.ca_out = argv[i + 1];
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && !settings.mode.empty();
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (!ParseArguments(argc, argv)) {
    std::fprintf(stderr,
                 "usage: hostile_broker --broker-dir DIR --mode MODE "
                 "[--cert KIND] [--ca-out FILE]\n");
    return 2;
  }
  if (settings.mode == "dns-silent") return ServeSilentDns();

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr || !LoadKeys() || !MakeCertificate(ctx)) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  int listener = Listen(SOCK_STREAM, 0);
  if (listener < 0) {
    std::perror("hostile_broker: listen");
    return 1;
  }
  std::printf("%d\n", BoundPort(listener));
  std::fflush(stdout);
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread(ServeConnection, ctx, fd).detach();
  }
}

#include "broker/zspctl_login.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "broker/zspctl_audit.h"
#include "common/base64url.h"
#include "common/escape.h"
#include "common/text.h"
#include "common/https_client.h"

namespace zsp::zspctl {
namespace {

using nlohmann::json;

constexpr long kConnectTimeoutMs = 5000;
constexpr long kTotalTimeoutMs = 15000;
constexpr size_t kMaxResponseBytes = 256 * 1024;
constexpr char kDeviceGrantType[] =
    "urn:ietf:params:oauth:grant-type:device_code";
constexpr char kDefaultScope[] = "openid profile";
constexpr char kSystemCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";
// RFC 8628 section 3.5: the default polling interval, and the step that
// slow_down adds to it.
constexpr int64_t kDefaultIntervalSeconds = 5;
constexpr int64_t kSlowDownSeconds = 5;
constexpr int64_t kMaxIntervalSeconds = 60;
constexpr int64_t kMaxDeviceCodeLifetime = 1800;

std::string Show(const std::string& text) { return EscapeForLog(text, 256); }

// Sends method to url and returns the status and JSON object of the
// response. Throws on a transport failure or a body that is not JSON.
std::pair<long, json> Send(const std::string& ca_file,
                           const std::string& method, const std::string& url,
                           const std::string& form) {
  HttpsOptions https;
  https.ca_file = ca_file;
  https.connect_timeout_ms = kConnectTimeoutMs;
  https.total_timeout_ms = kTotalTimeoutMs;
  https.max_response_bytes = kMaxResponseBytes;
  https.content_type = "application/x-www-form-urlencoded";
  auto response = HttpsRequest(https, method, url, form);
  if (!response.ok()) {
    throw std::runtime_error(Show(response.error()) + " (" + Show(url) + ")");
  }
  json body = json::parse(response.value().body, nullptr, false);
  if (!body.is_object()) {
    throw std::runtime_error(Show(url) + " returned HTTP " +
                             std::to_string(response.value().status) +
                             " without a JSON object");
  }
  return {response.value().status, body};
}

std::string HttpsField(const json& object, const char* name,
                       const std::string& where) {
  std::string value = object.value(name, "");
  if (value.rfind("https://", 0) != 0) {
    throw std::runtime_error(where + ": " + name + " is missing or not https");
  }
  return value;
}

struct Provider {
  std::string issuer;
  std::string client_id;
  std::string device_endpoint;
  std::string token_endpoint;
};

// Picks the broker's provider (the one with issuer, or the only one) and
// reads its discovery document.
Provider FindProvider(const LoginSettings& settings, const std::string& issuer,
                      const std::string& oidc_ca) {
  auto [status, info] =
      Send(settings.ca_file, "GET", settings.broker_url + "/v1/oidc", "");
  if (status != 200 || !info.contains("providers") ||
      !info["providers"].is_array()) {
    throw std::runtime_error("the broker lists no identity providers (HTTP " +
                             std::to_string(status) + ")");
  }
  Provider provider;
  for (const auto& entry : info["providers"]) {
    if (!entry.is_object()) continue;
    std::string candidate = entry.value("issuer", "");
    if (!issuer.empty() && candidate != issuer) continue;
    if (!provider.issuer.empty()) {
      throw UsageException(
          "the broker trusts several identity providers; choose one with "
          "--issuer URL");
    }
    provider.issuer = candidate;
    provider.client_id = entry.value("client_id", "");
  }
  if (provider.issuer.empty() || provider.client_id.empty()) {
    throw std::runtime_error(
        issuer.empty() ? "the broker has no identity provider for zspctl login"
                       : "the broker does not trust issuer " + Show(issuer));
  }
  std::string base = provider.issuer;
  if (base.back() == '/') base.pop_back();
  std::string url = base + "/.well-known/openid-configuration";
  auto [doc_status, doc] = Send(oidc_ca, "GET", url, "");
  if (doc_status != 200 || doc.value("issuer", "") != provider.issuer) {
    throw std::runtime_error(Show(url) +
                             ": no discovery document for this issuer");
  }
  provider.device_endpoint =
      HttpsField(doc, "device_authorization_endpoint", Show(url));
  provider.token_endpoint = HttpsField(doc, "token_endpoint", Show(url));
  return provider;
}

int64_t IntegerField(const json& object, const char* name, int64_t fallback) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) return fallback;
  return it->get<int64_t>();
}

// Polls the token endpoint until the person finishes the user step, and
// returns the ID token.
std::string PollForToken(const Provider& provider, const std::string& oidc_ca,
                         const std::string& device_code, int64_t interval,
                         int64_t lifetime) {
  std::string form = "grant_type=" + PercentEncode(kDeviceGrantType) +
                     "&device_code=" + PercentEncode(device_code) +
                     "&client_id=" + PercentEncode(provider.client_id);
  int64_t deadline = static_cast<int64_t>(std::time(nullptr)) + lifetime;
  while (static_cast<int64_t>(std::time(nullptr)) < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(interval));
    auto [status, body] = Send(oidc_ca, "POST", provider.token_endpoint, form);
    if (status == 200) {
      std::string id_token = body.value("id_token", "");
      if (id_token.empty()) {
        throw std::runtime_error("the identity provider returned no ID token");
      }
      return id_token;
    }
    std::string error = body.value("error", "");
    if (error == "authorization_pending") continue;
    if (error == "slow_down") {
      interval = std::min(interval + kSlowDownSeconds, kMaxIntervalSeconds);
      continue;
    }
    if (error == "access_denied") {
      throw std::runtime_error("sign-in was denied at the identity provider");
    }
    if (error == "expired_token") break;
    throw std::runtime_error("the identity provider rejected the sign-in: " +
                             Show(error) + " " +
                             Show(body.value("error_description", "")));
  }
  throw std::runtime_error("the sign-in code expired; run zspctl login again");
}

void MakeConfigDirectory(const std::string& token_file) {
  size_t slash = token_file.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  std::string dir = token_file.substr(0, slash);
  // Creates ~/.config and ~/.config/zsp when missing; an existing
  // directory keeps its mode.
  size_t parent = dir.rfind('/');
  if (parent != std::string::npos && parent > 0) {
    mkdir(dir.substr(0, parent).c_str(), 0700);
  }
  mkdir(dir.c_str(), 0700);
}

}  // namespace

const char kLoginHelp[] =
    "  login [--issuer URL] [--oidc-ca FILE] [--scope SCOPES]\n"
    "                         sign in through the broker's identity "
    "provider with a\n"
    "                         code shown here; saves the short-lived token "
    "in\n"
    "                         --token-file or ~/.config/zsp/oidc-token "
    "(mode 600);\n"
    "                         --oidc-ca is the provider's CA bundle "
    "(default: the\n"
    "                         system bundle); SCOPES default to \"openid "
    "profile\"\n";

std::string DefaultLoginTokenFile() {
  const char* home = getenv("HOME");
  if (home == nullptr || home[0] == '\0') return "";
  return std::string(home) + "/.config/zsp/oidc-token";
}

void WriteTokenFile(const std::string& path, const std::string& token) {
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    throw std::runtime_error(path +
                             " is a symbolic link; remove it or choose "
                             "another --token-file");
  }
  std::string temp = path + ".tmp." + std::to_string(getpid());
  int fd = open(temp.c_str(),
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + temp + ": " +
                             std::strerror(errno));
  }
  std::string text = token + "\n";
  bool ok = write(fd, text.data(), text.size()) ==
                static_cast<ssize_t>(text.size()) &&
            fchmod(fd, 0600) == 0 && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    unlink(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": " +
                             std::strerror(saved));
  }
}

int64_t UnverifiedJwtExpiry(const std::string& token) {
  size_t dot1 = token.find('.');
  if (dot1 == std::string::npos) return 0;
  size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string::npos) return 0;
  auto payload = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload.has_value()) return 0;
  json claims = json::parse(*payload, nullptr, false);
  if (!claims.is_object()) return 0;
  return IntegerField(claims, "exp", 0);
}

int RunLogin(const LoginSettings& settings,
             const std::vector<std::string>& args) {
  std::string issuer;
  std::string oidc_ca;
  std::string scope = kDefaultScope;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    std::string* field = word == "--issuer"    ? &issuer
                         : word == "--oidc-ca" ? &oidc_ca
                         : word == "--scope"   ? &scope
                                               : nullptr;
    if (field == nullptr) throw UsageException("unknown option " + Show(word));
    if (i + 1 >= args.size()) throw UsageException(word + " needs a value");
    *field = args[++i];
  }
  if (oidc_ca.empty()) {
    const char* from_env = getenv("ZSP_OIDC_CA_FILE");
    oidc_ca = from_env != nullptr && from_env[0] != '\0' ? from_env
                                                         : kSystemCaBundle;
  }
  if (settings.token_file.empty()) {
    throw std::runtime_error("no token file: set HOME or use --token-file");
  }

  // Checked before the sign-in too, so that a person does not sign in only
  // to see the token rejected at the end.
  struct stat st {};
  if (lstat(settings.token_file.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    throw std::runtime_error(settings.token_file +
                             " is a symbolic link; remove it or choose "
                             "another --token-file");
  }

  Provider provider = FindProvider(settings, issuer, oidc_ca);
  std::string form = "client_id=" + PercentEncode(provider.client_id) +
                     "&scope=" + PercentEncode(scope);
  auto [status, grant] = Send(oidc_ca, "POST", provider.device_endpoint, form);
  std::string device_code = grant.value("device_code", "");
  std::string user_code = grant.value("user_code", "");
  std::string verification_uri = grant.value("verification_uri", "");
  if (status != 200 || device_code.empty() || user_code.empty() ||
      verification_uri.empty()) {
    throw std::runtime_error(
        "the identity provider rejected the device authorization: " +
        Show(grant.value("error", "")) + " " +
        Show(grant.value("error_description", "")));
  }
  std::cerr << "To sign in, open " << Show(verification_uri)
            << " and enter the code " << Show(user_code) << "\n";
  std::string complete = grant.value("verification_uri_complete", "");
  if (!complete.empty()) {
    std::cerr << "or open " << Show(complete) << "\n";
  }
  std::cerr << std::flush;

  int64_t interval = std::clamp<int64_t>(
      IntegerField(grant, "interval", kDefaultIntervalSeconds), 1,
      kMaxIntervalSeconds);
  int64_t lifetime = std::clamp<int64_t>(IntegerField(grant, "expires_in", 600),
                                         1, kMaxDeviceCodeLifetime);
  std::string token =
      PollForToken(provider, oidc_ca, device_code, interval, lifetime);
  MakeConfigDirectory(settings.token_file);
  WriteTokenFile(settings.token_file, token);
  int64_t expiry = UnverifiedJwtExpiry(token);
  std::cout << "signed in through " << Show(provider.issuer)
            << "; token saved in " << Show(settings.token_file);
  if (expiry > 0) {
    std::cout << ", valid for "
              << (expiry - static_cast<int64_t>(std::time(nullptr))) << " s";
  }
  std::cout << "\n";
  return 0;
}

}  // namespace zsp::zspctl

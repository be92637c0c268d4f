#include "common/https_client.h"

#include <curl/curl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cerrno>
#include <memory>
#include <mutex>

#include "common/signal_block.h"

namespace zsp {
namespace {

struct Body {
  std::string data;
  size_t limit = 0;
  bool overflow = false;
};

size_t WriteBody(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  size_t n = size * nmemb;
  if (body->data.size() + n > body->limit) {
    body->overflow = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  body->data.append(ptr, n);
  return n;
}

// libcurl is opened on first use instead of being linked. It pulls in
// about 30 shared libraries (GnuTLS, Kerberos, LDAP, SSH and others that
// zsp never uses). Loading them costs every sudo and login several
// milliseconds and megabytes, even when no broker call follows, as with a
// cached decision or a configuration error. In setuid hosts the dynamic
// loader ignores LD_LIBRARY_PATH, so it finds the system's libcurl, as it
// would for a linked one.
struct CurlApi {
  CURLcode (*global_init)(long flags);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL* curl, CURLoption option, ...);
  CURLcode (*easy_perform)(CURL* curl);
  CURLcode (*easy_getinfo)(CURL* curl, CURLINFO info, ...);
  const char* (*easy_strerror)(CURLcode code);
  void (*easy_cleanup)(CURL* curl);
  void (*easy_reset)(CURL* curl);
  curl_slist* (*slist_append)(curl_slist* list, const char* text);
  void (*slist_free_all)(curl_slist* list);
};

template <typename Fn>
bool Bind(void* library, const char* name, Fn* fn) {
  void* address = dlsym(library, name);
  *fn = reinterpret_cast<Fn>(address);
  return address != nullptr;
}

// Opens libcurl and sets up its global state, once per process. Neither is
// ever torn down (RTLD_NODELETE, no curl_global_cleanup), because modules
// may be unloaded while the host process keeps running. Returns nullptr
// and sets *error if libcurl cannot be used.
//
// curl_global_init opens the file named by SSLKEYLOGFILE with plain getenv
// (libcurl 7.88 with OpenSSL) and appends TLS secrets to it. Inside sudo or
// su that variable comes from the invoking user, so it is removed first.
const CurlApi* Curl(std::string* error) {
  static std::once_flag once;
  static CurlApi api;
  static bool ready = false;
  static std::string failure;
  std::call_once(once, [] {
    void* library =
        dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (library == nullptr) {
      const char* why = dlerror();
      failure = std::string("cannot load libcurl: ") +
                (why != nullptr ? why : "unknown error");
      return;
    }
    bool bound = Bind(library, "curl_global_init", &api.global_init) &&
                 Bind(library, "curl_easy_init", &api.easy_init) &&
                 Bind(library, "curl_easy_setopt", &api.easy_setopt) &&
                 Bind(library, "curl_easy_perform", &api.easy_perform) &&
                 Bind(library, "curl_easy_getinfo", &api.easy_getinfo) &&
                 Bind(library, "curl_easy_strerror", &api.easy_strerror) &&
                 Bind(library, "curl_easy_cleanup", &api.easy_cleanup) &&
                 Bind(library, "curl_easy_reset", &api.easy_reset) &&
                 Bind(library, "curl_slist_append", &api.slist_append) &&
                 Bind(library, "curl_slist_free_all", &api.slist_free_all);
    if (!bound) {
      failure = "libcurl lacks a function zsp needs";
      return;
    }
    unsetenv("SSLKEYLOGFILE");
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      failure = "curl_global_init failed";
      return;
    }
    ready = true;
  });
  if (!ready) {
    *error = failure;
    return nullptr;
  }
  return &api;
}

// Applies the settings that make the transfer independent of the
// environment and bounded in time and size.
bool ApplyOptions(const CurlApi& api, CURL* curl, const HttpsOptions& options,
                  const std::string& url, Body* body, curl_slist* headers) {
  bool ok = true;
  auto set = [&](CURLoption opt, auto value) {
    ok = ok && api.easy_setopt(curl, opt, value) == CURLE_OK;
  };
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_NOSIGNAL, 1L);
  // With the threaded resolver, curl_easy_cleanup otherwise joins a
  // getaddrinfo thread that may wait for a silent DNS server long after
  // the transfer timed out (resolv.conf default: 5 s per try). The thread
  // is left to finish on its own instead.
  set(CURLOPT_QUICK_EXIT, 1L);
  set(CURLOPT_PROXY, "");
  set(CURLOPT_NOPROXY, "*");
  set(CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED));
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  set(CURLOPT_CAINFO, options.ca_file.c_str());
  set(CURLOPT_CAPATH, static_cast<char*>(nullptr));
  set(CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
  set(CURLOPT_TIMEOUT_MS, options.total_timeout_ms);
  set(CURLOPT_MAXFILESIZE_LARGE,
      static_cast<curl_off_t>(options.max_response_bytes));
  set(CURLOPT_WRITEFUNCTION, WriteBody);
  set(CURLOPT_WRITEDATA, body);
  set(CURLOPT_HTTPHEADER, headers);
  set(CURLOPT_USERAGENT, "zsp/1");
  set(CURLOPT_COOKIEFILE, static_cast<char*>(nullptr));
  if (!options.client_cert.empty()) {
    set(CURLOPT_SSLCERT, options.client_cert.c_str());
    set(CURLOPT_SSLKEY, options.client_key.c_str());
  }
  return ok;
}

}  // namespace

namespace {

// Below these limits a process is short of resources. Its user can set
// such limits (ulimit -n, ulimit -v) or leave descriptors open for sudo.
constexpr rlim_t kMinFileLimit = 64;
constexpr size_t kSpareFiles = 32;
constexpr rlim_t kMinMemoryLimit = rlim_t{1} << 30;

// True when this process is short of file descriptors or memory.
bool ShortOfResources() {
  struct rlimit files {};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    if (files.rlim_cur < kMinFileLimit) return true;
    DIR* listing = opendir("/proc/self/fd");
    if (listing == nullptr) return errno == EMFILE || errno == ENOMEM;
    size_t open_files = 0;
    while (readdir(listing) != nullptr) ++open_files;
    closedir(listing);
    if (open_files + kSpareFiles > files.rlim_cur) return true;
  }
  for (int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit memory {};
    if (getrlimit(resource, &memory) == 0 &&
        memory.rlim_cur != RLIM_INFINITY && memory.rlim_cur < kMinMemoryLimit) {
      return true;
    }
  }
  return false;
}

// An error for a failure that may lie on this host. It counts as one
// (options.failed_here) when the process is short of resources, because
// a user can cause that. Otherwise it counts as a failure to reach the
// server: a CA file or client key that root cannot read is a problem
// that break-glass access may be needed to repair.
Error MaybeFailedHere(const HttpsOptions& options, std::string message) {
  if (options.failed_here != nullptr && ShortOfResources()) {
    *options.failed_here = true;
  }
  return Error{std::move(message)};
}

// Runs one request on curl, which may keep an open connection from an
// earlier request: curl_easy_reset clears the options but keeps it.
Result<HttpsResponse> Perform(const CurlApi* api, CURL* curl,
                              const HttpsOptions& options,
                              const std::string& method,
                              const std::string& url,
                              const std::string& body) {
  if (options.ca_file.empty()) return Error{"no CA file configured"};
  api->easy_reset(curl);

  // curl_slist_append returns nullptr and leaves the list alone when it
  // runs out of memory, so each step keeps the old list until it succeeds.
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(
      api->slist_append(nullptr, "Accept: application/json"),
      api->slist_free_all);
  auto add_header = [&](const char* line) {
    if (!headers) return;
    curl_slist* longer = api->slist_append(headers.get(), line);
    if (longer == nullptr) headers.reset();
  };
  if (method == "POST") {
    std::string type = "Content-Type: " + options.content_type;
    add_header(type.c_str());
  }
  std::string auth;
  if (!options.bearer_token.empty()) {
    auth = "Authorization: Bearer " + options.bearer_token;
    add_header(auth.c_str());
    explicit_bzero(auth.data(), auth.size());
  }
  if (!headers) return MaybeFailedHere(options, "out of memory");

  Body response_body;
  response_body.limit = options.max_response_bytes;
  if (!ApplyOptions(*api, curl, options, url, &response_body,
                    headers.get())) {
    return MaybeFailedHere(options, "setting up the HTTPS request failed");
  }
  if (method == "POST") {
    api->easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    api->easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
  } else if (method != "GET") {
    return Error{"unsupported HTTP method " + method};
  }

  char errbuf[CURL_ERROR_SIZE] = "";
  api->easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc;
  {
    // CURLOPT_NOSIGNAL stops libcurl from ignoring SIGPIPE itself, and a
    // peer that closes the TLS connection must not kill sudo or sshd.
    ScopedSignalBlock block(SIGPIPE);
    rc = api->easy_perform(curl);
  }
  // CURLOPT_MAXFILESIZE stops a body whose Content-Length is too large
  // before it arrives; the write callback stops one without it.
  if (response_body.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    return Error{"response from " + url + " is larger than " +
                 std::to_string(options.max_response_bytes) + " bytes"};
  }
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] != '\0' ? errbuf : api->easy_strerror(rc);
    // curl words a timeout differently in each phase ("Timeout was
    // reached", "SSL connection timeout"), so one prefix marks them all.
    if (rc == CURLE_OPERATION_TIMEDOUT) why = "timed out: " + why;
    long os_errno = 0;
    api->easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno == EMFILE || os_errno == ENOMEM) {
      if (options.failed_here != nullptr) *options.failed_here = true;
      return Error{why};
    }
    // curl reports a socket() that failed with EMFILE as a failed connect
    // and leaves os_errno at 0, so every failure gets the resource check.
    return MaybeFailedHere(options, why);
  }
  HttpsResponse out;
  api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  out.body = std::move(response_body.data);
  return out;
}

}  // namespace

Result<HttpsResponse> HttpsRequest(const HttpsOptions& options,
                                   const std::string& method,
                                   const std::string& url,
                                   const std::string& body) {
  if (options.ca_file.empty()) return Error{"no CA file configured"};
  std::string load_error;
  const CurlApi* api = Curl(&load_error);
  if (api == nullptr) return MaybeFailedHere(options, load_error);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(api->easy_init(),
                                              api->easy_cleanup);
  if (!curl) return MaybeFailedHere(options, "curl_easy_init failed");
  return Perform(api, curl.get(), options, method, url, body);
}

HttpsSession::~HttpsSession() { Close(); }

void HttpsSession::Close() {
  if (handle_ == nullptr) return;
  std::string ignored;
  const CurlApi* api = Curl(&ignored);
  if (api != nullptr) api->easy_cleanup(static_cast<CURL*>(handle_));
  handle_ = nullptr;
}

Result<HttpsResponse> HttpsSession::Request(const HttpsOptions& options,
                                            const std::string& method,
                                            const std::string& url,
                                            const std::string& body) {
  std::string load_error;
  const CurlApi* api = Curl(&load_error);
  if (api == nullptr) return MaybeFailedHere(options, load_error);
  if (handle_ == nullptr) handle_ = api->easy_init();
  if (handle_ == nullptr) {
    return MaybeFailedHere(options, "curl_easy_init failed");
  }
  auto response = Perform(api, static_cast<CURL*>(handle_), options, method,
                          url, body);
  // After a failed transfer the connection may be in any state, so the
  // next request opens a new one.
  if (!response.ok()) Close();
  return response;
}

}  // namespace zsp

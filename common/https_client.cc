#include "common/https_client.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <mutex>

#include "common/handles.h"
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

// libcurl global state is set up once per process and never torn down:
// modules may be unloaded while the host process keeps running.
//
// curl_global_init opens the file named by SSLKEYLOGFILE with plain getenv
// (libcurl 7.88 with OpenSSL) and appends TLS secrets to it. Inside sudo or
// su that variable comes from the invoking user, so it is removed first.
bool InitCurlOnce() {
  static std::once_flag once;
  static CURLcode rc = CURLE_FAILED_INIT;
  std::call_once(once, [] {
    unsetenv("SSLKEYLOGFILE");
    rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  });
  return rc == CURLE_OK;
}

// Applies the settings that make the transfer independent of the
// environment and bounded in time and size.
bool ApplyOptions(CURL* curl, const HttpsOptions& options,
                  const std::string& url, Body* body, curl_slist* headers) {
  bool ok = true;
  auto set = [&](CURLoption opt, auto value) {
    ok = ok && curl_easy_setopt(curl, opt, value) == CURLE_OK;
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

Result<HttpsResponse> HttpsRequest(const HttpsOptions& options,
                                   const std::string& method,
                                   const std::string& url,
                                   const std::string& body) {
  if (!InitCurlOnce()) return Error{"curl_global_init failed"};
  if (options.ca_file.empty()) return Error{"no CA file configured"};
  CurlPtr curl(curl_easy_init());
  if (!curl) return Error{"curl_easy_init failed"};

  CurlSlistPtr headers(curl_slist_append(nullptr, "Accept: application/json"));
  if (method == "POST") {
    headers.reset(
        curl_slist_append(headers.release(), "Content-Type: application/json"));
  }
  std::string auth;
  if (!options.bearer_token.empty()) {
    auth = "Authorization: Bearer " + options.bearer_token;
    headers.reset(curl_slist_append(headers.release(), auth.c_str()));
    OPENSSL_cleanse(auth.data(), auth.size());
  }
  if (!headers) return Error{"out of memory"};

  Body response_body;
  response_body.limit = options.max_response_bytes;
  if (!ApplyOptions(curl.get(), options, url, &response_body, headers.get())) {
    return Error{"setting up the HTTPS request failed"};
  }
  if (method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
  } else if (method != "GET") {
    return Error{"unsupported HTTP method " + method};
  }

  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc;
  {
    // CURLOPT_NOSIGNAL stops libcurl from ignoring SIGPIPE itself, and a
    // peer that closes the TLS connection must not kill sudo or sshd.
    ScopedSignalBlock block(SIGPIPE);
    rc = curl_easy_perform(curl.get());
  }
  // CURLOPT_MAXFILESIZE stops a body whose Content-Length is too large
  // before it arrives; the write callback stops one without it.
  if (response_body.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    return Error{"response from " + url + " is larger than " +
                 std::to_string(options.max_response_bytes) + " bytes"};
  }
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    // curl words a timeout differently in each phase ("Timeout was
    // reached", "SSL connection timeout"), so one prefix marks them all.
    if (rc == CURLE_OPERATION_TIMEDOUT) why = "timed out: " + why;
    return Error{why};
  }
  HttpsResponse out;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &out.status);
  out.body = std::move(response_body.data);
  return out;
}

}  // namespace zsp

// Load generator for the broker's POST /v1/decisions over mutual TLS.
// Each thread owns one libcurl handle and sends sudo decision requests
// back to back (closed loop) or on a fixed schedule (--rate). By default a
// thread keeps its TLS connection alive between requests; --new-connection
// makes every request open a new connection with a full handshake and no
// TLS session resumption, as separate sudo processes do.
//
// Prints one line of key=value pairs: requests, errors, seconds,
// rate_per_s, p50_ms, p99_ms. With --rate, latency is measured from each
// request's scheduled start, so a stalled broker shows up as latency and
// not as a lower send rate. Exits 1 if any request failed.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  std::string user;
  std::string host;
  std::string command;
  int threads = 2;
  double seconds = 5;
  double rate = 0;  // requests per second over all threads; 0: closed loop
  bool new_connection = false;
};

struct ThreadResult {
  std::vector<double> latencies_ms;
  long errors = 0;
  std::string first_error;
};

size_t AppendBody(char* data, size_t size, size_t count, void* user_data) {
  static_cast<std::string*>(user_data)->append(data, size * count);
  return size * count;
}

// Returns a nonce the broker accepts (16 to 128 base64url characters) that
// is unique per thread and request.
std::string Nonce(int thread, long sequence) {
  char text[64];
  std::snprintf(text, sizeof(text), "bench%02d%020ld", thread, sequence);
  return text;
}

void RunThread(const Options& options, int thread, Clock::time_point end,
               ThreadResult* result) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    result->errors = 1;
    result->first_error = "curl_easy_init failed";
    return;
  }
  std::string url = options.url + "/v1/decisions";
  std::string response;
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLCERT, options.client_cert.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLKEY, options.client_key.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  if (options.new_connection) {
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  }

  std::chrono::duration<double> interval(0);
  if (options.rate > 0) {
    interval = std::chrono::duration<double>(options.threads / options.rate);
  }
  Clock::time_point start = Clock::now();
  for (long sequence = 0;; ++sequence) {
    Clock::time_point scheduled = Clock::now();
    if (options.rate > 0) {
      scheduled = start + std::chrono::duration_cast<Clock::duration>(
                              interval * static_cast<double>(sequence));
      std::this_thread::sleep_until(scheduled);
    }
    if (scheduled >= end) break;

    std::string body = "{\"user\":\"" + options.user + "\",\"host\":\"" +
                       options.host +
                       "\",\"kind\":\"sudo\",\"runas\":\"root\","
                       "\"runas_group\":\"\",\"env\":[],\"argv\":[\"" +
                       options.command + "\"],\"nonce\":\"" +
                       Nonce(thread, sequence) + "\"}";
    response.clear();
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    std::chrono::duration<double, std::milli> took = Clock::now() - scheduled;
    if (rc != CURLE_OK || status != 200 ||
        response.find("\"jws\"") == std::string::npos) {
      if (result->errors++ == 0) {
        result->first_error = rc != CURLE_OK
                                  ? curl_easy_strerror(rc)
                                  : "HTTP " + std::to_string(status) + ": " +
                                        response.substr(0, 200);
      }
      continue;
    }
    result->latencies_ms.push_back(took.count());
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  return sorted[static_cast<size_t>(fraction * (sorted.size() - 1) + 0.5)];
}

bool ParseOptions(int argc, char** argv, Options* options) {
  std::map<std::string, std::string*> strings = {
      {"--url", &options->url},          {"--ca", &options->ca_file},
      {"--cert", &options->client_cert}, {"--key", &options->client_key},
      {"--user", &options->user},        {"--host", &options->host},
      {"--command", &options->command}};
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    if (name == "--new-connection") {
      options->new_connection = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "loadgen: %s needs a value\n", name.c_str());
      return false;
    }
    std::string value = argv[++i];
    char* end = nullptr;
    if (strings.count(name) != 0) {
      *strings[name] = value;
    } else if (name == "--threads") {
      options->threads = static_cast<int>(std::strtol(value.c_str(), &end, 10));
      if (*end != '\0' || options->threads < 1 || options->threads > 64) {
        std::fprintf(stderr, "loadgen: invalid --threads %s (1 to 64)\n",
                     value.c_str());
        return false;
      }
    } else if (name == "--seconds" || name == "--rate") {
      double number = std::strtod(value.c_str(), &end);
      if (*end != '\0' || number < 0 || number > 1e6) {
        std::fprintf(stderr, "loadgen: invalid %s %s\n", name.c_str(),
                     value.c_str());
        return false;
      }
      (name == "--seconds" ? options->seconds : options->rate) = number;
    } else {
      std::fprintf(stderr, "loadgen: unknown option %s\n", name.c_str());
      return false;
    }
  }
  for (const auto& [name, value] : strings) {
    if (value->empty()) {
      std::fprintf(stderr, "loadgen: missing %s\n", name.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: loadgen --url BASE --ca PEM --cert PEM --key PEM "
                 "--user NAME --host NAME --command PATH [--threads N] "
                 "[--seconds S] [--rate PER_SECOND] [--new-connection]\n");
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::fprintf(stderr, "loadgen: curl_global_init failed\n");
    return 2;
  }

  std::vector<ThreadResult> results(options.threads);
  std::vector<std::thread> threads;
  Clock::time_point start = Clock::now();
  Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(options.seconds));
  for (int i = 0; i < options.threads; ++i) {
    threads.emplace_back(RunThread, std::cref(options), i, end, &results[i]);
  }
  for (auto& thread : threads) thread.join();
  std::chrono::duration<double> elapsed = Clock::now() - start;

  std::vector<double> latencies;
  long errors = 0;
  for (const auto& result : results) {
    latencies.insert(latencies.end(), result.latencies_ms.begin(),
                     result.latencies_ms.end());
    errors += result.errors;
    if (!result.first_error.empty()) {
      std::fprintf(stderr, "loadgen: first error: %s\n",
                   result.first_error.c_str());
    }
  }
  std::sort(latencies.begin(), latencies.end());
  std::printf("requests=%zu errors=%ld seconds=%.2f rate_per_s=%.1f "
              "p50_ms=%.3f p99_ms=%.3f\n",
              latencies.size(), errors, elapsed.count(),
              latencies.size() / elapsed.count(), Percentile(latencies, 0.5),
              Percentile(latencies, 0.99));
  return errors == 0 ? 0 : 1;
}

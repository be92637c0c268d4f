// Idempotency keys for request creation: a client that retries
// POST /v1/requests (or POST /v1/host/requests) with the same
// Idempotency-Key header and the same body gets the first response again
// instead of filing a second request.
#ifndef ZSP_BROKER_IDEMPOTENCY_H_
#define ZSP_BROKER_IDEMPOTENCY_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace zsp::broker {

// How long a key is remembered after its first use, in seconds.
inline constexpr int64_t kIdempotencyKeySeconds = 24 * 3600;
// Maximum keys remembered at once. At the cap the oldest finished key is
// dropped first.
inline constexpr size_t kMaxIdempotencyKeys = 10000;
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;
// How long a retry waits for a first call with the same key to finish.
inline constexpr auto kIdempotencyWait = std::chrono::seconds(10);

// True for 1 to 128 printable ASCII characters without spaces.
bool IsValidIdempotencyKey(const std::string& key);

// Remembers the first successful response per (scope, key). Keys live in
// the memory of one broker process.
// NOTE: a broker restart drops every key, and brokers sharing one
// database do not share keys.
class IdempotencyCache {
 public:
  enum class Outcome {
    kRun,       // first use: run the call, then call Finish
    kReplay,    // status and body hold the first response
    kMismatch,  // the key was used with a different body
    kBusy,      // a call with this key is still running after the wait
  };
  struct Claim {
    Outcome outcome = Outcome::kRun;
    int status = 0;
    nlohmann::json body;
  };

  // Claims key for scope (who calls) and fingerprint (a hash of the
  // body). A call that finds the same key in progress waits for it to
  // finish. now is Unix seconds.
  Claim Begin(const std::string& scope, const std::string& key,
              const std::string& fingerprint, int64_t now);

  // Ends a kRun claim. With keep, later claims replay status and body.
  // Without keep the key is released, so a retry runs the call again; the
  // caller does this when the call filed nothing.
  void Finish(const std::string& scope, const std::string& key, bool keep,
              int status, const nlohmann::json& body);

  size_t size() const;

 private:
  struct Entry {
    std::string fingerprint;
    bool done = false;
    int status = 0;
    nlohmann::json body;
    int64_t created_at = 0;
  };
  using EntryKey = std::pair<std::string, std::string>;

  // Removes expired entries, and the oldest finished one when at the cap.
  void MakeRoomLocked(int64_t now);

  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::map<EntryKey, Entry> entries_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_IDEMPOTENCY_H_

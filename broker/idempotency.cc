#include "broker/idempotency.h"

namespace zsp::broker {

bool IsValidIdempotencyKey(const std::string& key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyBytes) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

IdempotencyCache::Claim IdempotencyCache::Begin(const std::string& scope,
                                                const std::string& key,
                                                const std::string& fingerprint,
                                                int64_t now) {
  std::unique_lock<std::mutex> lock(mutex_);
  EntryKey id{scope, key};
  auto deadline = std::chrono::steady_clock::now() + kIdempotencyWait;
  while (true) {
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second.done &&
        now - it->second.created_at >= kIdempotencyKeySeconds) {
      entries_.erase(it);
      it = entries_.end();
    }
    if (it == entries_.end()) break;

    Entry& entry = it->second;
    if (entry.fingerprint != fingerprint) return {Outcome::kMismatch, 0, {}};
    if (entry.done) return {Outcome::kReplay, entry.status, entry.body};
    if (finished_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return {Outcome::kBusy, 0, {}};
    }
  }

  MakeRoomLocked(now);
  Entry entry;
  entry.fingerprint = fingerprint;
  entry.created_at = now;
  entries_.emplace(id, std::move(entry));
  return {Outcome::kRun, 0, {}};
}

void IdempotencyCache::Finish(const std::string& scope, const std::string& key,
                              bool keep, int status,
                              const nlohmann::json& body) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find({scope, key});
    if (it != entries_.end()) {
      if (keep) {
        it->second.done = true;
        it->second.status = status;
        it->second.body = body;
      } else {
        entries_.erase(it);
      }
    }
  }
  finished_.notify_all();
}

size_t IdempotencyCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void IdempotencyCache::MakeRoomLocked(int64_t now) {
  if (entries_.size() < kMaxIdempotencyKeys) return;
  auto oldest = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.done &&
        now - it->second.created_at >= kIdempotencyKeySeconds) {
      it = entries_.erase(it);
      continue;
    }
    bool older = oldest == entries_.end() ||
                 it->second.created_at < oldest->second.created_at;
    if (it->second.done && older) oldest = it;
    ++it;
  }
  if (entries_.size() >= kMaxIdempotencyKeys && oldest != entries_.end()) {
    entries_.erase(oldest);
  }
}

}  // namespace zsp::broker

#include "common/decision_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "common/crypto.h"
#include "common/handles.h"
#include "common/signal_block.h"

namespace zsp {
namespace {

using nlohmann::json;

// A cached entry is a small JSON object, so a larger file is not one.
constexpr off_t kMaxEntryBytes = 64 * 1024;

// Age after which a file in a user's directory that is not an entry, such
// as the temporary file of a write whose process was killed, is removed.
// A younger one may belong to a write still in progress in another process.
constexpr int64_t kStaleTemporarySec = 60;

// Checks that fd is a directory only root can change and read: owned by
// uid 0, with no group or other permission bits. Returns "" or the problem.
std::string CheckPrivateDir(int fd, const std::string& path) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return "cannot stat " + path;
  if (!S_ISDIR(st.st_mode)) return path + " is not a directory";
  if (st.st_uid != 0) return path + " is not owned by root";
  if ((st.st_mode & 077) != 0) {
    return path + " is open to group or others (want mode 0700)";
  }
  return "";
}

// Opens (creating if needed) the cache directory and the user's directory
// in it. Returns the user's directory or sets *problem.
UniqueFd OpenUserDir(const HostConfig& config, const std::string& user,
                     bool create, std::string* problem) {
  const std::string& root = config.decision_cache_dir;
  if (create) {
    // The parent, normally /run/zsp, may not exist yet on a fresh tmpfs.
    size_t slash = root.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      mkdir(root.substr(0, slash).c_str(), 0755);
    }
    mkdir(root.c_str(), 0700);
  }
  UniqueFd dir(open(root.c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) {
    if (errno != ENOENT || create) {
      *problem = "cannot open " + root + ": " + std::strerror(errno);
    }
    return UniqueFd();
  }
  *problem = CheckPrivateDir(dir.get(), root);
  if (!problem->empty()) return UniqueFd();

  std::string name = DecisionCacheUserKey(user);
  if (name.empty()) {
    *problem = "SHA-256 failed";
    return UniqueFd();
  }
  if (create) mkdirat(dir.get(), name.c_str(), 0700);
  UniqueFd user_dir(openat(dir.get(), name.c_str(),
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (user_dir.get() < 0) {
    if (errno != ENOENT || create) {
      *problem = "cannot open " + root + "/" + name + ": " +
                 std::strerror(errno);
    }
    return UniqueFd();
  }
  *problem = CheckPrivateDir(user_dir.get(), root + "/" + name);
  if (!problem->empty()) return UniqueFd();
  return user_dir;
}

// Reads one entry: a regular root-owned file of at most kMaxEntryBytes.
// O_NONBLOCK keeps a FIFO in its place from blocking the open.
bool ReadEntry(int dir, const std::string& name, std::string* text) {
  UniqueFd fd(openat(dir, name.c_str(),
                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return false;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
      (st.st_mode & 077) != 0 || st.st_size > kMaxEntryBytes) {
    return false;
  }
  text->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < text->size()) {
    ssize_t n = read(fd.get(), text->data() + done, text->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The fields of a cache entry.
struct Entry {
  int64_t stored = 0;
  std::string token;
  std::string nonce;
};

// Parses an entry's JSON text. Returns false if it is not a well-formed
// entry.
bool ParseEntry(const std::string& text, Entry* entry) {
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_object()) return false;
  auto stored = parsed.find("stored");
  auto token = parsed.find("jws");
  auto nonce = parsed.find("nonce");
  if (stored == parsed.end() || !stored->is_number_integer() ||
      token == parsed.end() || !token->is_string() || nonce == parsed.end() ||
      !nonce->is_string()) {
    return false;
  }
  entry->stored = stored->get<int64_t>();
  entry->token = token->get<std::string>();
  entry->nonce = nonce->get<std::string>();
  return true;
}

// Returns whether an entry stored at stored is past the bound at now. A
// stored time ahead of the clock (stepped back since) makes the entry's age
// unknown, so such an entry counts as expired too.
bool Expired(int64_t stored, int64_t now, int64_t bound) {
  return stored > now || now - stored > bound;
}

// Returns whether name has the form of an entry's name: 64 lowercase hex
// digits, as DecisionCacheQueryKey returns.
bool IsEntryName(const std::string& name) {
  if (name.size() != 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// The action that pruning takes on one name in a user's directory.
enum class NameAction {
  kRemove,  // expired, unreadable or malformed, or not a regular file
  kKeep,    // an entry that is still valid, which eviction may remove
  kWait,    // a young file that is not an entry, as a write in progress makes
  kGone,    // no longer there
};

// Classifies one name in a user's directory, and for kKeep sets *modified
// to its modification time. Reads the entry's content only while
// *reads_left is above 0, and counts it down.
//
// Only fstatat with AT_SYMLINK_NOFOLLOW and openat with O_NOFOLLOW touch
// the name, so a symbolic link is classified as the link itself.
NameAction ClassifyName(int dir, const std::string& name, int64_t now,
                        int64_t bound, size_t* reads_left, timespec* modified) {
  struct stat st {};
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return NameAction::kGone;
  }
  if (!S_ISREG(st.st_mode)) return NameAction::kRemove;
  int64_t modified_sec = static_cast<int64_t>(st.st_mtim.tv_sec);
  if (!IsEntryName(name)) {
    bool young =
        modified_sec <= now + 1 && now - modified_sec < kStaleTemporarySec;
    return young ? NameAction::kWait : NameAction::kRemove;
  }
  // ReadEntry rejects such a file, so it can never be used.
  if (st.st_uid != 0 || (st.st_mode & 077) != 0 || st.st_size == 0 ||
      st.st_size > kMaxEntryBytes) {
    return NameAction::kRemove;
  }
  // WriteEntry writes an entry after taking its stored time, so an entry
  // modified longer ago than the bound was also stored longer ago. A time
  // ahead of the clock means that the clock was stepped back since, which
  // makes the entry's age unknown. The 1 s margin covers a file time that
  // is finer than time() and so a little ahead of it.
  if (modified_sec > now + 1 || now - modified_sec > bound) {
    return NameAction::kRemove;
  }
  if (*reads_left > 0) {
    --*reads_left;
    std::string text;
    Entry entry;
    if (!ReadEntry(dir, name, &text) || !ParseEntry(text, &entry) ||
        Expired(entry.stored, now, bound)) {
      return NameAction::kRemove;
    }
  }
  *modified = st.st_mtim;
  return NameAction::kKeep;
}

// Removes name from dir without following it: a symbolic link is removed
// as the link, and a directory only when it is empty.
void RemoveName(int dir, const std::string& name) {
  if (unlinkat(dir, name.c_str(), 0) != 0 && errno == EISDIR) {
    unlinkat(dir, name.c_str(), AT_REMOVEDIR);
  }
}

// A valid entry that a scan left in place.
struct KeptEntry {
  timespec modified;
  std::string name;

  bool operator<(const KeptEntry& other) const {
    if (modified.tv_sec != other.modified.tv_sec) {
      return modified.tv_sec < other.modified.tv_sec;
    }
    if (modified.tv_nsec != other.modified.tv_nsec) {
      return modified.tv_nsec < other.modified.tv_nsec;
    }
    return name < other.name;
  }
};

// The names that a scan of a user's directory left in place.
struct ScanResult {
  std::vector<KeptEntry> entries;
  // Young files that are not entries.
  size_t others = 0;
  // "" when the whole directory was scanned, or why it was not.
  std::string problem;
};

// Lists dir and removes every name that ClassifyName marks kRemove, except
// keep, the entry about to be written. Removing an entry costs at most a
// later broker round trip, so any doubt about an entry removes it. Stops
// after kMaxDecisionCacheScan names.
ScanResult ScanUserDir(int dir, const std::string& keep, int64_t now,
                       int64_t bound) {
  ScanResult result;
  // A descriptor of its own for the listing, so that readdir's offset is
  // not shared with dir.
  UniqueFd listing_fd(openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* listing = listing_fd.get() < 0 ? nullptr : fdopendir(listing_fd.get());
  if (listing == nullptr) {
    result.problem =
        "cannot list the decision cache: " + std::string(std::strerror(errno));
    return result;
  }
  listing_fd.Release();  // closedir closes it.

  size_t scanned = 0;
  size_t reads_left = kMaxDecisionCacheReads;
  while (true) {
    errno = 0;
    dirent* item = readdir(listing);
    if (item == nullptr) {
      if (errno != 0) {
        result.problem = "cannot list the decision cache: " +
                         std::string(std::strerror(errno));
      }
      break;
    }
    std::string name = item->d_name;
    if (name == "." || name == ".." || name == keep) continue;
    if (scanned == kMaxDecisionCacheScan) {
      result.problem = "the user's decision cache directory has more than " +
                       std::to_string(kMaxDecisionCacheScan) + " files";
      break;
    }
    ++scanned;
    timespec modified{};
    switch (ClassifyName(dir, name, now, bound, &reads_left, &modified)) {
      case NameAction::kRemove:
        RemoveName(dir, name);
        break;
      case NameAction::kKeep:
        result.entries.push_back({modified, name});
        break;
      case NameAction::kWait:
        ++result.others;
        break;
      case NameAction::kGone:
        break;
    }
  }
  closedir(listing);
  return result;
}

// Removes expired, malformed and surplus names from a user's directory dir
// so that one more entry, keep, fits under kMaxDecisionCacheEntries. At the
// limit, the entries written longest ago go first. Returns "" if keep may
// be written, or else why not. *evicted counts the valid entries removed
// at the limit.
std::string PruneUserDir(int dir, const std::string& keep, int64_t now,
                         int64_t bound, size_t* evicted) {
  *evicted = 0;
  ScanResult scan = ScanUserDir(dir, keep, now, bound);
  if (!scan.problem.empty()) return scan.problem;
  size_t count = scan.entries.size() + scan.others;
  std::sort(scan.entries.begin(), scan.entries.end());
  for (const KeptEntry& entry : scan.entries) {
    if (count < kMaxDecisionCacheEntries) break;
    if (unlinkat(dir, entry.name.c_str(), 0) == 0 || errno == ENOENT) {
      --count;
      ++*evicted;
    }
  }
  if (count >= kMaxDecisionCacheEntries) {
    return "the user's decision cache directory holds " +
           std::to_string(count) + " files that cannot be removed yet";
  }
  return "";
}

// Writes an entry through a temporary file and rename, so that a reader
// reads the old entry or the new one, never a part. Returns "" or what
// failed.
std::string WriteEntry(int dir, const std::string& name,
                       const std::string& text) {
  std::string temporary = name + ".tmp." + std::to_string(getpid());
  unlinkat(dir, temporary.c_str(), 0);
  UniqueFd fd(openat(dir, temporary.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0600));
  if (fd.get() < 0) {
    return "cannot create a cache entry: " + std::string(std::strerror(errno));
  }
  bool ok = fchmod(fd.get(), 0600) == 0;
  {
    // The invoking user's RLIMIT_FSIZE applies inside sudo. With SIGXFSZ
    // blocked, a write past it fails with EFBIG instead of ending sudo.
    ScopedSignalBlock block(SIGXFSZ);
    size_t done = 0;
    while (ok && done < text.size()) {
      ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n == 0) errno = EIO;  // write() made no progress
      ok = false;
    }
  }
  if (ok && renameat(dir, temporary.c_str(), dir, name.c_str()) == 0) return "";
  std::string failure =
      "cannot write a cache entry: " + std::string(std::strerror(errno));
  unlinkat(dir, temporary.c_str(), 0);
  return failure;
}

// Prunes the user's directory dir and then stores allow under name.
// Returns "" or, for the journal, why allow was not stored or how many
// entries were removed at the limit.
std::string StoreEntry(int dir, const std::string& name,
                       const HostConfig& config, const Decision& allow) {
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  size_t evicted = 0;
  std::string problem =
      PruneUserDir(dir, name, now, config.decision_cache_sec, &evicted);
  if (!problem.empty()) return problem + "; the decision was not cached";
  json entry = {{"stored", now}, {"nonce", allow.nonce}, {"jws", allow.token}};
  problem = WriteEntry(
      dir, name, entry.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!problem.empty()) return problem + "; the decision was not cached";
  if (evicted == 0) return "";
  return "the user's decision cache reached its limit of " +
         std::to_string(kMaxDecisionCacheEntries) + " entries, so the " +
         std::to_string(evicted) + " oldest were removed";
}

// Returns the cached decision for query, verified as a fresh one, or a
// decision with a verdict other than kAllow.
Decision Lookup(int dir, const std::string& name, const HostConfig& config,
                const std::vector<PinnedKey>& keys,
                const DecisionQuery& query, int64_t now) {
  Decision miss;
  miss.verdict = Verdict::kUnavailable;
  std::string text;
  if (!ReadEntry(dir, name, &text)) return miss;
  Entry entry;
  if (!ParseEntry(text, &entry) ||
      Expired(entry.stored, now, config.decision_cache_sec)) {
    unlinkat(dir, name.c_str(), 0);
    return miss;
  }
  Decision d = CheckSignedDecision(entry.token, keys, query, entry.nonce, now,
                                   config.clock_skew_sec);
  if (d.verdict != Verdict::kAllow) {
    unlinkat(dir, name.c_str(), 0);
    return miss;
  }
  // zsp-agent verifies the token again before it places work.
  d.token = entry.token;
  d.nonce = entry.nonce;
  d.cached = true;
  d.path = "cache";
  return d;
}

}  // namespace

std::string DecisionCacheUserKey(const std::string& user) {
  return Sha256Hex("zsp-cache-user\n" + user);
}

std::string DecisionCacheQueryKey(const DecisionQuery& query) {
  json question = {query.user, query.host,  query.kind,        query.runas,
                   query.argv, query.env,   query.runas_group};
  return Sha256Hex(
      "zsp-cache-query\n" +
      question.dump(-1, ' ', false, json::error_handler_t::replace));
}

Decision AskBrokerCached(const HostConfig& config,
                         const std::vector<PinnedKey>& keys,
                         const DecisionQuery& query, std::string* problem) {
  std::string ignored;
  if (problem == nullptr) problem = &ignored;
  problem->clear();
  if (config.decision_cache_sec <= 0 || geteuid() != 0) {
    return AskBroker(config, keys, query);
  }
  std::string name = DecisionCacheQueryKey(query);
  UniqueFd dir = OpenUserDir(config, query.user, true, problem);
  if (dir.get() < 0 || name.empty()) return AskBroker(config, keys, query);

  auto requested_at = std::chrono::steady_clock::now();
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  Decision cached = Lookup(dir.get(), name, config, keys, query, now);
  if (cached.verdict == Verdict::kAllow) {
    cached.requested_at = requested_at;
    return cached;
  }

  Decision fresh = AskBroker(config, keys, query);
  if (fresh.verdict == Verdict::kAllow && !fresh.token.empty()) {
    *problem = StoreEntry(dir.get(), name, config, fresh);
  }
  return fresh;
}

std::string StoreCachedDecision(const HostConfig& config,
                                const DecisionQuery& query,
                                const Decision& allow) {
  if (config.decision_cache_sec <= 0 || geteuid() != 0 ||
      allow.verdict != Verdict::kAllow || allow.token.empty()) {
    return "";
  }
  std::string problem;
  UniqueFd dir = OpenUserDir(config, query.user, true, &problem);
  if (dir.get() < 0) return problem;
  std::string name = DecisionCacheQueryKey(query);
  if (name.empty()) return "SHA-256 failed";
  return StoreEntry(dir.get(), name, config, allow);
}

std::string ClearDecisionCache(const HostConfig& config,
                               const std::string& user) {
  std::string problem;
  UniqueFd dir = OpenUserDir(config, user, false, &problem);
  if (dir.get() < 0) return problem;
  // fdopendir takes ownership of the descriptor, so it gets a copy.
  int listing_fd = dup(dir.get());
  if (listing_fd < 0) return "cannot list the cache: " +
                             std::string(std::strerror(errno));
  DIR* listing = fdopendir(listing_fd);
  if (listing == nullptr) {
    close(listing_fd);
    return "cannot list the cache: " + std::string(std::strerror(errno));
  }
  std::string failure;
  while (dirent* entry = readdir(listing)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (unlinkat(dir.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      failure = "cannot remove a cached decision: " +
                std::string(std::strerror(errno));
    }
  }
  closedir(listing);
  return failure;
}

}  // namespace zsp

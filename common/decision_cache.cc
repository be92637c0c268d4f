#include "common/decision_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/handles.h"
#include "common/signal_block.h"

namespace zsp {
namespace {

using nlohmann::json;

// A cached entry is a small JSON object, so a larger file is not one.
constexpr off_t kMaxEntryBytes = 64 * 1024;

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(),
                 nullptr) != 1) {
    return "";
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

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
bool ReadEntry(int dir, const std::string& name, std::string* text) {
  UniqueFd fd(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
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

// Writes an entry through a temporary file and rename, so that a reader
// sees the old entry or the new one, never a part.
void WriteEntry(int dir, const std::string& name, const std::string& text) {
  std::string temporary = name + ".tmp." + std::to_string(getpid());
  unlinkat(dir, temporary.c_str(), 0);
  UniqueFd fd(openat(dir, temporary.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0600));
  if (fd.get() < 0) return;
  bool ok = fchmod(fd.get(), 0600) == 0;
  {
    // The invoking user's RLIMIT_FSIZE applies inside sudo. With SIGXFSZ
    // blocked, a write past it fails with EFBIG instead of ending sudo.
    ScopedSignalBlock block(SIGXFSZ);
    size_t done = 0;
    while (ok && done < text.size()) {
      ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok = false;
      else done += static_cast<size_t>(n);
    }
  }
  if (ok && renameat(dir, temporary.c_str(), dir, name.c_str()) == 0) return;
  unlinkat(dir, temporary.c_str(), 0);
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
  json entry = json::parse(text, nullptr, false);
  auto stored = entry.is_object() ? entry.find("stored") : entry.end();
  auto token = entry.is_object() ? entry.find("jws") : entry.end();
  auto nonce = entry.is_object() ? entry.find("nonce") : entry.end();
  bool well_formed = entry.is_object() && stored != entry.end() &&
                     stored->is_number_integer() && token != entry.end() &&
                     token->is_string() && nonce != entry.end() &&
                     nonce->is_string();
  // A clock stepped back makes the entry's age unknown, so it is dropped.
  if (!well_formed || stored->get<int64_t>() > now ||
      now - stored->get<int64_t>() > config.decision_cache_sec) {
    unlinkat(dir, name.c_str(), 0);
    return miss;
  }
  Decision d = CheckSignedDecision(token->get<std::string>(), keys, query,
                                   nonce->get<std::string>(), now,
                                   config.clock_skew_sec);
  if (d.verdict != Verdict::kAllow) {
    unlinkat(dir, name.c_str(), 0);
    return miss;
  }
  // zsp-agent verifies the token again before it places work.
  d.token = token->get<std::string>();
  d.nonce = nonce->get<std::string>();
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
    json entry = {{"stored", static_cast<int64_t>(std::time(nullptr))},
                  {"nonce", fresh.nonce},
                  {"jws", fresh.token}};
    WriteEntry(dir.get(), name, entry.dump());
  }
  return fresh;
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

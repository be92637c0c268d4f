// A root-only cache of signed allow decisions. With decision_cache set in
// zsp.conf, a sudo or login repeated within that many seconds reuses the
// broker's signed decision for the same query instead of sending a new
// request, so it needs no network round trip and does not load libcurl.
//
// Each reuse verifies the cached token exactly as a fresh one (pinned key,
// user, host, kind, run-as, argv, environment names, nonce, token lifetime,
// grant end) and checks that it was stored at most decision_cache seconds
// ago by this host's clock. Only allows are cached. A grant revoked at the
// broker therefore still allows the same command on this host for at most
// decision_cache seconds; `sudo -k` removes the invoking user's entries.
//
// Each write first removes the user's expired entries and keeps at most
// kMaxDecisionCacheEntries (StoreCachedDecision), so that a user who runs
// many distinct commands cannot fill /run with cache files.
#ifndef ZSP_COMMON_DECISION_CACHE_H_
#define ZSP_COMMON_DECISION_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/decision.h"

namespace zsp {

// Maximum number of entries in one user's cache directory. A write at this
// limit first removes the entries written longest ago. Writes that run at
// the same time can each add one entry past it.
inline constexpr size_t kMaxDecisionCacheEntries = 1000;

// Maximum number of names that one write examines in a user's cache
// directory, which bounds the work that a write adds to a sudo or login. A
// directory with more names than this (left by an older zsp, for example)
// loses its expired entries a batch per write, and no new entry is stored
// until it is back under the limit.
inline constexpr size_t kMaxDecisionCacheScan = 2 * kMaxDecisionCacheEntries;

// Maximum number of entries whose content one write reads and checks.
// Entries past this number are checked by their file metadata alone, and
// like every entry are removed once written longer ago than the bound. On
// a 2-core VM with the directory on tmpfs, a write at the limit of 1000
// entries took 13 to 20 ms when it read them all, and 2.6 to 3.1 ms with
// this number.
inline constexpr size_t kMaxDecisionCacheReads = 100;

// Returns a cached allow for query if one is still valid, and otherwise
// calls AskBroker and caches an allow. The cache is used only when
// config.decision_cache_sec is above 0 and the process runs as root. A
// cache directory that is not root-owned with mode 0700 is skipped, and
// *problem (if not null) describes it.
Decision AskBrokerCached(const HostConfig& config,
                         const std::vector<PinnedKey>& keys,
                         const DecisionQuery& query,
                         std::string* problem = nullptr);

// Stores allow, the broker's allow for query with its token and nonce, in
// the user's cache directory. Before the write it removes from that
// directory, without following symbolic links: anything that is not a
// regular file, every entry written more than decision_cache_sec ago, every
// unreadable or malformed entry, and then the entries written longest ago
// beyond kMaxDecisionCacheEntries. It reads the content of at most
// kMaxDecisionCacheReads entries and judges the rest by their metadata.
// Returns "" or, for the journal, why the entry was not stored or how many
// entries were removed at the limit. A failed write never changes the
// decision. Does nothing unless the cache is on, the process runs as root
// and allow is an allow with a token. AskBrokerCached calls it after an
// allow; exposed for tests.
std::string StoreCachedDecision(const HostConfig& config,
                                const DecisionQuery& query,
                                const Decision& allow);

// Removes every cached decision for user. Returns "" or what failed.
std::string ClearDecisionCache(const HostConfig& config,
                               const std::string& user);

// Returns the cache's file names, exposed for tests: the hex SHA-256 of
// the user name, and of the whole query.
std::string DecisionCacheUserKey(const std::string& user);
std::string DecisionCacheQueryKey(const DecisionQuery& query);

}  // namespace zsp

#endif  // ZSP_COMMON_DECISION_CACHE_H_

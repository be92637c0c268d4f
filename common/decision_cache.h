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
#ifndef ZSP_COMMON_DECISION_CACHE_H_
#define ZSP_COMMON_DECISION_CACHE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/decision.h"

namespace zsp {

// Returns a cached allow for query if one is still valid, and otherwise
// calls AskBroker and caches an allow. The cache is used only when
// config.decision_cache_sec is above 0 and the process runs as root. A
// cache directory that is not root-owned with mode 0700 is skipped, and
// *problem (if not null) describes it.
Decision AskBrokerCached(const HostConfig& config,
                         const std::vector<PinnedKey>& keys,
                         const DecisionQuery& query,
                         std::string* problem = nullptr);

// Removes every cached decision for user. Returns "" or what failed.
std::string ClearDecisionCache(const HostConfig& config,
                               const std::string& user);

// Returns the cache's file names, exposed for tests: the hex SHA-256 of
// the user name, and of the whole query.
std::string DecisionCacheUserKey(const std::string& user);
std::string DecisionCacheQueryKey(const DecisionQuery& query);

}  // namespace zsp

#endif  // ZSP_COMMON_DECISION_CACHE_H_

// The broker's written policy (DIR/policy.toml, format in docs/policy.md):
// which entitlements exist, who may request each, what it grants, who
// approves it and how. Every request must match an entitlement, so the
// policy is the only source of grants.
#ifndef ZSP_BROKER_POLICY_FILE_H_
#define ZSP_BROKER_POLICY_FILE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "broker/model.h"
#include "common/result.h"

namespace zsp::broker {

inline constexpr char kPolicyFileName[] = "policy.toml";
// Largest policy file the broker reads, in bytes.
inline constexpr size_t kMaxPolicyBytes = 1024 * 1024;

// Auto-approval: a listed requester filing during the listed hours (UTC)
// gets the grant without an approver.
struct AutoApproveRule {
  std::vector<std::string> requesters;  // person names, or "*"
  int start_minute = 0;  // minutes after 00:00 UTC, inclusive
  int end_minute = 0;    // exclusive; below start_minute wraps past midnight
  unsigned days = 0x7f;  // bit 0 is Monday, bit 6 Sunday
  std::string description;  // "alice,carol 22:00-06:00 mon-sun"
};

struct Entitlement {
  std::string name;
  int line = 0;  // where its table starts in the policy file
  std::vector<std::string> hosts;       // fnmatch(3) patterns, groups expanded
  std::vector<std::string> requesters;  // person names, or "*"
  bool login = false;
  std::vector<std::string> runas;     // user names, or "*"; empty: no sudo
  std::vector<std::string> commands;  // command patterns, or "*"
  // sudo only: groups a request may name for sudo -g, or "*"; empty: none.
  std::vector<std::string> runas_groups;
  // sudo only: environment variable names a request may let the user set
  // (VAR=value); "*" allows any name and sudo -E. Empty: none.
  std::vector<std::string> env;
  std::vector<std::string> approvers;  // person names, or "*"
  int approvals = 1;                   // distinct approvals needed
  int64_t max_duration = 3600;         // seconds
  int64_t pending_lifetime = 3600;     // seconds until a request expires
  bool reason_required = true;
  std::string reason_pattern;  // ECMAScript regex the reason must match
  std::optional<std::regex> reason_regex;
  std::vector<AutoApproveRule> auto_approve;

  // True when the entitlement can grant a shell or any command.
  bool GrantsFullRoot() const;
};

// Where the broker posts notifications (docs/policy.md, "Webhooks").
struct Webhook {
  std::string name;
  std::string url;     // https://, or http:// to a loopback address
  std::string secret;  // HMAC-SHA256 key, read from secret_file
  bool slack = false;  // post a Slack-compatible {"text": ...} payload
  // Event names. Empty means every event except audit_alert, which a
  // webhook receives only when it names it.
  std::vector<std::string> events;
};

struct Policy {
  std::string path;
  std::vector<Entitlement> entitlements;
  std::vector<Webhook> webhooks;

  const Entitlement* Find(const std::string& name) const;
};

// Parses policy text. Errors read "PATH:LINE: FIELD: what is wrong".
Result<Policy> ParsePolicy(const std::string& text, const std::string& path);

Result<Policy> LoadPolicy(const std::string& path);

// The policy that init writes: one entitlement that lets anyone request
// login or sudo as any user and group, with any environment variables, for
// any command on any host, with one approval from a person with the
// approver role.
std::string DefaultPolicyText();

// The policy's decision on a new request.
struct PolicyVerdict {
  const Entitlement* entitlement = nullptr;  // null: rejected
  std::string message;  // rejected: why no entitlement covers the request
  bool full_root = false;
  // Set when an auto-approval rule of the entitlement matches.
  std::optional<std::string> auto_approved_by;
};

// Finds the first entitlement, in file order, that covers the request and
// that its requester may use. now is Unix seconds, for auto-approval.
PolicyVerdict CheckRequestAgainstPolicy(const Policy& policy,
                                        const AccessRequest& request,
                                        int64_t now);

// True when person is among the entitlement's approvers. The requester is
// never an approver of their own request; the store enforces that.
bool MayApprove(const Entitlement& entitlement, const std::string& person);

// True when one argument matches its pattern. The wildcards * ? [...]
// match within this one argument, and a pattern with wildcards never
// matches an argument that has a ".." path segment.
bool ArgumentMatches(const std::string& pattern, const std::string& arg);

// True when the policy command pattern covers a requested command entry
// (docs/policy.md, "Commands").
bool CommandPatternCovers(const std::string& pattern,
                          const std::string& entry);

// True when the command entry runs a shell or anything at all ("*").
bool IsFullRootCommand(const std::string& entry);

// True when a requested host (a name or a pattern) lies within the policy
// host pattern.
bool HostWithinPattern(const std::string& pattern, const std::string& host);

// The policy in force, swapped whole on reload; safe from several threads.
class PolicyHolder {
 public:
  explicit PolicyHolder(Policy policy)
      : policy_(std::make_shared<const Policy>(std::move(policy))) {}

  std::shared_ptr<const Policy> Get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return policy_;
  }
  void Set(Policy policy) {
    auto next = std::make_shared<const Policy>(std::move(policy));
    std::lock_guard<std::mutex> lock(mutex_);
    policy_ = std::move(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Policy> policy_;
};

}  // namespace zsp::broker

#endif  // ZSP_BROKER_POLICY_FILE_H_

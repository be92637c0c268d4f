// Break-glass tokens: emergency access that a host can verify with no
// broker. A token names one user, a host pattern, a scope (login, sudo or
// both), the run-as user for sudo and a short validity window, and carries
// Ed25519 signatures from break-glass keys, which are never the broker's
// decision key. A host accepts a token only with at least the configured
// number of signatures from distinct listed keys, and only once.
//
// Text form, all on one line:
//   zsp-bg1.PAYLOAD.KID.SIGNATURE[.KID.SIGNATURE]...
// PAYLOAD is the base64url of a JSON object with exactly the members id,
// user, host, scope, runas (sudo and both only), reason, nbf and exp.
// Each SIGNATURE is the base64url Ed25519 signature of the ASCII text
// "zsp-bg1.PAYLOAD" by the key whose id (Ed25519KeyId) is KID.
#ifndef ZSP_COMMON_BREAKGLASS_H_
#define ZSP_COMMON_BREAKGLASS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/jws.h"
#include "common/result.h"

namespace zsp {

inline constexpr char kBreakGlassPrefix[] = "zsp-bg1";
// Maximum token text length accepted. sudo's conversation returns at most 1023
// bytes (SUDO_CONV_REPL_MAX in sudo_plugin.h, sudo 1.9.13).
inline constexpr size_t kMaxBreakGlassTokenBytes = 1023;
inline constexpr size_t kMaxBreakGlassSignatures = 8;
inline constexpr size_t kMaxBreakGlassReasonBytes = 120;
// Maximum validity window of any token, whatever the host allows.
inline constexpr int64_t kMaxBreakGlassLifetimeSec = 24 * 3600;
// File in the spool directory that lists spent token ids.
inline constexpr char kBreakGlassSpentFileName[] = "breakglass-spent";

struct BreakGlassToken {
  std::string id;            // "bg-" and 16 hex digits, unique per token
  std::string user;          // the only account it opens
  std::string host_pattern;  // shell glob over host names, e.g. db-*.corp
  std::string scope;         // "login", "sudo" or "both"
  std::string runas;         // sudo's run-as user; empty for login
  std::string reason;        // why it was issued, shown in the audit trail
  int64_t not_before = 0;    // Unix seconds
  int64_t expires = 0;       // Unix seconds, exclusive
  std::vector<std::string> signers;  // key ids, in token order
};

// Checks the fields of a token that is about to be signed; "" or the
// problem.
std::string CheckBreakGlassFields(const BreakGlassToken& token);

// True for a token id as NewBreakGlassId makes them: "bg-" and 16
// lowercase hex digits.
bool IsBreakGlassId(std::string_view id);

// Returns a random token id, or "" if the random generator failed.
std::string NewBreakGlassId();

// Builds a token from fields and signs it with private_key.
Result<std::string> IssueBreakGlassToken(const BreakGlassToken& fields,
                                         EVP_PKEY* private_key);

// Adds a signature by private_key. Fails when that key has already signed.
// The existing signatures are not verified here.
Result<std::string> AddBreakGlassSignature(std::string_view text,
                                           EVP_PKEY* private_key);

// Decodes a token and its signer ids without checking any signature, for
// display and before signing.
Result<BreakGlassToken> DecodeBreakGlassToken(std::string_view text);

// The host's break-glass settings with the keys loaded.
struct BreakGlassPolicy {
  std::vector<PinnedKey> keys;
  size_t required_signatures = 2;
  int64_t max_lifetime_sec = 4 * 3600;
  int64_t clock_skew_sec = 30;
};

// Loads breakglass_key files from config. Fails when none is listed, when
// two files hold the same key, when a key is also a decision key, or when
// fewer keys are listed than breakglass_signatures requires.
Result<BreakGlassPolicy> LoadBreakGlassPolicy(const HostConfig& config);

// What a token is presented for.
struct BreakGlassUse {
  std::string user;
  std::string host;
  std::string kind;   // "login" or "sudo"
  std::string runas;  // sudo only
  int64_t now = 0;
};

enum class BreakGlassStatus {
  kValid,
  kMalformed,          // not a token, bad encoding, bad or extra members
  kUnknownKey,         // a signer id that the host does not list
  kBadSignature,       // a signature that does not verify: tampering
  kDuplicateSigner,    // the same key signed twice
  kTooFewSignatures,   // fewer distinct valid signatures than required
  kTooLong,            // validity window longer than the host allows
  kNotYetValid,
  kExpired,
  kWrongUser,
  kWrongHost,
  kWrongScope,         // wrong kind, or sudo as another run-as user
  kLibraryError,       // libsodium failed, so the token was not checked
};

// A stable lower-case name for logs, e.g. "too-few-signatures".
const char* BreakGlassStatusName(BreakGlassStatus status);

struct BreakGlassCheck {
  BreakGlassStatus status = BreakGlassStatus::kMalformed;
  BreakGlassToken token;  // the decoded fields once decoding succeeded
  std::string detail;     // why, when status is not kValid
};

// Verifies every signature, then the signature count, the window and the
// binding to use. Does not record the token as spent.
BreakGlassCheck VerifyBreakGlassToken(std::string_view text,
                                      const BreakGlassPolicy& policy,
                                      const BreakGlassUse& use);

enum class SpendStatus { kSpent, kAlreadySpent, kError };

struct SpendResult {
  SpendStatus status = SpendStatus::kError;
  std::string detail;  // for kAlreadySpent and kError
};

// Records token_id as spent in spool_dir/breakglass-spent under an
// exclusive lock, fsyncs it, and reports kAlreadySpent if it was there
// before. The file is root-only like the audit spool.
SpendResult SpendBreakGlassToken(const std::string& spool_dir,
                                 const std::string& token_id,
                                 int64_t expires, int64_t now);

}  // namespace zsp

#endif  // ZSP_COMMON_BREAKGLASS_H_

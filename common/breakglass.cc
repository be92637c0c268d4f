#include "common/breakglass.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/base64url.h"
#include "common/breakglass_parts.h"
#include "common/crypto.h"
#include "common/escape.h"
#include "common/handles.h"
#include "common/text.h"

namespace zsp {
namespace {

using nlohmann::json;

constexpr size_t kMaxNameBytes = 32;
constexpr size_t kMaxHostPatternBytes = 253;
constexpr size_t kIdHexDigits = 16;
// A spent-token file larger than this is not read, and spending fails
// closed. Each line is about 40 bytes, so this is some 25000 uses.
constexpr off_t kMaxSpentFileBytes = 1024 * 1024;

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || name[0] == '-') {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Host name characters plus the glob characters '*' and '?'.
bool IsValidHostPattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > kMaxHostPatternBytes) return false;
  for (char c : pattern) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*' ||
              c == '?';
    if (!ok) return false;
  }
  return true;
}

bool IsValidId(std::string_view id) {
  if (id.size() != 3 + kIdHexDigits || id.substr(0, 3) != "bg-") return false;
  for (char c : id.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsPrintableText(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return IsValidUtf8(std::string(text));
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Key ids come from the token text, so they are escaped and capped
// before they reach a message.
std::string ShowKeyId(std::string_view kid) {
  return EscapeForLog(std::string(kid), 32);
}

BreakGlassCheck Reject(BreakGlassCheck check, BreakGlassStatus status,
                       std::string detail) {
  check.status = status;
  check.detail = std::move(detail);
  return check;
}

// Checks every signature; on success fills check->token.signers.
BreakGlassCheck CheckSignatures(BreakGlassCheck check,
                                const BreakGlassParts& parts,
                                const BreakGlassPolicy& policy) {
  std::string input = BreakGlassSigningInput(parts.payload_b64);
  std::set<std::string> seen;
  for (const auto& [kid, signature_b64] : parts.signatures) {
    if (!seen.insert(kid).second) {
      return Reject(std::move(check), BreakGlassStatus::kDuplicateSigner,
                    "key " + ShowKeyId(kid) + " signed more than once");
    }
    const PinnedKey* key = nullptr;
    for (const auto& k : policy.keys) {
      if (k.kid == kid) key = &k;
    }
    if (key == nullptr) {
      return Reject(std::move(check), BreakGlassStatus::kUnknownKey,
                    "signature by key " + ShowKeyId(kid) +
                        ", which is not a breakglass_key of this host");
    }
    auto signature = Base64UrlDecode(signature_b64);
    if (!signature || signature->size() != kEd25519SignatureBytes) {
      return Reject(std::move(check), BreakGlassStatus::kBadSignature,
                    "signature by key " + kid + " is malformed");
    }
    SignatureCheck result = VerifyEd25519(key->key, input, *signature);
    if (result == SignatureCheck::kLibraryError) {
      return Reject(std::move(check), BreakGlassStatus::kLibraryError,
                    "libsodium failed to start");
    }
    if (result != SignatureCheck::kValid) {
      return Reject(std::move(check), BreakGlassStatus::kBadSignature,
                    "signature by key " + kid + " does not verify");
    }
    check.token.signers.push_back(kid);
  }
  if (check.token.signers.size() < policy.required_signatures) {
    return Reject(std::move(check), BreakGlassStatus::kTooFewSignatures,
                  std::to_string(check.token.signers.size()) +
                      " valid signatures, this host requires " +
                      std::to_string(policy.required_signatures));
  }
  return check;
}

// Checks the window and what the token names against the use.
BreakGlassCheck CheckBinding(BreakGlassCheck check,
                             const BreakGlassPolicy& policy,
                             const BreakGlassUse& use) {
  const BreakGlassToken& t = check.token;
  if (t.expires - t.not_before > policy.max_lifetime_sec) {
    return Reject(std::move(check), BreakGlassStatus::kTooLong,
                  "validity window of " +
                      std::to_string(t.expires - t.not_before) +
                      " s is longer than breakglass_max_lifetime (" +
                      std::to_string(policy.max_lifetime_sec) + " s)");
  }
  if (use.now + policy.clock_skew_sec < t.not_before) {
    return Reject(std::move(check), BreakGlassStatus::kNotYetValid,
                  "token is valid from Unix time " +
                      std::to_string(t.not_before));
  }
  if (use.now >= t.expires) {
    return Reject(std::move(check), BreakGlassStatus::kExpired,
                  "token expired at Unix time " + std::to_string(t.expires));
  }
  if (t.user != use.user) {
    return Reject(std::move(check), BreakGlassStatus::kWrongUser,
                  "token is for another user");
  }
  if (use.host.empty() || fnmatch(Lower(t.host_pattern).c_str(),
                                  Lower(use.host).c_str(), 0) != 0) {
    return Reject(std::move(check), BreakGlassStatus::kWrongHost,
                  "token is for hosts " + t.host_pattern + ", not this one");
  }
  bool kind_ok = t.scope == "both" || t.scope == use.kind;
  if (!kind_ok) {
    return Reject(std::move(check), BreakGlassStatus::kWrongScope,
                  "token is for " + t.scope + ", not " + use.kind);
  }
  if (use.kind == "sudo" && t.runas != use.runas) {
    return Reject(std::move(check), BreakGlassStatus::kWrongScope,
                  "token allows sudo as " + t.runas + " only");
  }
  check.status = BreakGlassStatus::kValid;
  return check;
}

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Opens (creating if needed) dir/breakglass-spent; refuses anything not
// owned by root or open to group or others. *created reports whether the
// file is new, so that the directory entry can be synced too.
Result<UniqueFd> OpenSpentFile(const std::string& dir, UniqueFd* dir_fd,
                               bool* created) {
  // Missing parents are created 0755 and the directory itself 0700, as
  // the audit spool does.
  for (size_t slash = dir.find('/', 1); slash != std::string::npos;
       slash = dir.find('/', slash + 1)) {
    std::string parent = dir.substr(0, slash);
    if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
      return Error{Errno("cannot create " + parent)};
    }
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error{Errno("cannot create " + dir)};
  }
  UniqueFd dfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                                      O_NOFOLLOW));
  if (dfd.get() < 0) return Error{Errno("cannot open " + dir)};
  struct stat st {};
  if (fstat(dfd.get(), &st) != 0) return Error{Errno("cannot stat " + dir)};
  if (st.st_uid != 0 || (st.st_mode & 077) != 0) {
    return Error{dir + " is not owned by root or is open to group or others"};
  }
  std::string path = dir + "/" + kBreakGlassSpentFileName;
  UniqueFd fd(openat(dfd.get(), kBreakGlassSpentFileName,
                     O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
  *created = false;
  if (fd.get() < 0 && errno == ENOENT) {
    fd = UniqueFd(openat(dfd.get(), kBreakGlassSpentFileName,
                         O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                         0600));
    *created = fd.get() >= 0;
  }
  if (fd.get() < 0) return Error{Errno("cannot open " + path)};
  if (fstat(fd.get(), &st) != 0) return Error{Errno("cannot stat " + path)};
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) != 0) {
    return Error{path + " is not a root-only regular file"};
  }
  *dir_fd = std::move(dfd);
  return fd;
}

}  // namespace

std::string BreakGlassSigningInput(std::string_view payload_b64) {
  return std::string(kBreakGlassPrefix) + "." + std::string(payload_b64);
}

Result<BreakGlassParts> SplitBreakGlassToken(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' ||
                           text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  if (text.size() > kMaxBreakGlassTokenBytes) {
    return Error{"token is longer than " +
                 std::to_string(kMaxBreakGlassTokenBytes) + " bytes"};
  }
  std::vector<std::string> parts = SplitString(std::string(text), '.');
  if (parts.empty() || parts[0] != kBreakGlassPrefix) {
    return Error{"not a break-glass token (it must start with " +
                 std::string(kBreakGlassPrefix) + ".)"};
  }
  if (parts.size() < 4 || parts.size() % 2 != 0) {
    return Error{"token has no signature or an incomplete one"};
  }
  BreakGlassParts out;
  out.payload_b64 = parts[1];
  for (size_t i = 2; i + 1 < parts.size(); i += 2) {
    out.signatures.emplace_back(parts[i], parts[i + 1]);
  }
  if (out.signatures.size() > kMaxBreakGlassSignatures) {
    return Error{"token has more than " +
                 std::to_string(kMaxBreakGlassSignatures) + " signatures"};
  }
  return out;
}

Result<BreakGlassToken> DecodeBreakGlassPayload(
    const std::string& payload_b64) {
  auto bytes = Base64UrlDecode(payload_b64);
  if (!bytes) return Error{"payload is not valid base64url"};
  json payload = json::parse(*bytes, nullptr, false);
  if (!payload.is_object()) return Error{"payload is not a JSON object"};

  static const std::set<std::string> kMembers = {
      "id", "user", "host", "scope", "runas", "reason", "nbf", "exp"};
  for (const auto& [name, value] : payload.items()) {
    if (kMembers.count(name) == 0) {
      return Error{"payload has an unknown member " + name};
    }
  }
  BreakGlassToken token;
  auto text = [&](const char* name, std::string* out, bool required) {
    auto it = payload.find(name);
    if (it == payload.end()) return !required;
    if (!it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  auto number = [&](const char* name, int64_t* out) {
    auto it = payload.find(name);
    if (it == payload.end() || !it->is_number_integer()) return false;
    *out = it->get<int64_t>();
    return true;
  };
  if (!text("id", &token.id, true) || !text("user", &token.user, true) ||
      !text("host", &token.host_pattern, true) ||
      !text("scope", &token.scope, true) ||
      !text("runas", &token.runas, false) ||
      !text("reason", &token.reason, true) ||
      !number("nbf", &token.not_before) || !number("exp", &token.expires)) {
    return Error{"payload lacks a member or has one of the wrong type"};
  }
  if (payload.contains("runas") && token.scope == "login") {
    return Error{"payload has runas with scope login"};
  }
  std::string problem = CheckBreakGlassFields(token);
  if (!problem.empty()) return Error{"payload: " + problem};
  return token;
}

std::string CheckBreakGlassFields(const BreakGlassToken& t) {
  if (!IsValidId(t.id)) return "id must be bg- and 16 hex digits";
  if (!IsValidName(t.user)) return "user is not a valid user name";
  if (!IsValidHostPattern(t.host_pattern)) {
    return "host must be a host name or a pattern with * and ?";
  }
  if (t.scope != "login" && t.scope != "sudo" && t.scope != "both") {
    return "scope must be login, sudo or both";
  }
  if (t.scope == "login" ? !t.runas.empty() : !IsValidName(t.runas)) {
    return t.scope == "login" ? "runas is only for sudo and both"
                              : "runas is not a valid user name";
  }
  if (t.reason.empty() || t.reason.size() > kMaxBreakGlassReasonBytes ||
      !IsPrintableText(t.reason)) {
    return "reason must be 1 to " + std::to_string(kMaxBreakGlassReasonBytes) +
           " bytes of printable UTF-8";
  }
  if (t.not_before <= 0 || t.expires <= t.not_before) {
    return "exp must be later than nbf";
  }
  if (t.expires - t.not_before > kMaxBreakGlassLifetimeSec) {
    return "validity window is longer than 24 hours";
  }
  return "";
}

bool IsBreakGlassId(std::string_view id) { return IsValidId(id); }

Result<BreakGlassToken> DecodeBreakGlassToken(std::string_view text) {
  auto parts = SplitBreakGlassToken(text);
  if (!parts.ok()) return Error{parts.error()};
  auto token = DecodeBreakGlassPayload(parts.value().payload_b64);
  if (!token.ok()) return token;
  for (const auto& [kid, signature] : parts.value().signatures) {
    token.value().signers.push_back(kid);
  }
  return token;
}

Result<BreakGlassPolicy> LoadBreakGlassPolicy(const HostConfig& config) {
  if (config.breakglass_keys.empty()) {
    return Error{"no breakglass_key is configured"};
  }
  BreakGlassPolicy policy;
  policy.required_signatures =
      static_cast<size_t>(config.breakglass_signatures);
  policy.max_lifetime_sec = config.breakglass_max_lifetime_sec;
  policy.clock_skew_sec = config.clock_skew_sec;

  std::set<std::string> decision_kids;
  for (const auto& path : config.decision_keys) {
    auto key = LoadEd25519PublicKey(path);
    if (key.ok()) decision_kids.insert(Ed25519KeyId(key.value()));
  }
  for (const auto& path : config.breakglass_keys) {
    auto key = LoadHostPublicKey(path);
    if (!key.ok()) return Error{"breakglass_key: " + key.error()};
    std::string kid = Ed25519KeyId(key.value());
    if (decision_kids.count(kid) > 0) {
      return Error{"breakglass_key " + path +
                   " is also a decision_key; break-glass keys must be "
                   "separate from the broker's key"};
    }
    for (const auto& existing : policy.keys) {
      if (existing.kid == kid) {
        return Error{"breakglass_key " + path +
                     " repeats a key listed before it"};
      }
    }
    policy.keys.push_back({kid, std::move(key.value())});
  }
  if (policy.keys.size() < policy.required_signatures) {
    return Error{"breakglass_signatures is " +
                 std::to_string(policy.required_signatures) + " but only " +
                 std::to_string(policy.keys.size()) +
                 " breakglass_key settings are listed"};
  }
  return policy;
}

const char* BreakGlassStatusName(BreakGlassStatus status) {
  switch (status) {
    case BreakGlassStatus::kValid:
      return "valid";
    case BreakGlassStatus::kMalformed:
      return "malformed";
    case BreakGlassStatus::kUnknownKey:
      return "unknown-key";
    case BreakGlassStatus::kBadSignature:
      return "bad-signature";
    case BreakGlassStatus::kDuplicateSigner:
      return "duplicate-signer";
    case BreakGlassStatus::kTooFewSignatures:
      return "too-few-signatures";
    case BreakGlassStatus::kTooLong:
      return "window-too-long";
    case BreakGlassStatus::kNotYetValid:
      return "not-yet-valid";
    case BreakGlassStatus::kExpired:
      return "expired";
    case BreakGlassStatus::kWrongUser:
      return "wrong-user";
    case BreakGlassStatus::kWrongHost:
      return "wrong-host";
    case BreakGlassStatus::kWrongScope:
      return "wrong-scope";
    case BreakGlassStatus::kLibraryError:
      return "library-error";
  }
  return "unknown";
}

BreakGlassCheck VerifyBreakGlassToken(std::string_view text,
                                      const BreakGlassPolicy& policy,
                                      const BreakGlassUse& use) {
  BreakGlassCheck check;
  auto parts = SplitBreakGlassToken(text);
  if (!parts.ok()) {
    return Reject(std::move(check), BreakGlassStatus::kMalformed,
                  parts.error());
  }
  auto token = DecodeBreakGlassPayload(parts.value().payload_b64);
  if (!token.ok()) {
    return Reject(std::move(check), BreakGlassStatus::kMalformed,
                  token.error());
  }
  check.token = std::move(token.value());
  check = CheckSignatures(std::move(check), parts.value(), policy);
  if (!check.detail.empty()) return check;
  return CheckBinding(std::move(check), policy, use);
}

SpendResult SpendBreakGlassToken(const std::string& spool_dir,
                                 const std::string& token_id, int64_t expires,
                                 int64_t now) {
  SpendResult result;
  if (!IsValidId(token_id)) {
    result.detail = "invalid token id";
    return result;
  }
  UniqueFd dir_fd;
  bool created = false;
  auto fd = OpenSpentFile(spool_dir, &dir_fd, &created);
  if (!fd.ok()) {
    result.detail = fd.error();
    return result;
  }
  int raw = fd.value().get();
  while (flock(raw, LOCK_EX) != 0) {
    if (errno != EINTR) {
      result.detail = Errno("cannot lock the spent-token file");
      return result;
    }
  }
  // The lock ends when the descriptor is closed.
  struct stat st {};
  if (fstat(raw, &st) != 0 || st.st_size > kMaxSpentFileBytes) {
    result.detail = "the spent-token file is unreadable or larger than 1 MiB";
    return result;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  if (pread(raw, text.data(), text.size(), 0) !=
      static_cast<ssize_t>(text.size())) {
    result.detail = Errno("cannot read the spent-token file");
    return result;
  }
  for (const auto& line : SplitString(text, '\n')) {
    if (line.rfind(token_id + " ", 0) == 0 || line == token_id) {
      result.status = SpendStatus::kAlreadySpent;
      result.detail = "token " + token_id + " has already been used here";
      return result;
    }
  }
  std::string line = token_id + " " + std::to_string(expires) + " " +
                     std::to_string(now) + "\n";
  if (!WriteAll(raw, line) || fsync(raw) != 0 ||
      (created && fsync(dir_fd.get()) != 0)) {
    result.detail = Errno("cannot record the token as spent");
    return result;
  }
  result.status = SpendStatus::kSpent;
  return result;
}

}  // namespace zsp

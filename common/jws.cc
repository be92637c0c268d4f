#include "common/jws.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/config.h"

namespace zsp {
namespace {

// A key file larger than this is not a PEM public key.
constexpr size_t kMaxKeyFileBytes = 16 * 1024;

VerifiedJws Fail(JwsStatus status, std::string detail) {
  VerifiedJws out;
  out.status = status;
  out.detail = std::move(detail);
  return out;
}

// Reads and parses the public key file at path. With root_only, the file
// must also be owned by root and not writable by group or others.
Result<Ed25519PublicKey> LoadPublicKeyFile(const std::string& path,
                                           bool root_only) {
  // O_NONBLOCK keeps open() from waiting for a writer when path is a FIFO,
  // which would hang every sudo and login.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    return Error{"cannot open key file " + path + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    return Error{"cannot read key file " + path + ": " + std::strerror(errno)};
  }
  if (!S_ISREG(st.st_mode)) {
    return Error{"key file " + path + " is not a regular file"};
  }
  if (root_only) {
    std::string problem = RootOnlyProblem(st, "key file " + path);
    if (!problem.empty()) return Error{problem};
  }

  std::string text(kMaxKeyFileBytes + 1, '\0');
  size_t size = 0;
  while (size < text.size()) {
    ssize_t n = read(fd.get(), text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Error{"cannot read key file " + path + ": " +
                   std::strerror(errno)};
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > kMaxKeyFileBytes) {
    return Error{"key file " + path + " is larger than " +
                 std::to_string(kMaxKeyFileBytes) + " bytes"};
  }
  text.resize(size);
  return ParseEd25519PublicKeyPem(text, path);
}

}  // namespace

Result<Ed25519PublicKey> LoadEd25519PublicKey(const std::string& path) {
  return LoadPublicKeyFile(path, false);
}

Result<Ed25519PublicKey> LoadHostPublicKey(const std::string& path) {
  return LoadPublicKeyFile(path, true);
}

VerifiedJws VerifyJws(std::string_view compact,
                      const std::vector<PinnedKey>& keys,
                      std::string_view expected_type) {
  if (compact.size() > kMaxJwsBytes) {
    return Fail(JwsStatus::kMalformed, "token too long");
  }
  size_t dot1 = compact.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1
                                                : compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos ||
      compact.find('.', dot2 + 1) != std::string_view::npos) {
    return Fail(JwsStatus::kMalformed, "not a compact JWS");
  }
  auto header_json = Base64UrlDecode(compact.substr(0, dot1));
  auto payload = Base64UrlDecode(compact.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = Base64UrlDecode(compact.substr(dot2 + 1));
  if (!header_json || !payload || !signature) {
    return Fail(JwsStatus::kMalformed, "invalid base64url");
  }

  auto header = nlohmann::json::parse(*header_json, nullptr, false);
  if (!header.is_object()) return Fail(JwsStatus::kMalformed, "bad header");
  auto alg = header.find("alg");
  auto kid = header.find("kid");
  auto typ = header.find("typ");
  if (alg == header.end() || !alg->is_string() || *alg != "EdDSA") {
    return Fail(JwsStatus::kMalformed, "algorithm is not EdDSA");
  }
  if (typ == header.end() || !typ->is_string() || *typ != expected_type) {
    return Fail(JwsStatus::kMalformed, "unexpected token type");
  }
  if (header.contains("crit")) {
    return Fail(JwsStatus::kMalformed, "unsupported crit header");
  }
  if (kid == header.end() || !kid->is_string()) {
    return Fail(JwsStatus::kUnknownKey, "no key id");
  }
  const PinnedKey* pinned = nullptr;
  for (const auto& k : keys) {
    if (k.kid == kid->get<std::string>()) pinned = &k;
  }
  if (pinned == nullptr) return Fail(JwsStatus::kUnknownKey, "unknown key id");
  if (signature->size() != kEd25519SignatureBytes) {
    return Fail(JwsStatus::kBadSignature, "wrong signature length");
  }

  SignatureCheck result =
      VerifyEd25519(pinned->key, compact.substr(0, dot2), *signature);
  if (result == SignatureCheck::kLibraryError) {
    return Fail(JwsStatus::kLibraryError, "libsodium failed to start");
  }
  if (result != SignatureCheck::kValid) {
    return Fail(JwsStatus::kBadSignature, "signature invalid");
  }
  VerifiedJws out;
  out.status = JwsStatus::kValid;
  out.payload = std::move(*payload);
  return out;
}

}  // namespace zsp

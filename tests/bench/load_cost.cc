// Measures what every sudo or login pays before a module does any work:
// loading a shared object and OpenSSL's first calls. Each run is a fresh
// process (this program executed again), so nothing is loaded or set up
// from an earlier run.
//
// Usage:
//   load_cost RUNS dlopen [PRELOAD... --] FILE...
//                                   median ms for dlopen(RTLD_LAZY |
//                                   RTLD_GLOBAL, as sudo opens plugins) of
//                                   the FILEs, one after another, after
//                                   an untimed dlopen of the PRELOADs (the
//                                   libraries the host program has loaded)
//   load_cost RUNS openssl          median ms for loading libcrypto.so.3,
//                                   its first SHA-256 digest and its first
//                                   Ed25519 verification (RFC 8032's first
//                                   test vector, which must verify)
//   load_cost RUNS sodium           the same for libsodium.so.23, which the
//                                   modules use, with sodium_init counted
//                                   in the first SHA-256
// Output is one line of key=value pairs. The program is linked with a
// static libstdc++ (see the Makefile), so that dlopen of libstdc++.so.6
// loads it for real.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

// Opens every file, as a child run of "dlopen", and prints the time in ms
// for those after "--", or for all of them when there is no "--".
int ChildDlopen(int count, char** files) {
  int first = 0;
  for (int i = 0; i < count; ++i) {
    if (std::strcmp(files[i], "--") == 0) first = i + 1;
  }
  for (int i = 0; i < first - 1; ++i) {
    if (dlopen(files[i], RTLD_LAZY | RTLD_GLOBAL) == nullptr) {
      std::fprintf(stderr, "load_cost: %s\n", dlerror());
      return 1;
    }
  }
  auto start = Clock::now();
  for (int i = first; i < count; ++i) {
    if (dlopen(files[i], RTLD_LAZY | RTLD_GLOBAL) == nullptr) {
      std::fprintf(stderr, "load_cost: %s\n", dlerror());
      return 1;
    }
  }
  std::printf("%.4f\n", MsSince(start));
  return 0;
}

template <typename F>
F Symbol(void* library, const char* name) {
  void* found = dlsym(library, name);
  if (found == nullptr) {
    std::fprintf(stderr, "load_cost: %s not found in libcrypto\n", name);
    std::exit(1);
  }
  return reinterpret_cast<F>(found);
}

// RFC 8032 section 7.1, test 1: the public key and the signature of the
// empty message.
constexpr unsigned char kRfcKey[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
    0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
    0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
constexpr unsigned char kRfcSignature[64] = {
    0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2,
    0xcc, 0x80, 0x6e, 0x82, 0x8a, 0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5,
    0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49, 0x01, 0x55, 0x5f,
    0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e, 0x39, 0x70,
    0x1c, 0xf9, 0xb4, 0x6b, 0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe,
    0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b};

// Loads libcrypto, as a child run of "openssl", and prints the ms for the
// load, the first SHA-256 and the first Ed25519 check. The check is test
// 1 of RFC 8032 section 7.1 (empty message), and it must pass.
int ChildOpenssl() {
  auto start = Clock::now();
  void* crypto = dlopen("libcrypto.so.3", RTLD_LAZY | RTLD_GLOBAL);
  if (crypto == nullptr) {
    std::fprintf(stderr, "load_cost: %s\n", dlerror());
    return 1;
  }
  double load_ms = MsSince(start);

  using Sha256Fn = unsigned char* (*)(const unsigned char*, size_t,
                                      unsigned char*);
  auto sha256 = Symbol<Sha256Fn>(crypto, "SHA256");
  unsigned char digest[32];
  start = Clock::now();
  sha256(reinterpret_cast<const unsigned char*>("zsp"), 3, digest);
  double sha256_ms = MsSince(start);

  using NewKeyFn = void* (*)(int, void*, const unsigned char*, size_t);
  using NewCtxFn = void* (*)();
  using VerifyInitFn = int (*)(void*, void**, const void*, void*, void*);
  using VerifyFn = int (*)(void*, const unsigned char*, size_t,
                           const unsigned char*, size_t);
  auto new_key = Symbol<NewKeyFn>(crypto, "EVP_PKEY_new_raw_public_key");
  auto new_ctx = Symbol<NewCtxFn>(crypto, "EVP_MD_CTX_new");
  auto verify_init = Symbol<VerifyInitFn>(crypto, "EVP_DigestVerifyInit");
  auto verify = Symbol<VerifyFn>(crypto, "EVP_DigestVerify");
  constexpr int kEvpPkeyEd25519 = 1087;  // NID_ED25519 in openssl/obj_mac.h
  start = Clock::now();
  void* pkey = new_key(kEvpPkeyEd25519, nullptr, kRfcKey, sizeof kRfcKey);
  void* ctx = new_ctx();
  if (pkey == nullptr || ctx == nullptr ||
      verify_init(ctx, nullptr, nullptr, nullptr, pkey) != 1) {
    std::fprintf(stderr, "load_cost: Ed25519 set-up failed\n");
    return 1;
  }
  int verified = verify(ctx, kRfcSignature, sizeof kRfcSignature,
                        reinterpret_cast<const unsigned char*>(""), 0);
  double ed25519_ms = MsSince(start);
  if (verified != 1) {
    std::fprintf(stderr, "load_cost: the RFC 8032 test vector failed\n");
    return 1;
  }
  std::printf("%.4f %.4f %.4f\n", load_ms, sha256_ms, ed25519_ms);
  return 0;
}

// Loads libsodium, as a child run of "sodium", and prints the same three
// figures as ChildOpenssl.
int ChildSodium() {
  auto start = Clock::now();
  void* sodium = dlopen("libsodium.so.23", RTLD_LAZY | RTLD_GLOBAL);
  if (sodium == nullptr) {
    std::fprintf(stderr, "load_cost: %s\n", dlerror());
    return 1;
  }
  double load_ms = MsSince(start);

  using InitFn = int (*)();
  using Sha256Fn = int (*)(unsigned char*, const unsigned char*,
                           unsigned long long);
  using VerifyFn = int (*)(const unsigned char*, const unsigned char*,
                           unsigned long long, const unsigned char*);
  auto init = Symbol<InitFn>(sodium, "sodium_init");
  auto sha256 = Symbol<Sha256Fn>(sodium, "crypto_hash_sha256");
  auto verify = Symbol<VerifyFn>(sodium, "crypto_sign_ed25519_verify_detached");
  unsigned char digest[32];
  start = Clock::now();
  if (init() < 0) {
    std::fprintf(stderr, "load_cost: sodium_init failed\n");
    return 1;
  }
  sha256(digest, reinterpret_cast<const unsigned char*>("zsp"), 3);
  double sha256_ms = MsSince(start);

  start = Clock::now();
  int verified = verify(kRfcSignature,
                        reinterpret_cast<const unsigned char*>(""), 0, kRfcKey);
  double ed25519_ms = MsSince(start);
  if (verified != 0) {
    std::fprintf(stderr, "load_cost: the RFC 8032 test vector failed\n");
    return 1;
  }
  std::printf("%.4f %.4f %.4f\n", load_ms, sha256_ms, ed25519_ms);
  return 0;
}

// Runs this program with args in a child and returns the numbers it
// printed, or an empty vector if it failed.
std::vector<double> RunChild(const char* self,
                             const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> argv{const_cast<char*>(self)};
    for (const std::string& arg : args) {
      argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    execv(self, argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[256];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return {};
  }
  std::vector<double> values;
  const char* cursor = text.c_str();
  char* end = nullptr;
  for (double value = std::strtod(cursor, &end); end != cursor;
       value = std::strtod(cursor, &end)) {
    values.push_back(value);
    cursor = end;
  }
  return values;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--child-dlopen") == 0) {
    return ChildDlopen(argc - 2, argv + 2);
  }
  if (argc == 2 && std::strcmp(argv[1], "--child-openssl") == 0) {
    return ChildOpenssl();
  }
  if (argc == 2 && std::strcmp(argv[1], "--child-sodium") == 0) {
    return ChildSodium();
  }
  int runs = argc >= 3 ? std::atoi(argv[1]) : 0;
  bool dlopen_mode = argc >= 4 && std::strcmp(argv[2], "dlopen") == 0;
  bool crypto_mode = argc == 3 && (std::strcmp(argv[2], "openssl") == 0 ||
                                   std::strcmp(argv[2], "sodium") == 0);
  if (runs < 1 || (!dlopen_mode && !crypto_mode)) {
    std::fprintf(stderr,
                 "usage: load_cost RUNS dlopen FILE...\n"
                 "       load_cost RUNS openssl|sodium\n");
    return 2;
  }

  std::vector<std::string> args;
  if (dlopen_mode) {
    args.push_back("--child-dlopen");
    args.insert(args.end(), argv + 3, argv + argc);
  } else {
    args.push_back(std::string("--child-") + argv[2]);
  }
  size_t columns = dlopen_mode ? 1 : 3;
  std::vector<std::vector<double>> samples(columns);
  for (int run = 0; run < runs; ++run) {
    std::vector<double> values = RunChild("/proc/self/exe", args);
    if (values.size() != columns) {
      std::fprintf(stderr, "load_cost: run %d failed\n", run + 1);
      return 1;
    }
    for (size_t i = 0; i < columns; ++i) samples[i].push_back(values[i]);
  }
  if (dlopen_mode) {
    std::printf("runs=%d median_ms=%.3f\n", runs, Median(samples[0]));
  } else {
    std::printf("runs=%d load_ms=%.3f sha256_ms=%.3f ed25519_ms=%.3f\n", runs,
                Median(samples[0]), Median(samples[1]), Median(samples[2]));
  }
  return 0;
}

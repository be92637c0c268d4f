#include "broker/zspctl_breakglass.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>

#include "broker/zspctl_audit.h"
#include "common/breakglass.h"
#include "common/config.h"
#include "common/escape.h"
#include "common/handles.h"
#include "common/text.h"

namespace zsp::zspctl {

const char kBreakGlassHelp[] =
    "  breakglass keygen --out PREFIX\n"
    "                         create a break-glass key pair: PREFIX.key "
    "(keep offline)\n"
    "                         and PREFIX.pub (list it as breakglass_key on "
    "hosts)\n"
    "  breakglass issue --key FILE --user U --host PATTERN --scope "
    "login|sudo|both\n"
    "                   [--runas U] [--lifetime D] [--not-before T] --reason "
    "TEXT\n"
    "                         create and sign a token; D defaults to 1h, "
    "--runas to\n"
    "                         root, T (Unix seconds or YYYY-MM-DDTHH:MM UTC) "
    "to now\n"
    "  breakglass sign --key FILE [TOKEN]\n"
    "                         add this key's signature (TOKEN or standard "
    "input)\n"
    "  breakglass show [TOKEN] [--conf FILE]\n"
    "                         show a token; with FILE, check its signatures "
    "against\n"
    "                         that host configuration\n"
    "  breakglass review --host H --seq N --comment TEXT\n"
    "                         record that you reviewed break-glass record N "
    "of host H\n";

namespace {

using nlohmann::json;

constexpr size_t kMaxShownBytes = 256;
constexpr int64_t kDefaultLifetimeSec = 3600;

std::string Show(const std::string& text) {
  return EscapeForLog(text, kMaxShownBytes);
}

using Words = CommandWords;

// Splits args[1..] into value options, each given once, and at most
// max_positional positionals.
Words Parse(const std::vector<std::string>& args,
            const std::vector<std::string>& value_options,
            size_t max_positional) {
  WordRules rules;
  rules.value_options = value_options;
  rules.max_positional = max_positional;
  return ParseCommandWords(args, 1, rules);
}

// The token from the command line, or else the first line of standard
// input, so that it can be pasted without landing in the shell history.
std::string ReadToken(const Words& words) {
  if (!words.positional.empty() && words.positional[0] != "-") {
    return words.positional[0];
  }
  std::string line;
  if (!std::getline(std::cin, line)) {
    throw std::runtime_error("no token given on the command line or input");
  }
  return line;
}

int64_t ParseTime(const std::string& text) {
  if (!text.empty() && text.size() <= 18 &&
      text.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoll(text);
  }
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"}) {
    struct tm parts {};
    const char* end = strptime(text.c_str(), format, &parts);
    if (end != nullptr && (*end == '\0' || (end[0] == 'Z' && end[1] == '\0'))) {
      return static_cast<int64_t>(timegm(&parts));
    }
  }
  throw UsageException("invalid time " + Show(text) +
                       " (use Unix seconds or YYYY-MM-DDTHH:MM in UTC)");
}

std::string FormatUtc(int64_t when) {
  time_t t = static_cast<time_t>(when);
  struct tm parts {};
  char text[32] = "?";
  if (gmtime_r(&t, &parts) != nullptr) {
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  }
  return text;
}

// Loads a private key file, refusing one that group or others can read.
EvpPkeyPtr LoadSigningKey(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("cannot read " + path + ": " +
                             std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    throw std::runtime_error(path + " is readable by group or others; run "
                             "chmod 600 " + path);
  }
  auto key = LoadEd25519PrivateKey(path);
  if (!key.ok()) throw std::runtime_error(key.error());
  return std::move(key.value());
}

// Creates path with mode and writes key to it as PEM; never overwrites.
void WriteKeyFile(const std::string& path, mode_t mode, EVP_PKEY* key,
                  bool private_half) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + path + ": " +
                             std::strerror(errno));
  }
  FilePtr file(fdopen(fd, "w"));
  if (!file) {
    close(fd);
    throw std::runtime_error("cannot open " + path);
  }
  int ok = private_half ? PEM_write_PrivateKey(file.get(), key, nullptr,
                                               nullptr, 0, nullptr, nullptr)
                        : PEM_write_PUBKEY(file.get(), key);
  if (ok != 1 || fflush(file.get()) != 0 || fsync(fileno(file.get())) != 0) {
    throw std::runtime_error("cannot write " + path);
  }
}

void PrintToken(const BreakGlassToken& t, std::ostream& out) {
  out << "token      " << t.id << "\n"
      << "user       " << Show(t.user) << "\n"
      << "hosts      " << Show(t.host_pattern) << "\n"
      << "scope      " << t.scope;
  if (!t.runas.empty()) out << " (sudo as " << Show(t.runas) << ")";
  out << "\n"
      << "valid      " << FormatUtc(t.not_before) << " to "
      << FormatUtc(t.expires) << "\n"
      << "reason     " << Show(t.reason) << "\n"
      << "signed by  ";
  for (size_t i = 0; i < t.signers.size(); ++i) {
    out << (i > 0 ? ", " : "") << Show(t.signers[i]);
  }
  out << "\n";
}

json TokenToJson(const BreakGlassToken& t) {
  return {{"id", t.id},          {"user", t.user},
          {"host", t.host_pattern}, {"scope", t.scope},
          {"runas", t.runas},    {"reason", t.reason},
          {"nbf", t.not_before}, {"exp", t.expires},
          {"signers", t.signers}};
}

int RunKeygen(const std::vector<std::string>& args) {
  Words words = Parse(args, {"--out"}, 0);
  std::string prefix = words.Required("--out", "breakglass keygen");
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) throw std::runtime_error("Ed25519 key generation failed");
  WriteKeyFile(prefix + ".key", 0600, key.get(), true);
  WriteKeyFile(prefix + ".pub", 0644, key.get(), false);
  std::cout << "key id " << Ed25519KeyId(key.get()) << "\n"
            << "private key " << prefix << ".key: keep it offline\n"
            << "public key  " << prefix << ".pub: list it on hosts as "
            << "breakglass_key\n";
  return 0;
}

int RunIssue(const std::vector<std::string>& args) {
  Words words = Parse(args,
                      {"--key", "--user", "--host", "--scope", "--runas",
                       "--lifetime", "--not-before", "--reason"},
                      0);
  EvpPkeyPtr key = LoadSigningKey(words.Required("--key", "breakglass issue"));
  BreakGlassToken t;
  t.id = NewBreakGlassId();
  if (t.id.empty()) throw std::runtime_error("the random generator failed");
  t.user = words.Required("--user", "breakglass issue");
  t.host_pattern = words.Required("--host", "breakglass issue");
  t.scope = words.Required("--scope", "breakglass issue");
  t.reason = words.Required("--reason", "breakglass issue");
  if (t.scope != "login") t.runas = words.One("--runas").value_or("root");
  if (t.scope == "login" && words.One("--runas")) {
    throw UsageException("--runas is only for --scope sudo or both");
  }
  int64_t lifetime = kDefaultLifetimeSec;
  if (auto text = words.One("--lifetime")) {
    if (!ParseDurationSeconds(*text, &lifetime) || lifetime <= 0) {
      throw UsageException("invalid --lifetime " + Show(*text) +
                           ": use a duration such as 30m or 2h");
    }
  }
  t.not_before = words.One("--not-before")
                     ? ParseTime(*words.One("--not-before"))
                     : static_cast<int64_t>(time(nullptr));
  t.expires = t.not_before + lifetime;

  auto token = IssueBreakGlassToken(t, key.get());
  if (!token.ok()) throw std::runtime_error(token.error());
  t.signers = {Ed25519KeyId(key.get())};
  PrintToken(t, std::cerr);
  std::cout << token.value() << "\n";
  return 0;
}

int RunSign(const std::vector<std::string>& args) {
  Words words = Parse(args, {"--key"}, 1);
  EvpPkeyPtr key = LoadSigningKey(words.Required("--key", "breakglass sign"));
  std::string text = ReadToken(words);
  auto decoded = DecodeBreakGlassToken(text);
  if (!decoded.ok()) throw std::runtime_error(decoded.error());
  auto token = AddBreakGlassSignature(text, key.get());
  if (!token.ok()) throw std::runtime_error(token.error());
  decoded.value().signers.push_back(Ed25519KeyId(key.get()));
  PrintToken(decoded.value(), std::cerr);
  std::cout << token.value() << "\n";
  return 0;
}

// Checks each signature of text against the keys in the host
// configuration at path; prints one line per outcome.
int CheckAgainstConfig(const std::string& text, const std::string& path) {
  auto config = LoadHostConfig(path);
  if (!config.ok()) throw std::runtime_error(config.error());
  auto policy = LoadBreakGlassPolicy(config.value());
  if (!policy.ok()) throw std::runtime_error(policy.error());
  auto decoded = DecodeBreakGlassToken(text);
  if (!decoded.ok()) throw std::runtime_error(decoded.error());
  // The binding is checked as the token's own user and scope at a time
  // inside its window, so that only the signatures and window length
  // decide.
  BreakGlassUse use;
  use.user = decoded.value().user;
  use.host = config.value().host.empty() ? "*" : config.value().host;
  use.kind = decoded.value().scope == "login" ? "login" : "sudo";
  use.runas = decoded.value().runas;
  use.now = decoded.value().not_before;
  BreakGlassCheck check = VerifyBreakGlassToken(text, policy.value(), use);
  bool ok = check.status == BreakGlassStatus::kValid ||
            check.status == BreakGlassStatus::kWrongHost;
  std::cout << "check      "
            << (ok ? "signatures valid for " + path
                   : std::string(BreakGlassStatusName(check.status)) + ": " +
                         Show(check.detail))
            << "\n";
  return ok ? 0 : 1;
}

int RunShow(const std::vector<std::string>& args, bool json_output) {
  Words words = Parse(args, {"--conf"}, 1);
  std::string text = ReadToken(words);
  auto decoded = DecodeBreakGlassToken(text);
  if (!decoded.ok()) throw std::runtime_error(decoded.error());
  if (json_output) {
    std::string dumped = TokenToJson(decoded.value()).dump(2);
    std::cout << EscapeJsonForTerminal(dumped) << "\n";
  } else {
    PrintToken(decoded.value(), std::cout);
  }
  if (auto conf = words.One("--conf")) return CheckAgainstConfig(text, *conf);
  return 0;
}

int RunReview(const std::vector<std::string>& args, bool json_output,
              const std::function<BrokerCall()>& connect) {
  Words words = Parse(args, {"--host", "--seq", "--comment"}, 0);
  std::string host = words.Required("--host", "breakglass review");
  std::string seq_text = words.Required("--seq", "breakglass review");
  std::string comment = words.Required("--comment", "breakglass review");
  if (seq_text.empty() || seq_text.size() > 18 ||
      seq_text.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageException("--seq must be a record's sequence number");
  }
  json body = {{"host", host},
               {"seq", std::stoull(seq_text)},
               {"comment", comment}};
  json review = connect()("POST", "/v1/audit/reviews", body);
  if (json_output) {
    std::cout << EscapeJsonForTerminal(review.dump(2)) << "\n";
  } else {
    std::cout << "reviewed record " << seq_text << " of host " << Show(host)
              << "\n";
  }
  return 0;
}

}  // namespace

int RunBreakGlass(const std::vector<std::string>& args, bool json_output,
                  const std::function<BrokerCall()>& connect) {
  if (args.empty()) {
    throw UsageException(
        "breakglass needs keygen, issue, sign, show or review");
  }
  const std::string& action = args[0];
  if (action == "keygen") return RunKeygen(args);
  if (action == "issue") return RunIssue(args);
  if (action == "sign") return RunSign(args);
  if (action == "show") return RunShow(args, json_output);
  if (action == "review") return RunReview(args, json_output, connect);
  throw UsageException("unknown breakglass command " + Show(action));
}

}  // namespace zsp::zspctl

// zsp-broker: sets up a broker directory (CA, certificates, keys,
// database), manages the people who may use it, and serves the API.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "broker/audit_store.h"
#include "broker/ids.h"
#include "broker/pki.h"
#include "broker/policy_file.h"
#include "broker/server.h"
#include "broker/settings.h"
#include "broker/store.h"
#include "broker/validate.h"
#include "common/jws.h"

namespace zsp::broker {
namespace {

constexpr char kVersion[] = "zsp-broker 1.0 (broker API v1)";

constexpr char kUsage[] =
    "usage: zsp-broker init DIR [--host NAME]... [--server-name NAME]...\n"
    "                       [--listen ADDR:PORT]\n"
    "       zsp-broker host-cert DIR NAME\n"
    "       zsp-broker user add DIR NAME [--role approver|admin|auditor]...\n"
    "       zsp-broker user token DIR NAME\n"
    "       zsp-broker user list DIR\n"
    "       zsp-broker serve DIR [--listen ADDR:PORT]\n"
    "       zsp-broker policy check DIR|FILE\n"
    "       zsp-broker policy default\n"
    "       zsp-broker --help | --version\n";

constexpr char kHelp[] =
    "\n"
    "init       creates DIR with a CA, a server certificate for localhost,\n"
    "           127.0.0.1, ::1 and each --server-name (DNS name or IP\n"
    "           address), a client certificate in DIR/hosts/ for each\n"
    "           --host, the Ed25519 decision key (decision.pub goes to\n"
    "           every host), the Ed25519 audit key that signs audit\n"
    "           checkpoints (audit.pub goes to auditors), broker.conf, a\n"
    "           default policy.toml and the database broker.db\n"
    "host-cert  issues a client certificate for one more host\n"
    "user add   adds a person and prints their bearer token once; every\n"
    "           person may request access, --role adds approver, admin or\n"
    "           auditor rights\n"
    "user token prints a new token for a person; the old one stops working\n"
    "user list  lists people and their roles\n"
    "serve      serves the HTTPS API; --listen overrides broker.conf\n"
    "           (port 0 picks a free port), SIGTERM or SIGINT stops it,\n"
    "           SIGHUP reloads policy.toml\n"
    "policy check\n"
    "           validates DIR/policy.toml or FILE and lists its\n"
    "           entitlements; exits 1 with PATH:LINE: FIELD on an error\n"
    "policy default\n"
    "           prints the default policy that init writes, for a broker\n"
    "           directory made before policies existed\n";

int UsageError(const std::string& message) {
  std::cerr << "zsp-broker: " << message << "\n" << kUsage;
  return 2;
}

int Fail(const std::string& message) {
  std::cerr << "zsp-broker: " << message << "\n";
  return 1;
}

// Positional arguments and repeatable "--name value" options.
struct Arguments {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;
  std::string error;

  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> values;
    for (const auto& [key, value] : options) {
      if (key == name) values.push_back(value);
    }
    return values;
  }
};

Arguments ParseArguments(int argc, char** argv, int first,
                         const std::vector<std::string>& known) {
  Arguments args;
  for (int i = first; i < argc; ++i) {
    std::string word = argv[i];
    if (word.rfind("--", 0) != 0) {
      args.positional.push_back(word);
      continue;
    }
    std::string name = word;
    std::string value;
    size_t equals = word.find('=');
    if (equals != std::string::npos) {
      name = word.substr(0, equals);
      value = word.substr(equals + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      args.error = "option " + word + " needs a value";
      return args;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      args.error = "unknown option " + name;
      return args;
    }
    args.options.emplace_back(name, value);
  }
  return args;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// Creates dir with mode 0700, or tightens an existing directory to 0700.
Result<bool> MakePrivateDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error{"cannot create " + dir + ": " + strerror(errno)};
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error{dir + " is not a directory"};
  }
  if (chmod(dir.c_str(), 0700) != 0) {
    return Error{"cannot chmod " + dir + ": " + strerror(errno)};
  }
  return true;
}

// Writes key (0600) and certificate (0644) as PEM files.
Result<bool> WriteKeyAndCert(const KeyAndCert& pair,
                             const std::string& key_path,
                             const std::string& cert_path) {
  auto key_pem = PrivateKeyPem(pair.key.get());
  if (!key_pem.ok()) return Error{key_pem.error()};
  auto written = WriteNewFile(key_path, key_pem.value(), 0600);
  WipeString(&key_pem.value());
  if (!written.ok()) return written;
  auto cert_pem = CertificatePem(pair.cert.get());
  if (!cert_pem.ok()) return Error{cert_pem.error()};
  return WriteNewFile(cert_path, cert_pem.value(), 0644);
}

Result<bool> WriteHostCert(const KeyAndCert& ca, const std::string& dir,
                           const std::string& host) {
  std::string base = dir + "/hosts/" + host;
  if (FileExists(base + ".pem") || FileExists(base + ".key")) {
    return Error{base + ".pem or " + base + ".key exists already"};
  }
  auto pair = IssueCert(ca, host, CertUse::kClient, {}, kHostCertDays);
  if (!pair.ok()) return Error{pair.error()};
  return WriteKeyAndCert(pair.value(), base + ".key", base + ".pem");
}

Result<bool> WriteDecisionKey(const std::string& dir, std::string* key_id) {
  auto key = GenerateEd25519Key();
  if (!key.ok()) return Error{key.error()};
  auto private_pem = PrivateKeyPem(key.value().get());
  if (!private_pem.ok()) return Error{private_pem.error()};
  auto written = WriteNewFile(dir + "/decision.key", private_pem.value(), 0600);
  WipeString(&private_pem.value());
  if (!written.ok()) return written;
  auto public_pem = PublicKeyPem(key.value().get());
  if (!public_pem.ok()) return Error{public_pem.error()};
  *key_id = Ed25519KeyId(key.value().get());
  return WriteNewFile(dir + "/decision.pub", public_pem.value(), 0644);
}

std::string ConfigText(const std::string& listen) {
  Settings defaults;
  return "# zsp-broker configuration: key = value\n"
         "# address and port of the HTTPS API (port 0 picks a free one)\n"
         "listen = " +
         listen +
         "\n"
         "# longest grant a request may ask for, in seconds\n"
         "max_duration = " +
         std::to_string(defaults.max_duration) +
         "\n"
         "# how long a signed decision stays usable, in seconds\n"
         "decision_ttl = " +
         std::to_string(defaults.decision_ttl) + "\n";
}

// Checks the options of init; returns "" or the problem.
std::string CheckInitOptions(const Arguments& args,
                             std::vector<std::string>* alt_names) {
  for (const auto& host : args.All("--host")) {
    if (!IsValidHostName(host)) {
      return "invalid host name \"" + host +
             "\": use letters, digits, '.' and '-', at most 253 characters";
    }
    if (IsReservedHostName(host)) {
      return "host name \"" + host +
             "\" is in the .invalid domain, which is reserved for the "
             "broker's own audit records";
    }
  }
  *alt_names = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
  for (const auto& name : args.All("--server-name")) {
    if (IsIpAddress(name)) {
      alt_names->push_back("IP:" + name);
    } else if (IsValidHostName(name)) {
      alt_names->push_back("DNS:" + name);
    } else {
      return "invalid server name \"" + name +
             "\": expected a DNS name or an IP address";
    }
  }
  for (const auto& listen : args.All("--listen")) {
    auto address = ParseListenAddress(listen);
    if (!address.ok()) return address.error();
  }
  return "";
}

Result<bool> InitDirectory(const std::string& dir, const Arguments& args,
                           const std::vector<std::string>& alt_names) {
  auto created = MakePrivateDir(dir);
  if (created.ok()) created = MakePrivateDir(dir + "/hosts");
  if (!created.ok()) return created;

  auto ca = CreateCa("zsp-broker CA", kCaDays);
  if (!ca.ok()) return Error{ca.error()};
  auto written = WriteKeyAndCert(ca.value(), dir + "/ca.key", dir + "/ca.pem");
  if (!written.ok()) return written;

  auto server_names = args.All("--server-name");
  std::string server_cn = server_names.empty() ? "localhost" : server_names[0];
  auto server = IssueCert(ca.value(), server_cn, CertUse::kServer, alt_names,
                          kServerCertDays);
  if (!server.ok()) return Error{server.error()};
  written =
      WriteKeyAndCert(server.value(), dir + "/server.key", dir + "/server.pem");
  for (const auto& host : args.All("--host")) {
    if (written.ok()) written = WriteHostCert(ca.value(), dir, host);
  }
  if (!written.ok()) return written;

  std::string key_id;
  written = WriteDecisionKey(dir, &key_id);
  if (!written.ok()) return written;
  auto store = Store::Open(dir + "/broker.db");
  if (!store.ok()) return Error{store.error()};
  auto audit_key = LoadOrCreateAuditKey(dir);
  if (!audit_key.ok()) return Error{audit_key.error()};

  auto listens = args.All("--listen");
  std::string listen = listens.empty() ? kDefaultListen : listens.back();
  written = WriteNewFile(dir + "/" + kPolicyFileName, DefaultPolicyText(),
                         0600);
  if (!written.ok()) return written;
  written = WriteNewFile(dir + "/broker.conf", ConfigText(listen), 0600);
  if (!written.ok()) return written;
  std::cout << "initialised " << dir << " (decision key id " << key_id << ")\n"
            << "copy to each host: ca.pem, decision.pub, hosts/NAME.pem and "
               "hosts/NAME.key\n";
  return true;
}

int RunInit(int argc, char** argv) {
  Arguments args =
      ParseArguments(argc, argv, 2, {"--host", "--server-name", "--listen"});
  if (!args.error.empty()) return UsageError(args.error);
  if (args.positional.size() != 1) return UsageError("init needs DIR");
  const std::string& dir = args.positional[0];
  std::vector<std::string> alt_names;
  std::string problem = CheckInitOptions(args, &alt_names);
  if (!problem.empty()) return UsageError(problem);
  if (FileExists(dir + "/broker.conf")) {
    return Fail(dir + "/broker.conf exists; refusing to initialise again");
  }
  auto done = InitDirectory(dir, args, alt_names);
  if (!done.ok()) {
    return Fail(done.error() + "; remove " + dir + " and run init again");
  }
  return 0;
}

// Fails unless dir was set up by init.
Result<bool> CheckBrokerDir(const std::string& dir) {
  if (!FileExists(dir + "/broker.conf")) {
    return Error{dir +
                 " is not a broker directory (no broker.conf); run "
                 "zsp-broker init " +
                 dir + " first"};
  }
  return true;
}

int RunHostCert(int argc, char** argv) {
  Arguments args = ParseArguments(argc, argv, 2, {});
  if (!args.error.empty()) return UsageError(args.error);
  if (args.positional.size() != 2)
    return UsageError("host-cert needs DIR NAME");
  const std::string& dir = args.positional[0];
  const std::string& host = args.positional[1];
  if (!IsValidHostName(host)) {
    return UsageError("invalid host name \"" + host +
                      "\": use letters, digits, '.' and '-', at most 253 "
                      "characters");
  }
  if (IsReservedHostName(host)) {
    return UsageError("host name \"" + host +
                      "\" is in the .invalid domain, which is reserved for "
                      "the broker's own audit records");
  }
  auto checked = CheckBrokerDir(dir);
  if (!checked.ok()) return Fail(checked.error());
  auto ca = LoadCa(dir + "/ca.pem", dir + "/ca.key");
  if (!ca.ok()) return Fail(ca.error());
  auto written = WriteHostCert(ca.value(), dir, host);
  if (!written.ok()) return Fail(written.error());
  std::cout << "wrote " << dir << "/hosts/" << host << ".pem and .key\n";
  return 0;
}

Result<std::unique_ptr<Store>> OpenBrokerStore(const std::string& dir) {
  auto checked = CheckBrokerDir(dir);
  if (!checked.ok()) return Error{checked.error()};
  auto settings = LoadSettings(dir + "/broker.conf");
  if (!settings.ok()) return Error{settings.error()};
  return Store::Open(BrokerStoreLocation(dir, settings.value()));
}

// Prints a new token on stdout; stores only its hash through save.
template <typename Save>
int IssueToken(Save save) {
  auto token = NewToken();
  if (!token.ok()) return Fail(token.error());
  std::string hash = Sha256Hex(token.value());
  if (hash.empty()) return Fail("SHA-256 failed");
  std::string problem = save(hash);
  if (!problem.empty()) {
    WipeString(&token.value());
    return Fail(problem);
  }
  std::cout << token.value() << std::endl;
  WipeString(&token.value());
  return 0;
}

int RunUserAdd(const Arguments& args) {
  if (args.positional.size() != 3) return UsageError("user add needs DIR NAME");
  const std::string& name = args.positional[2];
  if (!IsValidUserName(name)) {
    return UsageError("invalid user name \"" + name +
                      "\": expected letters, digits, '_', '-' and '.', not "
                      "starting with '-' nor all digits, optionally ending "
                      "in '$', at most 32 characters");
  }
  if (IsBrokerActorName(name)) {
    return UsageError("\"" + name + "\" is the name the broker records for "
                      "its own decisions; choose another");
  }
  std::vector<std::string> roles = args.All("--role");
  for (const auto& role : roles) {
    if (role != kRoleApprover && role != kRoleAdmin && role != kRoleAuditor) {
      return UsageError("unknown role \"" + role +
                        "\": expected approver, admin or auditor");
    }
  }
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  auto store = OpenBrokerStore(args.positional[1]);
  if (!store.ok()) return Fail(store.error());
  return IssueToken([&](const std::string& hash) {
    auto added = AddDistinctPerson(*store.value(), name, roles, hash,
                                   static_cast<int64_t>(time(nullptr)));
    return added.ok() ? std::string() : added.message;
  });
}

int RunUserToken(const Arguments& args) {
  if (args.positional.size() != 3) {
    return UsageError("user token needs DIR NAME");
  }
  auto store = OpenBrokerStore(args.positional[1]);
  if (!store.ok()) return Fail(store.error());
  return IssueToken([&](const std::string& hash) {
    auto set = store.value()->SetTokenHash(args.positional[2], hash);
    return set.ok() ? std::string() : set.message;
  });
}

int RunUserList(const Arguments& args) {
  if (args.positional.size() != 2) return UsageError("user list needs DIR");
  auto store = OpenBrokerStore(args.positional[1]);
  if (!store.ok()) return Fail(store.error());
  auto people = store.value()->ListPersons();
  if (!people.ok()) return Fail(people.message);
  for (const auto& person : people.value) {
    std::string roles = "requester";
    for (const auto& role : person.roles) roles += "," + role;
    std::cout << person.name << "\t" << roles << "\n";
  }
  return 0;
}

int RunUser(int argc, char** argv) {
  Arguments args = ParseArguments(argc, argv, 2, {"--role"});
  if (!args.error.empty()) return UsageError(args.error);
  if (args.positional.empty())
    return UsageError("user needs add, token or list");
  const std::string& action = args.positional[0];
  if (action != "add" && !args.options.empty()) {
    return UsageError("--role is only for user add");
  }
  if (action == "add") return RunUserAdd(args);
  if (action == "token") return RunUserToken(args);
  if (action == "list") return RunUserList(args);
  return UsageError("unknown user command \"" + action + "\"");
}

int RunServe(int argc, char** argv) {
  Arguments args = ParseArguments(argc, argv, 2, {"--listen"});
  if (!args.error.empty()) return UsageError(args.error);
  if (args.positional.size() != 1) return UsageError("serve needs DIR");
  const std::string& dir = args.positional[0];
  auto checked = CheckBrokerDir(dir);
  if (!checked.ok()) return Fail(checked.error());
  auto settings = LoadSettings(dir + "/broker.conf");
  if (!settings.ok()) return Fail(settings.error());
  for (const auto& listen : args.All("--listen")) {
    auto address = ParseListenAddress(listen);
    if (!address.ok()) return UsageError(address.error());
    settings.value().listen = listen;
  }
  return Serve(dir, settings.value());
}

int RunPolicy(int argc, char** argv) {
  Arguments args = ParseArguments(argc, argv, 2, {});
  if (!args.error.empty()) return UsageError(args.error);
  if (args.positional.size() == 1 && args.positional[0] == "default") {
    std::cout << DefaultPolicyText();
    return 0;
  }
  if (args.positional.size() != 2 || args.positional[0] != "check") {
    return UsageError("policy needs check DIR|FILE or default");
  }
  std::string path = args.positional[1];
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    path += std::string("/") + kPolicyFileName;
  }
  auto policy = LoadPolicy(path);
  if (!policy.ok()) return Fail(policy.error());
  for (const auto& e : policy.value().entitlements) {
    std::cout << e.name << "\tline " << e.line << "\tapprovals "
              << e.approvals << (e.GrantsFullRoot() ? "\tfull root" : "")
              << (e.auto_approve.empty() ? "" : "\tauto-approval") << "\n";
  }
  std::cout << path << ": valid, " << policy.value().entitlements.size()
            << " entitlements\n";
  return 0;
}

int Main(int argc, char** argv) {
  // Keys, the database and its WAL files are for the broker's user only.
  umask(077);
  if (argc < 2) return UsageError("missing command");
  std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage << kHelp;
    return 0;
  }
  if (command == "--version") {
    std::cout << kVersion << "\n";
    return 0;
  }
  if (command == "init") return RunInit(argc, argv);
  if (command == "host-cert") return RunHostCert(argc, argv);
  if (command == "user") return RunUser(argc, argv);
  if (command == "serve") return RunServe(argc, argv);
  if (command == "policy") return RunPolicy(argc, argv);
  return UsageError("unknown command \"" + command + "\"");
}

}  // namespace
}  // namespace zsp::broker

int main(int argc, char** argv) { return zsp::broker::Main(argc, argv); }

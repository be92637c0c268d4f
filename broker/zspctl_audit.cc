#include "broker/zspctl_audit.h"

#include <libgen.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>

#include "common/audit_delivery.h"
#include "common/audit_spool.h"
#include "common/audit_verify.h"
#include "common/config.h"
#include "common/escape.h"
#include "common/text.h"
#include "common/journal.h"
#include "common/jws.h"

namespace zsp::zspctl {

const char kAuditHelp[] =
    "  audit flush [--conf FILE]\n"
    "                         as root on a host: deliver the audit spool to "
    "the store\n"
    "                         (FILE defaults to /etc/zsp/zsp.conf)\n"
    "  audit verify --spool FILE\n"
    "                         check a local spool's chain\n"
    "  audit verify --host H --audit-key FILE\n"
    "                         check host H's chain in the store against the\n"
    "                         checkpoints signed with the key in FILE "
    "(audit.pub)\n"
    "  audit query [--host H] [--user U] [--decision allow|deny] "
    "[--grant G]\n"
    "              [--since T] [--until T] [--limit N] "
    "[--format table|json|csv]\n"
    "              [--break-glass [--include-reviewed]]\n"
    "                         list stored records; T is Unix seconds or\n"
    "                         YYYY-MM-DD[THH:MM[:SS]] in UTC; --break-glass\n"
    "                         lists emergency access not yet reviewed\n"
    "  audit alerts [--host H]  list the store's alerts (gaps, hash "
    "mismatches,\n"
    "                         repaired spools)\n";

namespace {

using nlohmann::json;

// The string member name of object, or fallback when object is not an
// object or the member is missing or not a string. Records come from
// hosts, so a member may have any type.
std::string StringOr(const json& object, const char* name,
                     const std::string& fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

constexpr int kFailed = 1;
constexpr size_t kMaxShownBytes = 256;
constexpr int kPageRows = 5000;

std::string Show(const std::string& text) {
  return EscapeForLog(text, kMaxShownBytes);
}

using AuditWords = CommandWords;

// Splits args[first..] into value options, each given once; the audit
// commands take no positionals.
AuditWords Parse(const std::vector<std::string>& args, size_t first,
                 const std::vector<std::string>& value_options) {
  WordRules rules;
  rules.value_options = value_options;
  rules.max_positional = 0;
  return ParseCommandWords(args, first, rules);
}

// Unix seconds, or YYYY-MM-DD with an optional THH:MM[:SS], in UTC.
int64_t ParseTime(const std::string& option, const std::string& text) {
  if (!text.empty() && text.size() <= 18 &&
      text.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoll(text);
  }
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                             "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                             "%Y-%m-%d"}) {
    struct tm parts {};
    const char* end = strptime(text.c_str(), format, &parts);
    if (end != nullptr && (*end == '\0' || (end[0] == 'Z' && end[1] == '\0'))) {
      return static_cast<int64_t>(timegm(&parts));
    }
  }
  throw UsageException("invalid time for " + option + ": " + Show(text) +
                       " (use Unix seconds or YYYY-MM-DD[THH:MM[:SS]])");
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

std::string EventName(const std::string& message_id) {
  static const std::pair<AuditEvent, const char*> kEvents[] = {
      {AuditEvent::kSudoAllow, "sudo-allow"},
      {AuditEvent::kSudoDeny, "sudo-deny"},
      {AuditEvent::kLoginAllow, "login-allow"},
      {AuditEvent::kLoginDeny, "login-deny"},
      {AuditEvent::kSessionOpen, "session-open"},
      {AuditEvent::kSessionClose, "session-close"},
      {AuditEvent::kBreakGlassAllow, "break-glass-allow"},
      {AuditEvent::kBreakGlassDeny, "break-glass-deny"},
      {AuditEvent::kWorkEnded, "work-ended"},
      {AuditEvent::kSpoolRepaired, "spool-repaired"},
  };
  for (const auto& [event, name] : kEvents) {
    if (message_id == MessageId(event)) return name;
  }
  return message_id.empty() ? "-" : Show(message_id);
}

// --- flush ----------------------------------------------------------------

int RunFlush(const std::vector<std::string>& args) {
  AuditWords words = Parse(args, 1, {"--conf"});
  std::string path = words.One("--conf").value_or(kDefaultConfigPath);
  auto config = LoadHostConfig(path);
  if (!config.ok()) throw std::runtime_error(config.error());
  auto report = DeliverSpool(config.value(), DeliveryOptions{});
  if (!report.ok()) throw std::runtime_error(report.error());
  const DeliveryReport& done = report.value();
  if (done.first_sent == 0 && done.delivered_through == 0) {
    std::cout << "nothing to deliver: the spool is empty\n";
  } else if (done.first_sent == 0) {
    std::cout << "nothing to deliver: the store holds records 1 to "
              << done.delivered_through << "\n";
  } else {
    std::cout << "delivered records " << done.first_sent << " to "
              << done.delivered_through << " in " << done.batches
              << " batches";
    if (done.retries > 0) std::cout << " after " << done.retries << " retries";
    std::cout << "\n";
  }
  return 0;
}

// --- verify ---------------------------------------------------------------

int PrintReport(const std::string& what, const ChainReport& report,
                const std::vector<std::string>& other_problems,
                bool json_output) {
  size_t problems = report.findings.size() + other_problems.size();
  if (json_output) {
    json findings = json::array();
    for (const auto& f : report.findings) {
      findings.push_back({{"seq", f.seq}, {"problem", f.problem}});
    }
    json summary = {{"chain", what},
                    {"records", report.records},
                    {"last_seq", report.last_seq},
                    {"intact", problems == 0},
                    {"findings", findings},
                    {"other_problems", other_problems}};
    std::cout << EscapeJsonForTerminal(summary.dump(2)) << "\n";
    return problems == 0 ? 0 : kFailed;
  }
  for (const auto& problem : other_problems) std::cout << problem << "\n";
  for (const auto& f : report.findings) {
    std::cout << "record " << f.seq << ": " << f.problem << "\n";
  }
  std::cout << what << ": " << report.records << " records, last "
            << report.last_seq << ", "
            << (problems == 0 ? "chain intact"
                              : "chain broken (" + std::to_string(problems) +
                                    " problems)")
            << "\n";
  return problems == 0 ? 0 : kFailed;
}

int VerifySpool(const std::string& path, bool json_output) {
  std::string incomplete;
  auto lines = ReadSpoolLines(path, &incomplete);
  if (!lines.ok()) throw std::runtime_error(lines.error());
  // Notes go to stderr, so that --json output stays one document. Neither
  // breaks the chain: an incomplete last line is no record yet, and a
  // spool-repaired record is part of the chain.
  if (!incomplete.empty()) {
    std::cerr << "note: " << Show(path) << " ends with an incomplete line of "
              << incomplete.size()
              << " bytes, left by a writer that ended part way; the next "
                 "decision removes it and records that\n";
  }
  for (const auto& line : lines.value()) {
    json record = json::parse(line, nullptr, false);
    if (record.is_object() &&
        StringOr(record, "MESSAGE_ID", "") == kSpoolRepairedMessageId) {
      std::cerr << "note: record " << record.value("seq", json()).dump()
                << ": spool-repaired, an incomplete line of "
                << Show(StringOr(record, "ZSP_REMOVED_BYTES", "?"))
                << " bytes was removed (user "
                << Show(StringOr(record, "ZSP_REMOVED_USER", "unknown")) << ")\n";
    }
  }
  // The delivery state, when it sits next to the spool, vouches for the
  // length of the chain and the hash of the last delivered record.
  std::vector<ChainAnchor> anchors;
  std::vector<char> copy(path.begin(), path.end());
  copy.push_back('\0');
  std::string dir = dirname(copy.data());
  auto state = ReadDeliveryState(dir);
  if (state.ok() && state.value().seq > 0) {
    anchors.push_back({state.value().seq, state.value().hash,
                       "the delivery state file " + dir + "/" +
                           kDeliveryStateFileName});
  }
  ChainReport report = VerifyAuditChain(lines.value(), anchors);
  return PrintReport(Show(path), report, {}, json_output);
}

// Fetches every record of host from the store, oldest first.
std::vector<std::string> FetchHostLines(const BrokerGet& get,
                                        const std::string& host) {
  std::vector<std::string> lines;
  uint64_t after = 0;
  for (;;) {
    json page = get("/v1/audit/records?host=" + PercentEncode(host) +
                    "&after=" + std::to_string(after) +
                    "&limit=" + std::to_string(kPageRows));
    const json& records = page.value("records", json::array());
    for (const auto& row : records) {
      if (!row.is_object() || !row.value("line", json()).is_string() ||
          !row.value("seq", json()).is_number_unsigned()) {
        throw std::runtime_error("the store returned a malformed record");
      }
      lines.push_back(row["line"].get<std::string>());
      after = row["seq"].get<uint64_t>();
    }
    if (records.empty() || !page.value("more", false)) return lines;
  }
}

// Verifies each checkpoint's signature; the anchors come only from the
// signed payloads, never from the unsigned fields next to them.
std::vector<ChainAnchor> VerifiedCheckpoints(
    const json& list, const std::string& host,
    const std::vector<PinnedKey>& keys, std::vector<std::string>* problems) {
  std::vector<ChainAnchor> anchors;
  for (const auto& row : list) {
    std::string jws = StringOr(row, "jws", "");
    std::string where = "checkpoint " + Show(row.is_object()
                                                 ? row.value("seq", json())
                                                       .dump()
                                                 : "?");
    VerifiedJws verified = VerifyJws(jws, keys, "zsp-audit-checkpoint+jwt");
    if (verified.status != JwsStatus::kValid) {
      problems->push_back(where + ": signature does not verify (" +
                          Show(verified.detail) + ")");
      continue;
    }
    json payload = json::parse(verified.payload, nullptr, false);
    if (!payload.is_object() || StringOr(payload, "host", "") != host ||
        !payload.value("seq", json()).is_number_unsigned() ||
        !payload.value("hash", json()).is_string() ||
        !payload.value("time", json()).is_number_integer()) {
      problems->push_back(where + ": signed payload is not for host " +
                          Show(host));
      continue;
    }
    anchors.push_back({payload["seq"].get<uint64_t>(),
                       payload["hash"].get<std::string>(),
                       "the checkpoint signed at " +
                           FormatUtc(payload["time"].get<int64_t>())});
  }
  return anchors;
}

int VerifyHost(const BrokerGet& get, const std::string& host,
               const std::string& key_path, bool json_output) {
  auto key = LoadEd25519PublicKey(key_path);
  if (!key.ok()) throw std::runtime_error(key.error());
  std::vector<PinnedKey> keys;
  keys.push_back({Ed25519KeyId(key.value()), key.value()});

  std::vector<std::string> lines = FetchHostLines(get, host);
  json checkpoints = get("/v1/audit/checkpoints?host=" + PercentEncode(host))
                         .value("checkpoints", json::array());
  std::vector<std::string> problems;
  std::vector<ChainAnchor> anchors =
      VerifiedCheckpoints(checkpoints, host, keys, &problems);
  if (anchors.empty() && !lines.empty()) {
    problems.push_back("no valid signed checkpoint: truncation of the newest "
                       "records cannot be ruled out");
  }
  ChainReport report = VerifyAuditChain(lines, anchors);
  return PrintReport("host " + Show(host) + " (" +
                         std::to_string(anchors.size()) +
                         " signed checkpoints)",
                     report, problems, json_output);
}

int RunVerify(const std::vector<std::string>& args, bool json_output,
              const std::function<BrokerGet()>& connect) {
  AuditWords words = Parse(args, 1, {"--spool", "--host", "--audit-key"});
  auto spool = words.One("--spool");
  auto host = words.One("--host");
  if (spool.has_value() == host.has_value()) {
    throw UsageException("audit verify needs exactly one of --spool, --host");
  }
  if (spool) {
    if (words.One("--audit-key")) {
      throw UsageException("--audit-key is only for --host");
    }
    return VerifySpool(*spool, json_output);
  }
  auto key = words.One("--audit-key");
  if (!key) {
    throw UsageException(
        "audit verify --host needs --audit-key FILE (the broker's audit.pub)");
  }
  return VerifyHost(connect(), *host, *key, json_output);
}

// --- query ----------------------------------------------------------------

std::string Field(const json& record, const char* name) {
  auto it = record.find(name);
  if (it == record.end()) return "";
  if (it->is_string()) return Show(it->get<std::string>());
  return Show(it->dump());
}

// Quotes a CSV cell (RFC 4180) and defuses spreadsheet formulas: a cell
// that starts with = + - or @ gets a leading ', except the lone "-" that
// stands for a missing value. Tab and CR never lead, because the cells
// were escaped before.
std::string CsvCell(std::string text) {
  if (!text.empty() && text != "-" &&
      std::string("=+-@").find(text[0]) != std::string::npos) {
    text = "'" + text;
  }
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void PrintTableRows(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    std::cout << line << "\n";
  }
}

std::string BuildQuery(const AuditWords& words) {
  std::string query;
  for (const char* name : {"host", "user", "decision", "grant"}) {
    if (auto value = words.One(std::string("--") + name)) {
      query += std::string("&") + name + "=" + PercentEncode(*value);
    }
  }
  for (const char* name : {"since", "until"}) {
    std::string option = std::string("--") + name;
    if (auto value = words.One(option)) {
      query += std::string("&") + name + "=" +
               std::to_string(ParseTime(option, *value));
    }
  }
  if (auto limit = words.One("--limit")) query += "&limit=" + PercentEncode(*limit);
  if (!query.empty()) query[0] = '?';
  return query;
}

// Fetches the records that match the filters. The store returns at most
// 5000 rows a call: with --host (and no --limit) the pages are followed
// by sequence number, so every match is fetched; otherwise a truncated
// response gets a warning on stderr. extra holds more "name=value"
// filters joined by '&', or is empty.
json FetchMatchingRecords(const BrokerGet& get, const AuditWords& words,
                          const std::string& extra) {
  std::string query = BuildQuery(words);
  if (!extra.empty()) query += (query.empty() ? "?" : "&") + extra;
  json answer = get("/v1/audit/records" + query);
  json rows = answer.value("records", json::array());
  if (!rows.is_array()) {
    throw std::runtime_error("the store returned a malformed record list");
  }
  bool more = answer.value("more", false) && !rows.empty();
  if (!more || words.One("--limit")) return rows;
  if (!words.One("--host")) {
    std::cerr << "zspctl: warning: only the first " << rows.size()
              << " matching records are shown; add --host H to list every "
                 "record of one host, or narrow --since and --until\n";
    return rows;
  }
  while (more) {
    const json& last = rows.back();
    if (!last.is_object() || !last.value("seq", json()).is_number_unsigned()) {
      throw std::runtime_error("the store returned a malformed record");
    }
    answer = get("/v1/audit/records" + query +
                 "&after=" + std::to_string(last["seq"].get<uint64_t>()));
    const json& page = answer.value("records", json::array());
    for (const auto& row : page) rows.push_back(row);
    more = answer.value("more", false) && !page.empty();
  }
  return rows;
}

// Removes every flag from *args; true if it was there.
bool TakeFlag(std::vector<std::string>* args, const std::string& flag) {
  size_t before = args->size();
  args->erase(std::remove(args->begin() + 1, args->end(), flag), args->end());
  return args->size() != before;
}

int RunQuery(std::vector<std::string> args, bool json_output,
             const std::function<BrokerGet()>& connect) {
  bool break_glass = TakeFlag(&args, "--break-glass");
  bool include_reviewed = TakeFlag(&args, "--include-reviewed");
  if (include_reviewed && !break_glass) {
    throw UsageException("--include-reviewed is only for --break-glass");
  }
  AuditWords words =
      Parse(args, 1, {"--host", "--user", "--decision", "--grant", "--since",
                      "--until", "--limit", "--format"});
  std::string format =
      words.One("--format").value_or(json_output ? "json" : "table");
  if (format != "table" && format != "json" && format != "csv") {
    throw UsageException("--format must be table, json or csv");
  }
  std::string extra;
  if (break_glass) {
    extra = include_reviewed ? "break_glass=1" : "break_glass=1&unreviewed=1";
  }
  json rows = FetchMatchingRecords(connect(), words, extra);

  static const char* kColumns[] = {"TIME",  "HOST",     "SEQ",
                                   "EVENT", "USER",     "RUNAS",
                                   "DECISION", "GRANT", "COMMAND",
                                   "REASON"};
  if (format == "json") {
    json list = json::array();
    for (const auto& row : rows) {
      json record = json::parse(StringOr(row, "line", ""), nullptr, false);
      json item = {{"host", StringOr(row, "host", "")},
                   {"seq", row.value("seq", json())},
                   {"record", record}};
      if (row.contains("reviewed_by")) item["reviewed_by"] = row["reviewed_by"];
      list.push_back(std::move(item));
    }
    std::cout << EscapeJsonForTerminal(list.dump(
                     2, ' ', false, json::error_handler_t::replace))
              << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> table;
  table.emplace_back();
  for (const char* column : kColumns) table.back().push_back(column);
  for (const auto& row : rows) {
    json record = json::parse(StringOr(row, "line", ""), nullptr, false);
    if (!record.is_object()) record = json::object();
    auto time = record.find("time");
    table.push_back(
        {time != record.end() && time->is_number_integer()
             ? FormatUtc(time->get<int64_t>())
             : "-",
         Show(StringOr(row, "host", "")), Show(row.value("seq", json()).dump()),
         EventName(StringOr(record, "MESSAGE_ID", "")), Field(record, "ZSP_USER"),
         Field(record, "ZSP_RUNAS"), Field(record, "ZSP_DECISION"),
         Field(record, "ZSP_GRANT"), Field(record, "ZSP_COMMAND"),
         Field(record, "ZSP_REASON")});
  }
  if (format == "csv") {
    for (const auto& row : table) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        line += (i > 0 ? "," : "") + CsvCell(row[i]);
      }
      std::cout << line << "\r\n";
    }
    return 0;
  }
  if (rows.empty()) {
    std::cout << "no records\n";
    return 0;
  }
  PrintTableRows(table);
  return 0;
}

int RunAlerts(const std::vector<std::string>& args, bool json_output,
              const std::function<BrokerGet()>& connect) {
  AuditWords words = Parse(args, 1, {"--host"});
  std::string query;
  if (auto host = words.One("--host")) query = "?host=" + PercentEncode(*host);
  json answer = connect()("/v1/audit/alerts" + query);
  const json& alerts = answer.value("alerts", json::array());
  if (json_output) {
    std::cout << EscapeJsonForTerminal(alerts.dump(2)) << "\n";
    return 0;
  }
  if (alerts.empty()) {
    std::cout << "no alerts\n";
    return 0;
  }
  std::vector<std::vector<std::string>> table = {
      {"TIME", "HOST", "KIND", "SEQ", "DETAIL"}};
  for (const auto& alert : alerts) {
    const json time = alert.is_object() ? alert.value("time", json()) : json();
    table.push_back({time.is_number_integer() ? FormatUtc(time.get<int64_t>())
                                              : "-",
                     Field(alert, "host"), Field(alert, "kind"),
                     Field(alert, "seq"), Field(alert, "detail")});
  }
  PrintTableRows(table);
  return 0;
}

}  // namespace

int RunAudit(const std::vector<std::string>& args, bool json_output,
             const std::function<BrokerGet()>& connect) {
  if (args.empty()) {
    throw UsageException("audit needs flush, verify, query or alerts");
  }
  const std::string& action = args[0];
  if (action == "flush") return RunFlush(args);
  if (action == "verify") return RunVerify(args, json_output, connect);
  if (action == "query") return RunQuery(args, json_output, connect);
  if (action == "alerts") return RunAlerts(args, json_output, connect);
  throw UsageException("unknown audit command " + Show(action));
}

}  // namespace zsp::zspctl

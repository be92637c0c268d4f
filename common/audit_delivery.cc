#include "common/audit_delivery.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/audit_spool.h"
#include "common/handles.h"
#include "common/https_client.h"

namespace zsp {
namespace {

using nlohmann::json;

constexpr size_t kMaxAnswerBytes = 16 * 1024;
// Largest spool the delivery reads into memory.
// NOTE: the spool is never rotated, so a host that makes more than about
// 500,000 decisions reaches this limit and delivery stops with an error.
constexpr off_t kMaxSpoolBytes = off_t(256) * 1024 * 1024;

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

void SleepMs(long ms) {
  struct timespec left = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

struct SpoolLine {
  uint64_t seq = 0;
  std::string text;
};

bool ReadAll(int fd, std::string* out) {
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buffer, size_t(n));
  }
}

// Builds the error for a spool that someone other than root could have
// written: why nothing was delivered, and the commands that close it.
std::string NotDelivered(const std::string& problem, const std::string& path,
                         const std::string& dir) {
  return problem + "; nothing was delivered, since its records may not " +
         "come from zsp. Have the records after the last delivered one (" +
         dir + "/" + kDeliveryStateFileName +
         ") checked by hand, because whoever could write the spool could " +
         "also recompute its chain, then run chown root:root " + path +
         " and chmod go= " + path;
}

// Reads the spool under a shared lock, so that no line is half written.
Result<std::vector<SpoolLine>> ReadSpool(const std::string& dir) {
  std::string path = dir + "/" + kSpoolFileName;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0 && errno == ENOENT) return std::vector<SpoolLine>();
  if (fd.get() < 0) return Error{Errno("cannot open " + path)};
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Error{Errno("cannot stat " + path)};
  std::string problem = SpoolPrivacyProblem(st, path);
  if (!problem.empty()) return Error{NotDelivered(problem, path, dir)};
  if (!S_ISREG(st.st_mode)) return Error{path + " is not a regular file"};
  while (flock(fd.get(), LOCK_SH) != 0) {
    if (errno != EINTR) return Error{Errno("cannot lock " + path)};
  }
  if (st.st_size > kMaxSpoolBytes) {
    return Error{path + " is larger than the 256 MiB delivery limit"};
  }
  std::string data;
  if (!ReadAll(fd.get(), &data)) return Error{Errno("cannot read " + path)};
  fd.Reset();
  // Under the shared lock, a last line without a newline is one that a
  // writer left when it ended part way. It is no record: the next append
  // removes it and records that (AppendToSpool), so it is not delivered.
  data.resize(data.rfind('\n') == std::string::npos ? 0
                                                      : data.rfind('\n') + 1);

  std::vector<SpoolLine> lines;
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find('\n', start);
    SpoolLine line;
    line.text = data.substr(start, end - start);
    start = end + 1;
    json record = json::parse(line.text, nullptr, false);
    auto seq = record.is_object() ? record.find("seq") : record.end();
    if (seq == record.end() || !seq->is_number_unsigned()) {
      return Error{path + ": line " + std::to_string(lines.size() + 1) +
                   " is not an audit record"};
    }
    line.seq = seq->get<uint64_t>();
    if (line.seq != lines.size() + 1) {
      return Error{path + ": line " + std::to_string(lines.size() + 1) +
                   " has sequence number " + std::to_string(line.seq) +
                   "; check it with zspctl audit verify --spool " + path};
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

Result<bool> WriteDeliveryState(const std::string& dir,
                                const DeliveryState& state) {
  std::string path = dir + "/" + kDeliveryStateFileName;
  std::string temp = path + ".tmp";
  UniqueFd fd(open(temp.c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                   0600));
  if (fd.get() < 0) return Error{Errno("cannot create " + temp)};
  std::string text = std::to_string(state.seq) + " " + state.hash + "\n";
  if (write(fd.get(), text.data(), text.size()) != ssize_t(text.size()) ||
      fsync(fd.get()) != 0) {
    return Error{Errno("cannot write " + temp)};
  }
  fd.Reset();
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return Error{Errno("cannot rename " + temp)};
  }
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) fsync(dir_fd.get());
  return true;
}

HttpsOptions OptionsFor(const HostConfig& config) {
  HttpsOptions options;
  options.ca_file = config.ca_file;
  options.client_cert = config.client_cert;
  options.client_key = config.client_key;
  options.connect_timeout_ms = config.connect_timeout_ms;
  options.total_timeout_ms = config.timeout_ms;
  options.max_response_bytes = kMaxAnswerBytes;
  return options;
}

// The records from index first on that fit in one request body.
json BuildBatch(const std::vector<SpoolLine>& lines, size_t first,
                const DeliveryOptions& options, size_t* count) {
  json records = json::array();
  size_t bytes = 16;  // {"records":[]}
  size_t i = first;
  for (; i < lines.size() && records.size() < options.max_batch_records;
       ++i) {
    size_t size = json(lines[i].text).dump().size() + 1;
    if (!records.empty() && bytes + size > options.max_batch_bytes) break;
    bytes += size;
    records.push_back(lines[i].text);
  }
  *count = i - first;
  return json{{"records", records}};
}

// The store's response to one batch, as the delivery loop acts on it.
struct BatchAnswer {
  enum Kind { kAccepted, kConflict, kRetry, kRejected } kind = kRetry;
  uint64_t seq = 0;  // kAccepted: accepted_through; kConflict: expected_seq
  std::string message;
};

BatchAnswer SendBatch(const HostConfig& config, const std::string& body) {
  BatchAnswer answer;
  auto response = HttpsRequest(OptionsFor(config), "POST",
                               config.broker_url + "/v1/audit/records", body);
  if (!response.ok()) {
    answer.message = response.error();
    return answer;
  }
  long status = response.value().status;
  json parsed = json::parse(response.value().body, nullptr, false);
  std::string message = parsed.is_object() && parsed.contains("message") &&
                                parsed["message"].is_string()
                            ? parsed["message"].get<std::string>()
                            : "";
  answer.message = "HTTP " + std::to_string(status) +
                   (message.empty() ? "" : ": " + message);
  const char* key = status == 200 ? "accepted_through" : "expected_seq";
  bool has_seq = parsed.is_object() && parsed.contains(key) &&
                 parsed[key].is_number_unsigned();
  if ((status == 200 || status == 409) && has_seq) {
    answer.kind = status == 200 ? BatchAnswer::kAccepted : BatchAnswer::kConflict;
    answer.seq = parsed[key].get<uint64_t>();
  } else if (status >= 400 && status < 500 && status != 408 &&
             status != 429) {
    answer.kind = BatchAnswer::kRejected;
  }
  return answer;
}

Result<UniqueFd> LockDelivery(const std::string& dir) {
  std::string path = dir + "/" + kDeliveryLockFileName;
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                   0600));
  if (fd.get() < 0) return Error{Errno("cannot open " + path)};
  while (flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Error{Errno("cannot lock " + path)};
  }
  return fd;
}

}  // namespace

Result<DeliveryState> ReadDeliveryState(const std::string& spool_dir) {
  std::string path = spool_dir + "/" + kDeliveryStateFileName;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0 && errno == ENOENT) return DeliveryState{};
  if (fd.get() < 0) return Error{Errno("cannot open " + path)};
  std::string text;
  if (!ReadAll(fd.get(), &text)) return Error{Errno("cannot read " + path)};
  size_t space = text.find(' ');
  std::string digits = text.substr(0, space);
  DeliveryState state;
  if (space == std::string::npos || digits.empty() || digits.size() > 19 ||
      digits.find_first_not_of("0123456789") != std::string::npos ||
      text.size() != space + 1 + 64 + 1 || text.back() != '\n') {
    return Error{path + " is malformed; expected \"SEQ SHA256\""};
  }
  state.seq = std::stoull(digits);
  state.hash = text.substr(space + 1, 64);
  return state;
}

Result<DeliveryReport> DeliverSpool(const HostConfig& config,
                                    const DeliveryOptions& options) {
  const std::string& dir = config.spool_dir;
  DeliveryReport report;
  UniqueFd dir_fd(open(dir.c_str(),
                       O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (dir_fd.get() < 0 && errno == ENOENT) return report;
  if (dir_fd.get() < 0) return Error{Errno("cannot open " + dir)};
  struct stat st {};
  if (fstat(dir_fd.get(), &st) != 0) return Error{Errno("cannot stat " + dir)};
  std::string problem = SpoolPrivacyProblem(st, dir);
  if (!problem.empty()) return Error{NotDelivered(problem, dir, dir)};
  auto lock = LockDelivery(dir);
  if (!lock.ok()) return Error{lock.error()};
  auto state = ReadDeliveryState(dir);
  if (!state.ok()) return Error{state.error()};
  auto lines = ReadSpool(dir);
  if (!lines.ok()) return Error{lines.error()};
  const std::vector<SpoolLine>& spool = lines.value();
  report.spool_last = spool.size();
  report.delivered_through = state.value().seq;

  uint64_t delivered = state.value().seq;
  if (delivered > spool.size()) {
    return Error{"the store confirmed record " + std::to_string(delivered) +
                 " but the spool ends at record " +
                 std::to_string(spool.size()) + ": the spool was truncated"};
  }
  if (delivered > 0 &&
      Sha256Hex(spool[delivered - 1].text) != state.value().hash) {
    return Error{"spool record " + std::to_string(delivered) +
                 " differs from the record the store confirmed: the spool "
                 "was altered"};
  }

  uint64_t next = delivered + 1;
  int resyncs = 0;
  int attempt = 0;
  long backoff_ms = options.first_backoff_ms;
  while (next <= spool.size()) {
    if (report.first_sent == 0) report.first_sent = next;
    size_t count = 0;
    std::string body = BuildBatch(spool, next - 1, options, &count).dump();
    BatchAnswer answer = SendBatch(config, body);
    if (answer.kind == BatchAnswer::kRetry) {
      if (++attempt >= options.max_attempts) {
        return Error{"audit store unreachable after " +
                     std::to_string(attempt) + " attempts (" + answer.message +
                     "); records from " + std::to_string(next) +
                     " wait in the spool"};
      }
      ++report.retries;
      SleepMs(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, options.max_backoff_ms);
      continue;
    }
    attempt = 0;
    backoff_ms = options.first_backoff_ms;
    if (answer.kind == BatchAnswer::kRejected) {
      return Error{"audit store rejected records from " +
                   std::to_string(next) + " (" + answer.message + ")"};
    }
    if (answer.kind == BatchAnswer::kConflict) {
      // The store expects another record: resend from there, unless it is
      // the one just sent, which means the store rejects that record.
      if (++resyncs > options.max_resyncs || answer.seq == 0 ||
          answer.seq > spool.size() || answer.seq == next) {
        return Error{"audit store rejected record " + std::to_string(next) +
                     " (" + answer.message + ")"};
      }
      next = answer.seq;
      continue;
    }
    resyncs = 0;
    ++report.batches;
    if (answer.seq > spool.size()) {
      return Error{"the store holds records up to " +
                   std::to_string(answer.seq) + " but the spool ends at " +
                   std::to_string(spool.size()) + ": the spool was truncated"};
    }
    if (answer.seq < next + count - 1) {
      return Error{"audit store accepted only up to record " +
                   std::to_string(answer.seq) + " of a batch ending at " +
                   std::to_string(next + count - 1)};
    }
    DeliveryState done{answer.seq, Sha256Hex(spool[answer.seq - 1].text)};
    auto written = WriteDeliveryState(dir, done);
    if (!written.ok()) return Error{written.error()};
    report.delivered_through = answer.seq;
    next = answer.seq + 1;
  }
  return report;
}

}  // namespace zsp

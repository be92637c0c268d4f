#include "common/audit_spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/handles.h"
#include "common/signal_block.h"

namespace zsp {
namespace {

using nlohmann::json;

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Creates directory path with exactly mode unless it exists. sudo and su
// keep the invoking user's umask, which would otherwise take bits away.
bool MakeDirectory(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) == 0) return chmod(path.c_str(), mode) == 0;
  return errno == EEXIST;
}

// Opens the spool file, creating it with mode 0600 whatever the umask.
int OpenOrCreateSpool(int dir_fd) {
  constexpr int kFlags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
  int fd = openat(dir_fd, kSpoolFileName, kFlags | O_CREAT | O_EXCL, 0600);
  if (fd >= 0) {
    if (fchmod(fd, 0600) != 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      return -1;
    }
    return fd;
  }
  if (errno != EEXIST) return -1;
  return openat(dir_fd, kSpoolFileName, kFlags);
}

Result<UniqueFd> OpenSpoolFile(const std::string& dir) {
  // Missing parents (such as /var/lib/zsp) are created 0755, the spool
  // directory itself 0700.
  for (size_t slash = dir.find('/', 1); slash != std::string::npos;
       slash = dir.find('/', slash + 1)) {
    std::string parent = dir.substr(0, slash);
    if (!MakeDirectory(parent, 0755)) {
      return Error{Errno("cannot create " + parent)};
    }
  }
  if (!MakeDirectory(dir, 0700)) return Error{Errno("cannot create " + dir)};
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                                        O_NOFOLLOW));
  if (dir_fd.get() < 0) return Error{Errno("cannot open " + dir)};
  struct stat st {};
  if (fstat(dir_fd.get(), &st) != 0) return Error{Errno("cannot stat " + dir)};
  std::string problem = SpoolPrivacyProblem(st, dir);
  if (!problem.empty()) return Error{problem};

  UniqueFd fd(OpenOrCreateSpool(dir_fd.get()));
  std::string path = dir + "/" + kSpoolFileName;
  if (fd.get() < 0) return Error{Errno("cannot open " + path)};
  if (fstat(fd.get(), &st) != 0) return Error{Errno("cannot stat " + path)};
  if (!S_ISREG(st.st_mode)) return Error{path + " is not a regular file"};
  problem = SpoolPrivacyProblem(st, path);
  if (!problem.empty()) return Error{problem};
  return fd;
}

// The end of the locked spool: its last complete line, and an incomplete
// line after it, if any.
struct SpoolTail {
  std::string last_line;  // "" for a spool without complete lines
  off_t size = 0;         // the file's size
  off_t torn_from = -1;   // where the incomplete line starts; -1: none
  std::string torn;       // the incomplete line
};

Result<SpoolTail> ReadTail(int fd) {
  SpoolTail out;
  out.size = lseek(fd, 0, SEEK_END);
  if (out.size < 0) return Error{Errno("cannot seek spool")};
  if (out.size == 0) return out;
  // Room for an incomplete line and the complete line before it.
  const off_t window = off_t(2 * (kMaxSpoolLineBytes + 1));
  off_t start = out.size > window ? out.size - window : 0;
  std::string tail(size_t(out.size - start), '\0');
  ssize_t n = pread(fd, tail.data(), tail.size(), start);
  if (n != ssize_t(tail.size())) return Error{Errno("cannot read spool")};

  if (tail.back() != '\n') {
    size_t nl = tail.rfind('\n');
    size_t torn_start = nl == std::string::npos ? 0 : nl + 1;
    if (tail.size() - torn_start > kMaxSpoolLineBytes) {
      return Error{"the spool's last line has no newline and is longer "
                   "than the line limit; check the spool with zspctl "
                   "audit verify --spool"};
    }
    out.torn_from = start + off_t(torn_start);
    out.torn = tail.substr(torn_start);
    tail.resize(torn_start);
    if (tail.empty()) return out;
  }
  tail.pop_back();
  size_t nl = tail.rfind('\n');
  if (nl == std::string::npos && start != 0) {
    return Error{"last spool line is longer than the limit"};
  }
  out.last_line = nl == std::string::npos ? tail : tail.substr(nl + 1);
  return out;
}

// Returns the user that an incomplete record line names, as far as it
// got: its ZSP_USER member, or else the word after "user=" as the second
// word of its MESSAGE, which comes first because members are sorted. ""
// when it names neither in full, and for a spool-repaired record, whose
// text quotes other lines. JSON escapes quotes inside values, so
// "ZSP_USER":" can only be a member.
std::string RemovedRecordUser(std::string_view torn) {
  constexpr std::string_view kMessage = "{\"MESSAGE\":\"";
  constexpr std::string_view kUserMember = "\"ZSP_USER\":\"";
  bool has_message = torn.substr(0, kMessage.size()) == kMessage;
  std::string_view message =
      has_message ? torn.substr(kMessage.size()) : std::string_view();
  if (message.substr(0, 15) == "spool-repaired ") return "";
  std::string user;
  size_t member = torn.find(kUserMember);
  if (member != std::string_view::npos) {
    std::string_view value = torn.substr(member + kUserMember.size());
    size_t stop = value.find('"');
    if (stop != std::string_view::npos) user = value.substr(0, stop);
  } else if (has_message) {
    // MESSAGE is "EVENT user=NAME ...", and NAME ends at a space.
    size_t space = message.find(' ');
    size_t quote = message.find('"');
    if (space != std::string_view::npos && space < quote) {
      std::string_view rest = message.substr(space + 1);
      if (rest.substr(0, 5) == "user=") {
        rest.remove_prefix(5);
        size_t stop = rest.find_first_of(" \"");
        if (stop != std::string_view::npos && rest[stop] == ' ') {
          user = rest.substr(0, stop);
        }
      }
    }
  }
  return user.empty() ? "" : EscapeForLog(user, 64);
}

// Lifts RLIMIT_FSIZE while it exists and puts the old limit back after.
// sudo and su keep the invoking user's limits, and a limit that stops a
// spool write part way would let the user choose where the line ends.
// Lifting the hard limit needs CAP_SYS_RESOURCE, which sudo, su and sshd
// have as root. Without it the limit stays, and a cut write is undone.
class ScopedFileSizeLift {
 public:
  ScopedFileSizeLift() {
    if (getrlimit(RLIMIT_FSIZE, &old_) != 0 ||
        old_.rlim_cur == RLIM_INFINITY) {
      return;
    }
    struct rlimit lifted {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_FSIZE, &lifted) != 0) {
      lifted = {old_.rlim_max, old_.rlim_max};
      if (old_.rlim_max == old_.rlim_cur ||
          setrlimit(RLIMIT_FSIZE, &lifted) != 0) {
        return;
      }
    }
    lifted_ = true;
  }
  ~ScopedFileSizeLift() {
    if (lifted_) setrlimit(RLIMIT_FSIZE, &old_);
  }
  ScopedFileSizeLift(const ScopedFileSizeLift&) = delete;
  ScopedFileSizeLift& operator=(const ScopedFileSizeLift&) = delete;

 private:
  struct rlimit old_ {};
  bool lifted_ = false;
};

// Writes data at offset until all of it is written or a write fails, and
// returns how many bytes were written. errno is the reason it stopped
// short.
size_t WriteAllAt(int fd, const std::string& data, off_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done,
                       offset + off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) break;
    done += size_t(n);
  }
  return done;
}

// Puts the spool back as it was after an append that wrote `written` bytes
// at start and then failed. The bytes of an incomplete line (torn) that the
// append wrote over go back, and whatever lies past the old end is cut
// off. The caller reports the append's own error, so a failure here is
// not reported separately. What remains is complete lines and at most one
// incomplete line, which the next append removes and records.
void UndoAppend(int fd, off_t start, size_t written, const std::string& torn,
                off_t old_size) {
  WriteAllAt(fd, torn.substr(0, std::min(written, torn.size())), start);
  if (start + off_t(written) > old_size) {
    while (ftruncate(fd, old_size) != 0 && errno == EINTR) {
    }
  }
  fsync(fd);
}

}  // namespace

std::string SpoolPrivacyProblem(const struct stat& st,
                                const std::string& path) {
  if (st.st_uid != 0) return path + " is not owned by root";
  if ((st.st_mode & 077) != 0) return path + " is open to group or others";
  return "";
}

std::string EncodeSpoolRecord(const std::vector<std::string>& fields,
                              uint64_t seq, const std::string& prev,
                              int64_t time) {
  json record = json::object();
  for (const auto& field : fields) {
    size_t eq = field.find('=');
    if (eq == std::string::npos) continue;
    record[field.substr(0, eq)] = field.substr(eq + 1);
  }
  record["seq"] = seq;
  record["prev"] = prev;
  record["time"] = time;
  return record.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<SpoolPosition> AppendToSpool(const std::string& dir,
                                    const std::vector<std::string>& fields) {
  auto fd = OpenSpoolFile(dir);
  if (!fd.ok()) return Error{fd.error()};
  int raw = fd.value().get();
  while (flock(raw, LOCK_EX) != 0) {
    if (errno != EINTR) return Error{Errno("cannot lock spool")};
  }
  // The lock ends when the descriptor is closed.

  auto tail = ReadTail(raw);
  if (!tail.ok()) return Error{tail.error()};
  uint64_t seq = 1;
  std::string prev = kGenesisHash;
  const std::string& last = tail.value().last_line;
  if (!last.empty()) {
    json previous = json::parse(last, nullptr, false);
    auto it = previous.is_object() ? previous.find("seq") : previous.end();
    if (it == previous.end() || !it->is_number_unsigned()) {
      return Error{"last spool record has no sequence number"};
    }
    seq = it->get<uint64_t>() + 1;
    prev = Sha256Hex(last);
  }

  int64_t now = static_cast<int64_t>(std::time(nullptr));
  const SpoolTail& end = tail.value();
  SpoolRepair repair;
  std::string lines;
  off_t start = end.size;
  if (end.torn_from >= 0) {
    // A writer ended part way through its line (see audit_spool.h). A
    // record of the line takes its place, with its length, hash and text.
    repair.seq = seq;
    repair.removed_bytes = end.torn.size();
    repair.removed_hash = Sha256Hex(end.torn);
    std::string identifier = "zsp";
    for (const auto& field : fields) {
      if (field.rfind("SYSLOG_IDENTIFIER=", 0) == 0) {
        identifier = field.substr(std::strlen("SYSLOG_IDENTIFIER="));
      }
    }
    std::vector<std::string> repair_fields = {
        "MESSAGE=spool-repaired removed an incomplete last line of " +
            std::to_string(end.torn.size()) + " bytes",
        std::string("MESSAGE_ID=") + kSpoolRepairedMessageId,
        "SYSLOG_IDENTIFIER=" + identifier,
        "ZSP_REMOVED_BYTES=" + std::to_string(end.torn.size()),
        "ZSP_REMOVED_SHA256=" + repair.removed_hash,
        "ZSP_REMOVED_TEXT=" + EscapeForLog(end.torn, 1024)};
    repair.removed_user = RemovedRecordUser(end.torn);
    if (!repair.removed_user.empty()) {
      repair_fields.push_back("ZSP_REMOVED_USER=" + repair.removed_user);
    }
    std::string repair_line = EncodeSpoolRecord(repair_fields, seq, prev, now);
    repair.hash = Sha256Hex(repair_line);
    lines = repair_line + "\n";
    prev = repair.hash;
    ++seq;
    start = end.torn_from;
  }

  std::string line = EncodeSpoolRecord(fields, seq, prev, now);
  if (line.size() > kMaxSpoolLineBytes) {
    return Error{"audit record is larger than the spool line limit"};
  }
  lines += line + "\n";
  const off_t new_end = start + off_t(lines.size());

  // The new lines go over the incomplete line, if any, in one write, and
  // what is left of that line past them is cut off after. A writer killed
  // in between leaves the rest as an incomplete line, which the next
  // append removes and records, so no bytes go unrecorded. Writing over
  // it needs the descriptor without O_APPEND, which the exclusive lock
  // makes safe. Other appends keep O_APPEND, so that a spool with the
  // append-only attribute (chattr +a) still takes records.
  if (end.torn_from >= 0) {
    int flags = fcntl(raw, F_GETFL);
    if (flags < 0 || fcntl(raw, F_SETFL, flags & ~O_APPEND) != 0) {
      if (errno == EPERM) {
        return Error{"cannot replace the spool's incomplete last line (" +
                     std::to_string(end.torn.size()) +
                     " bytes): the file is append-only (chattr +a); remove "
                     "the attribute, or the line, to record decisions again"};
      }
      return Error{Errno("cannot write over the spool's incomplete last line")};
    }
  }
  // sudo 1.9.13 and su keep the invoking user's RLIMIT_FSIZE, which is
  // lifted for the write. Where it cannot be, SIGXFSZ, whose default
  // action ends the host process, is blocked, so the write fails with
  // EFBIG instead. A process killed in the middle of the write (sudo's and
  // su's invoking user may send SIGKILL) leaves an incomplete line, which
  // the next append replaces with its record.
  std::string failure;
  {
    ScopedSignalBlock block(SIGXFSZ);
    ScopedFileSizeLift lift;
    size_t written = WriteAllAt(raw, lines, start);
    if (written < lines.size()) {
      // A write cut short (a full disk) goes back, so that the spool
      // keeps its old end and the next append can try again.
      failure = Errno("cannot write spool");
    } else if (fsync(raw) != 0) {
      failure = Errno("cannot fsync spool");
    }
    if (!failure.empty()) {
      // NOTE: a writer killed between a cut-short write over an
      // incomplete line and this undo loses the part of that line it
      // wrote over. Once RLIMIT_FSIZE is lifted, only a full disk or an
      // I/O error cuts a write short. Where it cannot be lifted (no
      // CAP_SYS_RESOURCE), the invoking user's limit can as well.
      UndoAppend(raw, start, written, end.torn, end.size);
      return Error{failure};
    }
  }
  // The new records are on disk, so the append has succeeded. What is
  // left of the incomplete line past them goes now. If that fails, or the
  // writer is killed first, the rest stays as an incomplete line, which
  // the next append records.
  if (new_end < end.size) {
    while (ftruncate(raw, new_end) != 0 && errno == EINTR) {
    }
    fsync(raw);
  }
  return SpoolPosition{seq, Sha256Hex(line), repair};
}

ChainCheck CheckChain(const std::vector<std::string>& lines,
                      uint64_t expected_seq, const std::string& expected_prev) {
  ChainCheck check;
  check.first_seq = expected_seq;
  check.last_hash = expected_prev;
  std::string prev = expected_prev;
  uint64_t seq = expected_seq;
  for (const auto& line : lines) {
    json record = json::parse(line, nullptr, false);
    std::string where = "record " + std::to_string(seq) + ": ";
    if (!record.is_object()) {
      check.problem = where + "not a JSON object";
      return check;
    }
    auto s = record.find("seq");
    auto p = record.find("prev");
    if (s == record.end() || !s->is_number_unsigned() || *s != seq) {
      check.problem = where + "sequence number out of order";
      return check;
    }
    if (p == record.end() || !p->is_string() || *p != prev) {
      check.problem = where + "hash of the previous record does not match";
      return check;
    }
    prev = Sha256Hex(line);
    check.last_seq = seq;
    ++seq;
    ++check.records;
  }
  check.last_hash = prev;
  check.intact = true;
  return check;
}

Result<std::vector<std::string>> ReadSpoolLines(const std::string& path,
                                                std::string* incomplete) {
  FilePtr file(fopen(path.c_str(), "re"));
  if (!file) return Error{Errno("cannot open " + path)};
  std::vector<std::string> lines;
  std::string line;
  int c;
  while ((c = fgetc(file.get())) != EOF) {
    if (c == '\n') {
      lines.push_back(std::move(line));
      line.clear();
    } else if (line.size() >= kMaxSpoolLineBytes) {
      return Error{path + ": line " + std::to_string(lines.size() + 1) +
                   " is longer than the limit"};
    } else {
      line += char(c);
    }
  }
  if (!line.empty() && incomplete == nullptr) {
    return Error{path + ": last line has no newline"};
  }
  if (incomplete != nullptr) *incomplete = line;
  return lines;
}

}  // namespace zsp

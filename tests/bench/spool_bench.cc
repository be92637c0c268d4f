// Measures zsp::AppendToSpool: appends COUNT records shaped like a sudo
// allow record (about 600 bytes of JSON each) to the spool in DIR, each
// with its own open, flock, write and fsync, and prints one line of
// key=value pairs: records, seconds, us_per_record, median_us, p99_us.
//
// Usage: spool_bench DIR COUNT. Run as root: the spool refuses a directory
// that root does not own.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/audit_spool.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: spool_bench DIR COUNT\n");
    return 2;
  }
  char* end = nullptr;
  long count = std::strtol(argv[2], &end, 10);
  if (*end != '\0' || count < 1 || count > 10000000) {
    std::fprintf(stderr, "spool_bench: invalid COUNT %s (1 to 10000000)\n",
                 argv[2]);
    return 2;
  }
  std::string dir = argv[1];
  std::vector<std::string> fields = {
      "MESSAGE_ID=34880e3274ec4b8197a9866f02897fbe",
      "MESSAGE=allow user=alice runas=root grant=g-0123456789abcdef "
      "command=/usr/bin/true",
      "PRIORITY=6",
      "SYSLOG_IDENTIFIER=sudo_zsp",
      "ZSP_USER=alice",
      "ZSP_UID=1000",
      "ZSP_TTY=/dev/pts/0",
      "ZSP_CWD=/home/alice",
      "ZSP_KIND=sudo",
      "ZSP_RUNAS=root",
      "ZSP_COMMAND=/usr/bin/true",
      "ZSP_HOST=testhost",
      "ZSP_BROKER=https://127.0.0.1:8443",
      "ZSP_VERDICT=allow",
      "ZSP_GRANT=g-0123456789abcdef",
      "ZSP_REQUEST=r-0123456789abcdef",
      "ZSP_GRANT_EXPIRES=1893456000",
      "ZSP_TIMEOUT=3600",
      "ZSP_EXEC_INODE=1234567",
      "ZSP_DECISION=allow",
  };

  std::vector<double> times_us;
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    auto append_start = std::chrono::steady_clock::now();
    auto appended = zsp::AppendToSpool(dir, fields);
    if (!appended.ok()) {
      std::fprintf(stderr, "spool_bench: append %ld failed: %s\n", i + 1,
                   appended.error().c_str());
      return 1;
    }
    std::chrono::duration<double, std::micro> took =
        std::chrono::steady_clock::now() - append_start;
    times_us.push_back(took.count());
  }
  std::chrono::duration<double> elapsed =
      std::chrono::steady_clock::now() - start;

  std::sort(times_us.begin(), times_us.end());
  auto at = [&](double fraction) {
    return times_us[static_cast<size_t>(fraction * (times_us.size() - 1) +
                                        0.5)];
  };
  std::printf("records=%ld seconds=%.3f us_per_record=%.1f median_us=%.1f "
              "p99_us=%.1f\n",
              count, elapsed.count(), elapsed.count() * 1e6 / count, at(0.5),
              at(0.99));
  return 0;
}

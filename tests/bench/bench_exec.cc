// Runs a command COUNT times, one after another, and prints the median and
// 95th percentile of the wall time per run. It also prints the largest
// peak RSS of any process in the command's tree, from getrusage
// RUSAGE_CHILDREN, which covers descendants that were waited for.
//
// Usage: bench_exec [--times FILE] COUNT COMMAND [ARG...]. Output is one
// line of key=value pairs: runs, failures, median_ms, p95_ms, maxrss_kb.
// --times appends each run's wall time in milliseconds to FILE, one per
// line, so that several interleaved batches can be summarised together.
// The command's stdin, stdout and stderr are /dev/null. Exits 1 if any run
// failed.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

double Percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(fraction * (values.size() - 1) + 0.5);
  return values[index];
}

// Runs argv once and returns whether it exited with status 0.
bool RunOnce(char** argv) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
      dup2(null_fd, STDIN_FILENO);
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* times_path = nullptr;
  if (argc > 2 && std::string(argv[1]) == "--times") {
    times_path = argv[2];
    argc -= 2;
    argv += 2;
  }
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: bench_exec [--times FILE] COUNT COMMAND [ARG...]\n");
    return 2;
  }
  char* end = nullptr;
  long count = std::strtol(argv[1], &end, 10);
  if (*end != '\0' || count < 1 || count > 1000000) {
    std::fprintf(stderr, "bench_exec: invalid COUNT %s (1 to 1000000)\n",
                 argv[1]);
    return 2;
  }
  if (argv[2][0] != '/') {
    std::fprintf(stderr, "bench_exec: COMMAND must be an absolute path\n");
    return 2;
  }

  std::vector<double> times_ms;
  long failures = 0;
  for (long i = 0; i < count; ++i) {
    auto start = std::chrono::steady_clock::now();
    if (!RunOnce(argv + 2)) ++failures;
    std::chrono::duration<double, std::milli> took =
        std::chrono::steady_clock::now() - start;
    times_ms.push_back(took.count());
  }

  if (times_path != nullptr) {
    FILE* times = std::fopen(times_path, "ae");
    if (times == nullptr) {
      std::perror(times_path);
      return 2;
    }
    for (double ms : times_ms) std::fprintf(times, "%.3f\n", ms);
    std::fclose(times);
  }

  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  std::printf("runs=%ld failures=%ld median_ms=%.3f p95_ms=%.3f "
              "maxrss_kb=%ld\n",
              count, failures, Percentile(times_ms, 0.5),
              Percentile(times_ms, 0.95), usage.ru_maxrss);
  return failures == 0 ? 0 : 1;
}

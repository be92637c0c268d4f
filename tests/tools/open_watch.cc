// Reports every open, read, write or create inside the given directories
// (not recursive), one line per event: "EVENT DIR/NAME". The hostile-user
// test points the user's environment variables at files in these
// directories, so any line means some process followed a variable it
// should have ignored. Prints "ready" once every watch is in place, then
// runs until killed.
//
//   open_watch DIR...
#include <sys/inotify.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: open_watch DIR...\n");
    return 2;
  }
  int fd = inotify_init1(IN_CLOEXEC);
  if (fd < 0) {
    std::perror("open_watch: inotify_init1");
    return 1;
  }
  std::map<int, std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    int wd = inotify_add_watch(
        fd, argv[i], IN_OPEN | IN_ACCESS | IN_MODIFY | IN_CREATE);
    if (wd < 0) {
      std::fprintf(stderr, "open_watch: cannot watch %s\n", argv[i]);
      return 1;
    }
    dirs[wd] = argv[i];
  }
  std::printf("ready\n");
  std::fflush(stdout);

  alignas(inotify_event) char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return 1;
    for (char* p = buf; p < buf + n;) {
      auto* event = reinterpret_cast<inotify_event*>(p);
      const char* kind = (event->mask & IN_CREATE)   ? "CREATE"
                         : (event->mask & IN_MODIFY) ? "MODIFY"
                         : (event->mask & IN_ACCESS) ? "ACCESS"
                                                     : "OPEN";
      std::printf("%s %s/%s\n", kind, dirs[event->wd].c_str(),
                  event->len > 0 ? event->name : "");
      std::fflush(stdout);
      p += sizeof(inotify_event) + event->len;
    }
  }
}

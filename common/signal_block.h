// Blocking one signal in the calling thread for the life of an object.
// Host-side code must not change the host process's signal dispositions,
// yet must not be killed by a signal that its own system call raises
// (SIGPIPE from a closed TLS peer, SIGXFSZ from a write past the user's
// RLIMIT_FSIZE).
#ifndef ZSP_COMMON_SIGNAL_BLOCK_H_
#define ZSP_COMMON_SIGNAL_BLOCK_H_

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace zsp {

// Blocks signal signo until destroyed. An instance of signo raised
// meanwhile (and not already pending before) is consumed before the old
// mask comes back, so it is never delivered. The failing call reports the
// error (EPIPE, EFBIG) instead.
class ScopedSignalBlock {
 public:
  explicit ScopedSignalBlock(int signo) : signo_(signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, signo_) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }

  ~ScopedSignalBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, signo_) == 1) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, signo_);
      timespec zero{};
      sigtimedwait(&set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

  ScopedSignalBlock(const ScopedSignalBlock&) = delete;
  ScopedSignalBlock& operator=(const ScopedSignalBlock&) = delete;

 private:
  int signo_;
  sigset_t old_{};
  bool was_pending_ = false;
};

}  // namespace zsp

#endif  // ZSP_COMMON_SIGNAL_BLOCK_H_

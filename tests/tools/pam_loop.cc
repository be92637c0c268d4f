// Runs N cycles of pam_start, pam_acct_mgmt, pam_open_session,
// pam_close_session and pam_end in one process, the way a long-lived
// service such as sshd's monitor or a screen locker uses a PAM module.
// Run under valgrind to find leaks and memory errors in pam_zsp.
//
// Usage: pam_loop SERVICE USER COUNT. Prints how many cycles each phase
// succeeded and exits 0 only if all did.
#include <security/pam_appl.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

int Silent(int, const pam_message**, pam_response** resp, void*) {
  *resp = nullptr;
  return PAM_CONV_ERR;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: pam_loop SERVICE USER COUNT\n");
    return 2;
  }
  char* end = nullptr;
  long count = std::strtol(argv[3], &end, 10);
  if (*end != '\0' || count < 1 || count > 100000) {
    std::fprintf(stderr, "pam_loop: COUNT must be 1 to 100000\n");
    return 2;
  }
  pam_conv conv{Silent, nullptr};
  long acct_ok = 0;
  long session_ok = 0;
  for (long i = 0; i < count; ++i) {
    pam_handle_t* pamh = nullptr;
    if (pam_start(argv[1], argv[2], &conv, &pamh) != PAM_SUCCESS) return 1;
    pam_set_item(pamh, PAM_RHOST, "2001:db8::7");
    int rc = pam_acct_mgmt(pamh, 0);
    if (rc == PAM_SUCCESS) ++acct_ok;
    rc = pam_open_session(pamh, 0);
    if (rc == PAM_SUCCESS) {
      ++session_ok;
      pam_close_session(pamh, 0);
    }
    pam_end(pamh, rc);
  }
  std::printf("cycles=%ld account_ok=%ld session_ok=%ld\n", count, acct_ok,
              session_ok);
  return acct_ok == count && session_ok == count ? 0 : 1;
}

// Sends one journal entry through zsp::SendJournalEntry, the code that the
// modules use, so that tests can read it back from a real journald. Each
// FIELD is NAME=VALUE, or NAME@FILE to take the value from FILE (for
// values longer than an argument may be). Exits 0 when the entry was
// sent, and 1 with the error on standard error when it was not.
//
//   journal_send [--socket PATH] FIELD...
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "common/journal_socket.h"

namespace {

// Turns NAME@FILE into NAME=contents, and keeps any other argument as it
// is. Returns false when FILE cannot be read.
bool ExpandField(const std::string& argument, std::string* field) {
  size_t at = argument.find('@');
  if (at == std::string::npos || argument.find('=') < at) {
    *field = argument;
    return true;
  }
  std::ifstream file(argument.substr(at + 1), std::ios::binary);
  if (!file) return false;
  std::string value((std::istreambuf_iterator<char>(file)),
                    std::istreambuf_iterator<char>());
  *field = argument.substr(0, at) + "=" + value;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = zsp::kJournalSocket;
  int first = 1;
  if (argc >= 3 && std::strcmp(argv[1], "--socket") == 0) {
    socket_path = argv[2];
    first = 3;
  }
  if (first >= argc) {
    std::fprintf(stderr, "usage: journal_send [--socket PATH] FIELD...\n");
    return 2;
  }

  std::vector<std::string> fields;
  for (int i = first; i < argc; ++i) {
    std::string field;
    if (!ExpandField(argv[i], &field)) {
      std::fprintf(stderr, "journal_send: failed to read the file in %s\n",
                   argv[i]);
      return 1;
    }
    fields.push_back(std::move(field));
  }
  int r = zsp::SendJournalEntry(fields, socket_path);
  if (r < 0) {
    std::fprintf(stderr, "journal_send: %s (errno %d)\n", std::strerror(-r),
                 -r);
    return 1;
  }
  return 0;
}

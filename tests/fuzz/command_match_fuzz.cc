// libFuzzer target: the broker's command matching. The input is lines: a
// policy command pattern, a requested command entry, then the argv of a
// sudo call. Checks, for every input:
// - A wildcard argument pattern never matches an argument with a ".."
//   path segment, and a literal one matches only the same text.
// - A policy pattern with arguments covers only entries with the same
//   path and the same number of words, so no wildcard reaches across an
//   argument boundary.
// - A grant entry matches only an argv with its path and, unless it is
//   the path alone, exactly its words. One more argument never matches.
// - An entry built by joining an argv with spaces matches that argv.
#include <cstdint>
#include <string>
#include <vector>

#include "broker/policy.h"
#include "broker/policy_file.h"
#include "common/text.h"

namespace {

bool HasWildcard(const std::string& text) {
  return text.find_first_of("*?[") != std::string::npos;
}

bool HasDotDotSegment(const std::string& text) {
  for (const auto& segment : zsp::SplitString(text, '/')) {
    if (segment == "..") return true;
  }
  return false;
}

void CheckArgumentMatch(const std::string& pattern, const std::string& arg) {
  if (!zsp::broker::ArgumentMatches(pattern, arg)) return;
  if (HasWildcard(pattern) && HasDotDotSegment(arg)) __builtin_trap();
  if (!HasWildcard(pattern) && pattern != arg) __builtin_trap();
}

void CheckPatternCovers(const std::string& pattern, const std::string& entry) {
  if (pattern == "*") return;
  if (!zsp::broker::CommandPatternCovers(pattern, entry)) return;
  std::vector<std::string> want = zsp::SplitString(pattern, ' ');
  std::vector<std::string> have = zsp::SplitString(entry, ' ');
  if (want[0] != have[0]) __builtin_trap();
  if (want.size() == 1) return;
  if (want.size() != have.size()) __builtin_trap();
  for (size_t i = 1; i < want.size(); ++i) {
    if (HasWildcard(want[i]) && HasDotDotSegment(have[i])) __builtin_trap();
    if (!HasWildcard(want[i]) && want[i] != have[i]) __builtin_trap();
  }
  // One more argument is one more word than the pattern has.
  if (zsp::broker::CommandPatternCovers(pattern, entry + " x")) {
    __builtin_trap();
  }
}

void CheckEntryMatches(const std::string& entry,
                       const std::vector<std::string>& argv) {
  if (!zsp::broker::CommandEntryMatches(entry, argv)) return;
  std::vector<std::string> words = zsp::SplitString(entry, ' ');
  if (argv.empty() || words[0] != argv[0]) __builtin_trap();
  if (words.size() == 1) return;
  if (words.size() == 2 && words[1] == "\"\"") {
    if (argv.size() != 1) __builtin_trap();
    return;
  }
  if (words != argv) __builtin_trap();
  std::vector<std::string> longer = argv;
  longer.push_back(argv.back());
  if (zsp::broker::CommandEntryMatches(entry, longer)) __builtin_trap();
}

// An argv whose arguments contain no space joins into an entry that matches
// it exactly, the way zspctl suggests a --command for a denied call.
void CheckJoinedEntry(const std::vector<std::string>& argv) {
  if (argv.size() < 2) return;
  std::string entry = argv[0];
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i].empty() || argv[i] == "\"\"" ||
        argv[i].find(' ') != std::string::npos) {
      return;
    }
    entry += " " + argv[i];
  }
  if (argv[0].find(' ') != std::string::npos) return;
  if (!zsp::broker::CommandEntryMatches(entry, argv)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines = zsp::SplitString(text, '\n');
  if (lines.size() < 2) return 0;
  const std::string& pattern = lines[0];
  const std::string& entry = lines[1];
  std::vector<std::string> argv(lines.begin() + 2, lines.end());

  CheckPatternCovers(pattern, entry);
  std::vector<std::string> pattern_words = zsp::SplitString(pattern, ' ');
  for (size_t i = 1; i < pattern_words.size() && i < argv.size(); ++i) {
    CheckArgumentMatch(pattern_words[i], argv[i]);
  }
  CheckEntryMatches(entry, argv);
  CheckJoinedEntry(argv);
  return 0;
}

// The words after a zspctl command name, split into positionals, options
// that take a value and flags, with the usage errors zspctl prints.
#ifndef ZSP_BROKER_ZSPCTL_WORDS_H_
#define ZSP_BROKER_ZSPCTL_WORDS_H_

#include <algorithm>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/escape.h"

namespace zsp::zspctl {

// A command line that zspctl cannot run. main() prints it with the usage.
class UsageException : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Command words: positionals, option values and flags.
struct CommandWords {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> options;
  std::set<std::string> flags;

  // Returns the first value of option name, if given.
  std::optional<std::string> One(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }

  // Returns every value of option name, in command line order.
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> values;
    auto [begin, end] = options.equal_range(name);
    for (auto it = begin; it != end; ++it) values.push_back(it->second);
    return values;
  }

  bool Flag(const std::string& name) const { return flags.count(name) > 0; }

  // Returns the value of option name, or throws a usage error naming
  // command and the missing option.
  std::string Required(const std::string& name,
                       const std::string& command) const {
    auto value = One(name);
    if (!value) throw UsageException(command + " needs " + name);
    return *value;
  }
};

// The options, flags and positionals that a command accepts.
struct WordRules {
  std::vector<std::string> value_options;  // each takes the next word
  std::vector<std::string> flag_options;   // take no value
  bool repeatable = false;  // a value option may be given more than once
  size_t max_positional = std::numeric_limits<size_t>::max();
};

// Splits args[first..] by rules. Throws UsageException for an unknown
// option, an option without its value, a repeated option that rules do
// not allow, and a positional beyond rules.max_positional.
inline CommandWords ParseCommandWords(const std::vector<std::string>& args,
                                      size_t first, const WordRules& rules) {
  auto contains = [](const std::vector<std::string>& list,
                     const std::string& word) {
    return std::find(list.begin(), list.end(), word) != list.end();
  };
  auto show = [](const std::string& text) { return EscapeForLog(text, 256); };

  CommandWords words;
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (contains(rules.flag_options, word)) {
      words.flags.insert(word);
    } else if (contains(rules.value_options, word)) {
      if (i + 1 >= args.size()) {
        throw UsageException("option " + word + " needs a value");
      }
      if (!rules.repeatable && words.options.count(word) > 0) {
        throw UsageException("option " + word + " given twice");
      }
      words.options.emplace(word, args[++i]);
    } else if (word.size() > 1 && word[0] == '-') {
      throw UsageException("unknown option " + show(word));
    } else if (words.positional.size() >= rules.max_positional) {
      throw UsageException("unexpected argument " + show(word));
    } else {
      words.positional.push_back(word);
    }
  }
  return words;
}

}  // namespace zsp::zspctl

#endif  // ZSP_BROKER_ZSPCTL_WORDS_H_

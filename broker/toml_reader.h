// Reading of the broker's TOML files (the policy and oidc.toml): field
// readers whose errors name the file, the line and the field.
#ifndef ZSP_BROKER_TOML_READER_H_
#define ZSP_BROKER_TOML_READER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <toml.hpp>
#include <utility>
#include <vector>

#include "common/escape.h"
#include "common/result.h"

namespace zsp::broker {

using TomlValue = toml::basic_value<toml::discard_comments, std::map,
                                    std::vector>;

// A validation failure at a line; ParseToml turns it into
// "PATH:LINE: message".
struct TomlError {
  int line;
  std::string message;
};

int TomlLine(const TomlValue& value);

// A reader of the fields of one TOML table, naming them "prefix.key" in
// errors. An unknown field's error points at doc.
class TomlTable {
 public:
  TomlTable(const TomlValue& table, std::string prefix, std::string doc)
      : table_(table), prefix_(std::move(prefix)), doc_(std::move(doc)) {}

  [[noreturn]] void Fail(const TomlValue& at, const std::string& key,
                         const std::string& problem) const;
  std::string Field(const std::string& key) const;
  void RejectUnknown(const std::set<std::string>& known) const;

  const TomlValue* Find(const std::string& key) const;
  const TomlValue& Require(const std::string& key) const;
  std::optional<std::string> OptionalString(const std::string& key) const;
  std::string String(const std::string& key,
                     const std::string& fallback) const;
  int64_t Integer(const std::string& key, int64_t fallback, int64_t min,
                  int64_t max) const;
  bool Boolean(const std::string& key, bool fallback) const;

  // Returns a list of at most max_entries strings. Each string goes to
  // check, which returns "" or the problem.
  template <typename Check>
  std::vector<std::string> Strings(const std::string& key, size_t max_entries,
                                   Check check) const {
    std::vector<std::string> list;
    const TomlValue* value = Find(key);
    if (value == nullptr) return list;
    if (!value->is_array()) Fail(*value, key, "must be a list of strings");
    const auto& array = value->as_array();
    if (array.size() > max_entries) {
      Fail(*value, key,
           "has more than " + std::to_string(max_entries) + " entries");
    }
    for (const auto& item : array) {
      if (!item.is_string()) Fail(item, key, "must contain only strings");
      std::string text = item.as_string().str;
      std::string problem = check(text);
      if (!problem.empty()) {
        Fail(item, key, "\"" + EscapeForLog(text, 128) + "\" " + problem);
      }
      list.push_back(text);
    }
    return list;
  }

  // Returns seconds from an integer or a string such as "90s", "30m",
  // "4h" or "2d", from 1 to max.
  int64_t Seconds(const std::string& key, int64_t fallback,
                  int64_t max) const;

  const TomlValue& table() const { return table_; }

 private:
  const TomlValue& table_;
  std::string prefix_;
  std::string doc_;
};

// Parses text as the TOML file path and returns read(root). A TomlError
// from read and a TOML syntax error become "PATH:LINE: message".
template <typename T, typename Read>
Result<T> ParseToml(const std::string& text, const std::string& path,
                    Read read) {
  std::istringstream stream(text);
  try {
    TomlValue root =
        toml::parse<toml::discard_comments, std::map, std::vector>(stream,
                                                                   path);
    return read(root);
  } catch (const TomlError& error) {
    return Error{path + ":" + std::to_string(error.line) + ": " +
                 error.message};
  } catch (const toml::exception& error) {
    // toml11 gives a multi-line message; its first line names the problem.
    std::string what = error.what();
    std::string first = what.substr(0, what.find('\n'));
    if (first.rfind("[error] ", 0) == 0) first = first.substr(8);
    return Error{path + ":" + std::to_string(error.location().line()) +
                 ": invalid TOML: " + first};
  } catch (const std::exception& error) {
    return Error{path + ": invalid TOML: " + error.what()};
  }
}

}  // namespace zsp::broker

#endif  // ZSP_BROKER_TOML_READER_H_

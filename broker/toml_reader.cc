#include "broker/toml_reader.h"

#include "common/text.h"

namespace zsp::broker {

int TomlLine(const TomlValue& value) {
  return static_cast<int>(value.location().line());
}

void TomlTable::Fail(const TomlValue& at, const std::string& key,
                     const std::string& problem) const {
  throw TomlError{TomlLine(at), Field(key) + ": " + problem};
}

std::string TomlTable::Field(const std::string& key) const {
  return prefix_.empty() ? key : prefix_ + "." + key;
}

void TomlTable::RejectUnknown(const std::set<std::string>& known) const {
  for (const auto& [key, value] : table_.as_table()) {
    if (known.count(key) == 0) {
      Fail(value, key, "unknown field; check its spelling in " + doc_);
    }
  }
}

const TomlValue* TomlTable::Find(const std::string& key) const {
  const auto& table = table_.as_table();
  auto it = table.find(key);
  return it == table.end() ? nullptr : &it->second;
}

const TomlValue& TomlTable::Require(const std::string& key) const {
  const TomlValue* value = Find(key);
  if (value == nullptr) Fail(table_, key, "missing");
  return *value;
}

std::optional<std::string> TomlTable::OptionalString(
    const std::string& key) const {
  const TomlValue* value = Find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) Fail(*value, key, "must be a string");
  return value->as_string().str;
}

std::string TomlTable::String(const std::string& key,
                              const std::string& fallback) const {
  return OptionalString(key).value_or(fallback);
}

int64_t TomlTable::Integer(const std::string& key, int64_t fallback,
                           int64_t min, int64_t max) const {
  const TomlValue* value = Find(key);
  if (value == nullptr) return fallback;
  if (!value->is_integer() || value->as_integer() < min ||
      value->as_integer() > max) {
    Fail(*value, key,
         "must be an integer from " + std::to_string(min) + " to " +
             std::to_string(max));
  }
  return value->as_integer();
}

bool TomlTable::Boolean(const std::string& key, bool fallback) const {
  const TomlValue* value = Find(key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) Fail(*value, key, "must be true or false");
  return value->as_boolean();
}

int64_t TomlTable::Seconds(const std::string& key, int64_t fallback,
                           int64_t max) const {
  const TomlValue* value = Find(key);
  if (value == nullptr) return fallback;
  int64_t seconds = -1;
  if (value->is_integer()) {
    seconds = value->as_integer();
  } else if (value->is_string() &&
             !ParseDurationSeconds(value->as_string().str, &seconds)) {
    seconds = -1;
  }
  if (seconds < 1 || seconds > max) {
    Fail(*value, key,
         "must be 1 to " + std::to_string(max) +
             " seconds, as an integer or a string like \"30m\", \"4h\" "
             "or \"1d\"");
  }
  return seconds;
}

}  // namespace zsp::broker

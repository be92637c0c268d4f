#include "broker/fields.h"

#include <cstring>

namespace zsp::broker {

void FieldReader::RejectUnknown(std::initializer_list<const char*> known) {
  for (const auto& item : body_.items()) {
    bool found = false;
    for (const char* name : known) {
      if (item.key() == name) found = true;
    }
    if (!found) {
      // The key is caller text; keep the message short.
      std::string key = item.key().substr(0, 64);
      Fail(key.c_str(), "unknown field");
    }
  }
}

const nlohmann::json* FieldReader::Find(const char* name) const {
  auto it = body_.find(name);
  if (it == body_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<std::string> FieldReader::String(const char* name) {
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    Fail(name, "must be a string");
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::optional<int64_t> FieldReader::Integer(const char* name) {
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::nullopt;
  if (value->is_number_unsigned()) {
    uint64_t number = value->get<uint64_t>();
    if (number > static_cast<uint64_t>(INT64_MAX)) {
      Fail(name, "is out of range");
      return std::nullopt;
    }
    return static_cast<int64_t>(number);
  }
  if (!value->is_number_integer()) {
    Fail(name, "must be an integer");
    return std::nullopt;
  }
  return value->get<int64_t>();
}

std::optional<std::vector<std::string>> FieldReader::StringArray(
    const char* name, size_t max_entries) {
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_array()) {
    Fail(name, "must be an array of strings");
    return std::nullopt;
  }
  if (value->size() > max_entries) {
    Fail(name, "has more than " + std::to_string(max_entries) + " entries");
    return std::nullopt;
  }
  std::vector<std::string> list;
  for (const auto& item : *value) {
    if (!item.is_string()) {
      Fail(name, "must be an array of strings");
      return std::nullopt;
    }
    list.push_back(item.get<std::string>());
  }
  return list;
}

void FieldReader::Fail(const char* name, const std::string& problem) {
  if (error_.empty()) error_ = std::string(name) + ": " + problem;
}

}  // namespace zsp::broker

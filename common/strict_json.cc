#include "common/strict_json.h"

#include <set>
#include <string>
#include <vector>

namespace zsp {

nlohmann::json ParseStrictJson(std::string_view text) {
  using nlohmann::json;
  bool rejected = false;
  std::vector<std::set<std::string>> open_objects;
  json::parser_callback_t check = [&](int depth, json::parse_event_t event,
                                      json& parsed) {
    if (depth > kMaxJsonDepth) rejected = true;
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end &&
               !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() &&
               parsed.is_string() &&
               !open_objects.back().insert(parsed.get<std::string>()).second) {
      rejected = true;
    }
    return !rejected;
  };
  json value = json::parse(text, check, false);
  if (rejected) return json(json::value_t::discarded);
  return value;
}

}  // namespace zsp

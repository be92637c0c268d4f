#include "broker/access_text.h"

namespace zsp::broker {
namespace {

using nlohmann::json;

std::vector<std::string> Strings(
    const json& object, const char* name,
    const std::function<std::string(std::string_view)>& show) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& item : *it) {
    if (item.is_string()) out.push_back(show(item.get<std::string>()));
  }
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) {
    if (!joined.empty()) joined += ", ";
    joined += item;
  }
  return joined;
}

}  // namespace

AccessText DescribeAccess(
    const json& object,
    const std::function<std::string(std::string_view)>& show) {
  AccessText text;
  auto kind = object.find("kind");
  std::string kind_text =
      kind != object.end() && kind->is_string() ? kind->get<std::string>() : "";
  auto full_root = object.find("full_root");
  text.full_root = full_root != object.end() && full_root->is_boolean() &&
                   full_root->get<bool>();
  if (kind_text != "sudo") {
    text.head = show(kind_text);
    return text;
  }
  text.head = "sudo as " + Join(Strings(object, "runas", show));
  std::string groups = Join(Strings(object, "runas_groups", show));
  if (!groups.empty()) text.head += " (groups " + groups + ")";
  std::string env = Join(Strings(object, "env", show));
  if (!env.empty()) text.head += " (environment " + env + ")";
  text.commands = Strings(object, "commands", show);
  return text;
}

}  // namespace zsp::broker

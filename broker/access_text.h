// The access that a request or grant of the broker's API gives, in words.
// zspctl and the web page share it, so they show an approver one scope.
#ifndef ZSP_BROKER_ACCESS_TEXT_H_
#define ZSP_BROKER_ACCESS_TEXT_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace zsp::broker {

// The warning shown next to a request or grant whose commands include a
// shell or a wildcard.
inline constexpr char kFullRootWarning[] =
    "a command runs a shell or any program: this is full root";

struct AccessText {
  // "login", or "sudo as root, www-data (groups adm) (environment TZ)"
  std::string head;
  std::vector<std::string> commands;  // sudo only
  bool full_root = false;
};

// Describes object, a request or grant as the API returns it. show turns
// each string from the object into display text, such as an escaped copy.
AccessText DescribeAccess(
    const nlohmann::json& object,
    const std::function<std::string(std::string_view)>& show);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_ACCESS_TEXT_H_

// libFuzzer target: the parsers of the broker's unsigned host responses
// (request status and grant list). The first input byte picks the HTTP
// status, the rest is the body. Any body must give a result or an error,
// never an exception (libFuzzer reports an uncaught one as a crash), and a
// parsed status always has an id and a state.
#include <cstdint>
#include <string_view>

#include "common/host_requests.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr long kStatuses[] = {200, 201, 204, 301, 400, 403, 404, 500};
  long status = kStatuses[data[0] % (sizeof kStatuses / sizeof kStatuses[0])];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  auto request = zsp::ParseRequestStatus(status, body);
  if (request.ok()) {
    if (status / 100 != 2) __builtin_trap();
    if (request.value().id.empty() || request.value().state.empty()) {
      __builtin_trap();
    }
  }
  auto grants = zsp::ParseGrantList(status, body);
  if (grants.ok() && status / 100 != 2) __builtin_trap();
  return 0;
}

// The sd-bus error of one method call, shared by the agent's calls to
// systemd's manager and to logind.
#ifndef ZSP_AGENT_BUS_ERROR_H_
#define ZSP_AGENT_BUS_ERROR_H_

#include <systemd/sd-bus.h>

#include <cstring>
#include <string>

namespace zsp::agent {

// An sd_bus_error that is freed when it goes out of scope.
struct BusError {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&error); }
};

// Formats "SERVICE METHOD failed: DETAIL", where DETAIL is the bus error's
// name and message when the call returned one, else strerror(-r).
inline std::string BusCallFailed(const char* service, const char* method,
                                 int r, const BusError& bus_error) {
  std::string detail = strerror(-r);
  if (sd_bus_error_is_set(&bus_error.error)) {
    detail = std::string(bus_error.error.name) + ": " +
             (bus_error.error.message ? bus_error.error.message : "");
  }
  return std::string(service) + " " + method + " failed: " + detail;
}

}  // namespace zsp::agent

#endif  // ZSP_AGENT_BUS_ERROR_H_

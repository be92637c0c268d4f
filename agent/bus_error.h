// The sd-bus connection and error handling shared by the agent's calls to
// systemd's manager and to logind.
#ifndef ZSP_AGENT_BUS_ERROR_H_
#define ZSP_AGENT_BUS_ERROR_H_

#include <systemd/sd-bus.h>

#include <cstdint>
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

// Reopens *bus on the system bus unless it is open, with method calls
// that time out after timeout_usec. Returns 0, or the negative errno of a
// failed open, which leaves *bus null.
inline int ReopenSystemBus(sd_bus** bus, uint64_t timeout_usec) {
  if (*bus != nullptr && sd_bus_is_open(*bus) > 0) return 0;
  sd_bus_flush_close_unref(*bus);
  *bus = nullptr;
  int r = sd_bus_open_system(bus);
  if (r < 0) {
    *bus = nullptr;
    return r;
  }
  sd_bus_set_method_call_timeout(*bus, timeout_usec);
  return 0;
}

}  // namespace zsp::agent

#endif  // ZSP_AGENT_BUS_ERROR_H_

// The HTTPS front of the broker: TLS with optional client certificates
// (hosts present one, people use bearer tokens), a thread pool from
// cpp-httplib, and clean shutdown on SIGTERM or SIGINT.
#ifndef ZSP_BROKER_SERVER_H_
#define ZSP_BROKER_SERVER_H_

#include <string>

#include "broker/settings.h"

namespace zsp::broker {

// Serves the API of the broker directory dir until SIGTERM or SIGINT.
// Returns the process exit status; errors are printed to stderr.
int Serve(const std::string& dir, const Settings& settings);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_SERVER_H_

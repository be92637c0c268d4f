// libFuzzer target: the decision relay parsers (common/decision_relay.h)
// and the place request parser (common/agent_protocol.h), which share one
// request line reader. The input is read as a whole reply from zsp-agent,
// which a hostile agent controls, and as a decide and a place request
// line, which the agent reads.
// Checks the limits each parser promises and that whatever parses
// encodes back to something that parses to the same values.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/agent_protocol.h"
#include "common/decision_relay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto reply = zsp::ParseRelayReply(text);
  if (reply.ok() && reply.value().ok) {
    const zsp::RelayReply& r = reply.value();
    if (r.body.size() > zsp::kMaxRelayResponseBytes) __builtin_trap();
    if (r.status < 100 || r.status > 599) __builtin_trap();
    auto again = zsp::ParseRelayReply(zsp::EncodeRelayReply(r));
    if (!again.ok() || again.value().body != r.body ||
        again.value().status != r.status) {
      __builtin_trap();
    }
  }

  auto request = zsp::ParseRelayRequest(text);
  if (request.ok()) {
    const zsp::RelayRequest& r = request.value();
    if (r.body.empty() || r.body.size() > zsp::kMaxRelayBodyBytes) {
      __builtin_trap();
    }
    if (r.timeout_ms < zsp::kMinRelayTimeoutMs ||
        r.timeout_ms > zsp::kMaxRelayTimeoutMs) {
      __builtin_trap();
    }
    std::string line = zsp::EncodeRelayRequest(r);
    line.pop_back();
    auto again = zsp::ParseRelayRequest(line);
    if (!again.ok() || again.value().body != r.body) __builtin_trap();
  }

  auto place = zsp::ParsePlaceRequest(text);
  if (place.ok()) {
    const zsp::PlaceRequest& p = place.value();
    if (p.token.empty() || text.size() >= zsp::kMaxAgentRequestBytes) {
      __builtin_trap();
    }
    std::string line = p.break_glass
                           ? zsp::EncodeBreakGlassPlaceRequest(p.token)
                           : zsp::EncodePlaceRequest(p.token);
    line.pop_back();
    auto again = zsp::ParsePlaceRequest(line);
    if (!again.ok() || again.value().token != p.token ||
        again.value().break_glass != p.break_glass) {
      __builtin_trap();
    }
  }
  zsp::AgentRequestOp(text);
  return 0;
}

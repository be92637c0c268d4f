#include "common/interactive_request.h"

#include <ctime>

#include "common/escape.h"
#include "common/host_requests.h"

namespace zsp {
namespace {

constexpr int kPollMilliseconds = 1000;
constexpr char kPrefix[] = "zsp: ";

std::string Clock(int64_t seconds) {
  std::string s = std::to_string(seconds % 60);
  if (s.size() < 2) s = "0" + s;
  return std::to_string(seconds / 60) + ":" + s;
}

InteractiveOutcome Denied(const Decision& denial, std::string why,
                          std::string request_id = "") {
  InteractiveOutcome out;
  out.decision = denial;
  out.why = std::move(why);
  out.request_id = std::move(request_id);
  return out;
}

// Fills in the request for the denied question. A command line that the
// broker's entry syntax cannot hold exactly (an argument with a space,
// such as a shell's -c string) is requested as the path with any
// arguments, and the user is told so.
NewRequest DescribeRequest(const HostConfig& config, const DecisionQuery& q,
                           UserTerminal* terminal) {
  NewRequest request;
  request.user = q.user;
  request.kind = q.kind;
  request.duration = config.request_duration_sec;
  if (q.kind == "sudo") {
    request.runas = {q.runas};
    std::string entry = CommandEntryFor(q.argv);
    if (entry.empty()) {
      entry = q.argv[0];
      terminal->Show(std::string(kPrefix) + "the request will cover " +
                     EscapeForLog(entry, 256) + " with any arguments");
    }
    request.commands = {entry};
    if (!q.runas_group.empty()) request.runas_groups = {q.runas_group};
    request.env = q.env;
  }
  return request;
}

}  // namespace

InteractiveOutcome RequestAndWait(const HostConfig& config,
                                  const std::vector<PinnedKey>& keys,
                                  const DecisionQuery& query,
                                  const Decision& denial,
                                  UserTerminal* terminal) {
  if (!denial.message.empty()) {
    terminal->Show(std::string(kPrefix) + EscapeForLog(denial.message, 1024));
  }
  std::optional<std::string> reason = terminal->Ask(
      "zsp: reason for access (an empty line cancels): ");
  if (!reason.has_value()) return Denied(denial, "prompt interrupted");
  if (reason->empty()) return Denied(denial, "no reason given");

  NewRequest request = DescribeRequest(config, query, terminal);
  request.reason = *reason;
  auto filed = FileHostRequest(config, request);
  if (!filed.ok()) {
    terminal->Show(std::string(kPrefix) + "the request could not be filed: " +
                   EscapeForLog(filed.error(), 512));
    return Denied(denial, "filing failed: " + filed.error());
  }
  const std::string id = filed.value().id;
  terminal->Show(std::string(kPrefix) + "request " + id +
                 " filed; an approver can approve it with: zspctl approve " +
                 id);

  int64_t deadline = int64_t(std::time(nullptr)) + config.request_wait_sec;
  struct WaitingScope {
    UserTerminal* terminal;
    explicit WaitingScope(UserTerminal* t) : terminal(t) {
      terminal->BeginWaiting();
    }
    ~WaitingScope() { terminal->EndWaiting(); }
  } waiting(terminal);
  while (true) {
    int64_t left = deadline - int64_t(std::time(nullptr));
    if (left <= 0) {
      terminal->Status("");
      CancelHostRequest(config, id);
      terminal->Show(std::string(kPrefix) + "no decision on " + id +
                     " in time; the request was cancelled");
      return Denied(denial, "no decision in time", id);
    }
    terminal->Status(std::string(kPrefix) + "waiting for approval of " + id +
                     " (" + Clock(left) + " left, Ctrl-C cancels)");
    if (!terminal->Wait(kPollMilliseconds)) {
      terminal->Status("");
      CancelHostRequest(config, id);
      terminal->Show(std::string(kPrefix) + "request " + id + " cancelled");
      return Denied(denial, "cancelled by the user", id);
    }
    auto status = GetHostRequest(config, id);
    if (!status.ok()) continue;  // a passing broker fault: keep waiting
    const std::string& state = status.value().state;
    if (state == "pending") continue;

    terminal->Status("");
    if (state != "approved") {
      std::string by = status.value().decided_by.empty()
                           ? ""
                           : " by " + EscapeForLog(status.value().decided_by, 64);
      std::string comment =
          status.value().comment.empty()
              ? ""
              : ": " + EscapeForLog(status.value().comment, 256);
      terminal->Show(std::string(kPrefix) + "request " + id + " was " +
                     state + by + comment);
      return Denied(denial, "request " + state, id);
    }
    terminal->Show(std::string(kPrefix) + "request " + id + " approved by " +
                   EscapeForLog(status.value().decided_by, 64));
    InteractiveOutcome out;
    out.request_id = id;
    out.decision = AskBroker(config, keys, query);
    if (out.decision.verdict != Verdict::kAllow) out.why = "no allow after approval";
    return out;
  }
}

}  // namespace zsp

// vrseg — the command-line tool: a thin layer over the library. Subcommands live in cmd_*.cc
// and register themselves (commands.h).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "cli/commands.h"
#include "vrseg/log.h"
#include "vrseg/status.h"

namespace vrseg::cli {

std::vector<CommandEntry>& Commands() {
  static std::vector<CommandEntry> commands;
  return commands;
}

bool RegisterCommand(std::string name, int order, SetupFn setup) {
  Commands().push_back({std::move(name), order, std::move(setup)});
  return true;
}

namespace {
std::atomic<bool> g_stop{false};
int g_wake_pipe[2] = {-1, -1};
std::mutex g_stop_mu;
std::vector<std::function<void()>> g_stop_fns;

void OnSignal(int) {
  g_stop.store(true);
  const char b = 1;
  if (g_wake_pipe[1] >= 0) (void)!write(g_wake_pipe[1], &b, 1);
}

void InstallSignalHandlers() {
  if (pipe(g_wake_pipe) != 0) return;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Callbacks run on an ordinary thread, never inside the signal handler.
  std::thread([] {
    char b;
    while (read(g_wake_pipe[0], &b, 1) == 1) {
      LogWarning("stop requested: finishing the frames in flight and finalising outputs");
      std::vector<std::function<void()>> fns;
      {
        std::lock_guard<std::mutex> lock(g_stop_mu);
        fns.swap(g_stop_fns);
      }
      for (auto& fn : fns) fn();
    }
  }).detach();
}
}  // namespace

bool StopRequested() { return g_stop.load(); }

void OnStopRequest(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(g_stop_mu);
  if (g_stop.load()) {
    fn();
    return;
  }
  g_stop_fns.push_back(std::move(fn));
}

}  // namespace vrseg::cli

namespace {
constexpr const char* kExitCodes = R"(Exit codes:
  0    success
  1    internal error (a bug: please report it)
  2    bad command line, option or configuration value
  3    input, model or file not found
  4    a file could not be read or written
  5    corrupt or truncated input (the message names the file and frame)
  6    invalid or unusable model
  7    unsupported input (codec, pixel format, operator)
  8    out of memory
  9    a frame missed its deadline
  10   a resource (GPU, device) is unavailable
  130  interrupted (Ctrl-C / SIGTERM); outputs written so far are finalised)";
}  // namespace

int main(int argc, char** argv) {
  using namespace vrseg::cli;
  CLI::App app{"vrseg " VRSEG_VERSION " — cut people out of video"};
  app.footer(kExitCodes);
  app.require_subcommand(1);
  app.set_version_flag("--version", "vrseg " VRSEG_VERSION);
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");
  app.add_flag("-v,--verbose", verbose, "Debug logging");

  auto& cmds = Commands();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.order < b.order; });
  std::vector<std::pair<CLI::App*, RunFn>> runners;
  for (auto& c : cmds) {
    const size_t before = app.get_subcommands({}).size();
    RunFn run = c.setup(app);
    auto subs = app.get_subcommands({});
    if (subs.size() > before) runners.emplace_back(subs.back(), std::move(run));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : vrseg::ExitCodeFor(vrseg::StatusCode::kInvalidArgument);
  }
  if (quiet) vrseg::SetLogLevel(vrseg::LogLevel::kError);
  if (verbose) vrseg::SetLogLevel(vrseg::LogLevel::kDebug);
  InstallSignalHandlers();
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) return run();
  }
  return vrseg::ExitCodeFor(vrseg::StatusCode::kInvalidArgument);
}

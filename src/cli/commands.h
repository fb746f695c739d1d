// Subcommand registry of the `vrseg` command. Each src/cli/cmd_*.cc registers itself with a static
// initializer: its setup function adds a CLI11 subcommand to the app and returns the function that
// runs it (returning the process exit code, see ExitCodeFor in vrseg/status.h).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace vrseg::cli {

using RunFn = std::function<int()>;
using SetupFn = std::function<RunFn(CLI::App& app)>;

// Registers a subcommand; `order` sorts the help listing. Returns true (for static initializers).
bool RegisterCommand(std::string name, int order, SetupFn setup);

struct CommandEntry {
  std::string name;
  int order;
  SetupFn setup;
};
std::vector<CommandEntry>& Commands();

// True once SIGINT/SIGTERM was received (installed by main); long-running commands poll it.
bool StopRequested();
// Registers a callback run (once, from a watcher thread) when SIGINT/SIGTERM arrives.
void OnStopRequest(std::function<void()> fn);

}  // namespace vrseg::cli

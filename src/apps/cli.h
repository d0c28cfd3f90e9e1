#pragma once
// Subcommand registration for the tokamak binary. Each subcommand lives in cmd_<name>.cpp and
// returns a process exit code; errors are printed as one line "tokamak: <what>: <details>".
#include <CLI/CLI.hpp>

#include "base/status.h"

namespace tk::apps {

void add_run_command(CLI::App& app, int& exit_code);
void add_logits_command(CLI::App& app, int& exit_code);
void add_tokenize_command(CLI::App& app, int& exit_code);
void add_info_command(CLI::App& app, int& exit_code);
void add_synth_command(CLI::App& app, int& exit_code);
void add_convert_command(CLI::App& app, int& exit_code);
void add_quantize_command(CLI::App& app, int& exit_code);
void add_perplexity_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);

// Prints the error and returns its exit code.
int report_error(const Status& s);

}  // namespace tk::apps

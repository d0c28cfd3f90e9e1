#include <cstdio>

#include "apps/cli.h"

int main(int argc, char** argv) {
    CLI::App app{"tokamak: run large language models on your own CPU"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "tokamak 0.1.0");
    int exit_code = 0;
    tk::apps::add_run_command(app, exit_code);
    tk::apps::add_logits_command(app, exit_code);
    tk::apps::add_tokenize_command(app, exit_code);
    tk::apps::add_info_command(app, exit_code);
    tk::apps::add_synth_command(app, exit_code);
    tk::apps::add_convert_command(app, exit_code);
    tk::apps::add_quantize_command(app, exit_code);
    tk::apps::add_perplexity_command(app, exit_code);
    tk::apps::add_serve_command(app, exit_code);
    tk::apps::add_bench_command(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return exit_code;
}

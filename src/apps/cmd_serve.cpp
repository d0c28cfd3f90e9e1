// tokamak serve: the OpenAI-compatible HTTP server over the batched engine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include "apps/cli.h"
#include "apps/model_options.h"
#include "apps/spec_options.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/runner.h"
#include "formats/gguf.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace tk::apps {
namespace {

struct ServeArgs {
    ModelOptions model;
    SpecOptions spec;
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string alias;
    int64_t max_seqs = 16;
    int64_t max_queue = 64;
    int64_t max_batch_tokens = 512;
    std::string api_key;
    std::string api_key_file;
    std::vector<std::string> cors_origins;
    std::string request_log;
    bool log_prompts = false;
    bool metrics = false;
    int64_t kv_mem_mib = 1024;
    int64_t max_body_mib = 16;
    double grace_s = 30;
    bool no_webui = false;
    std::string chat_template_file;
    int64_t write_buffer_kib = 256;
    double write_timeout_s = 60;
    int64_t send_buffer_kib = 0;
};

Result<std::vector<std::string>> api_keys(const ServeArgs& a) {
    std::vector<std::string> keys;
    if (!a.api_key.empty()) keys.push_back(a.api_key);
    if (!a.api_key_file.empty()) {
        std::ifstream f(a.api_key_file);
        if (!f)
            return make_error(ErrorCode::kNotFound, "cannot read --api-key-file " + a.api_key_file);
        std::string line;
        while (std::getline(f, line)) {
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            if (!line.empty() && line[0] != '#') keys.push_back(line);
        }
        if (keys.empty())
            return make_error(ErrorCode::kInvalidArgument,
                              "--api-key-file " + a.api_key_file + " holds no key");
    }
    return keys;
}

int run(const ServeArgs& a) {
    auto keys = api_keys(a);
    if (!keys.is_ok()) return report_error(keys.status());

    server::http::ServerConfig hc;
    hc.host = a.host;
    hc.port = a.port;
    hc.api_keys = *keys;
    hc.cors_origins = a.cors_origins;
    hc.max_body_bytes = static_cast<size_t>(std::max<int64_t>(a.max_body_mib, 1)) << 20;
    hc.write_buffer_bytes = static_cast<size_t>(a.write_buffer_kib) << 10;
    hc.write_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.write_timeout_s * 1000));
    hc.send_buffer_bytes = static_cast<int>(a.send_buffer_kib << 10);
    server::openai::ApiConfig ac;
    ac.model_name = a.alias;
    if (ac.model_name.empty()) {
        const std::string& p = a.model.model_path;
        ac.model_name =
            p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
    }
    ac.max_queue = a.max_queue;
    ac.metrics = a.metrics;
    ac.request_log = a.request_log;
    ac.log_prompts = a.log_prompts;

    server::Server srv(hc, ac, !a.no_webui);
    if (Status s = srv.listen(); !s.is_ok()) return report_error(s);
    const auto grace = std::chrono::milliseconds(static_cast<int64_t>(a.grace_s * 1000));
    srv.handle_signals(grace);
    // Tests and scripts read the port from this line (with --port 0 it is the kernel's choice).
    std::printf("listening on http://%s:%d\n", a.host.c_str(), srv.port());
    std::fflush(stdout);

    // Serve /health (503 "loading") while the model loads.
    std::thread io([&srv] { srv.run(); });

    auto model = a.model.load();
    if (!model.is_ok()) {
        srv.shutdown(std::chrono::milliseconds(0));
        io.join();
        return report_error(model.status());
    }
    const model::Model& m = **model;
    auto draft = a.spec.load_draft(m, a.model.n_threads);
    if (!draft.is_ok()) {
        srv.shutdown(std::chrono::milliseconds(0));
        io.join();
        return report_error(draft.status());
    }
    const int64_t bs = 16;
    int64_t n_ctx = a.model.n_ctx > 0 ? a.model.n_ctx : m.hparams().n_ctx_train;
    n_ctx = std::min<int64_t>(n_ctx, m.hparams().n_ctx_train);
    const int64_t per_ctx = (n_ctx + bs - 1) / bs;
    const int64_t by_mem =
        engine::ModelRunner::blocks_for_bytes(m, a.kv_mem_mib << 20, bs, a.model.kv());
    // Room for every running sequence at full context, if memory allows; never less than one.
    const int64_t n_blocks = std::max(per_ctx + 1, std::min(by_mem, per_ctx * a.max_seqs));

    engine::EngineConfig ec;
    ec.max_seqs = a.max_seqs;
    ec.max_batch_tokens = a.max_batch_tokens;
    ec.n_ctx = n_ctx;
    a.spec.apply(ec);
    engine::Engine engine(
        std::make_unique<engine::ModelRunner>(m, n_blocks, bs, a.model.kv(), draft->get()),
        &m.tokenizer(), ec);

    std::string tmpl(m.gguf().get_string("tokenizer.chat_template").value_or(""));
    if (!a.chat_template_file.empty()) {
        std::ifstream f(a.chat_template_file, std::ios::binary);
        if (!f) {
            srv.shutdown(std::chrono::milliseconds(0));
            io.join();
            return report_error(make_error(ErrorCode::kNotFound, "cannot read --chat-template-file " +
                                                                     a.chat_template_file));
        }
        tmpl.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    if (tmpl.empty()) log_info("model has no chat template: chat uses the ChatML-like fallback");
    if (Status s = srv.attach(&engine, &m.tokenizer(), tmpl); !s.is_ok()) {
        srv.shutdown(std::chrono::milliseconds(0));
        io.join();
        return report_error(s);
    }
    log_info("ready: " + std::to_string(n_blocks) + " KV blocks of " + std::to_string(bs) +
             " tokens, context " + std::to_string(engine.config().n_ctx) + ", max " +
             std::to_string(engine.config().max_seqs) + " sequences");
    io.join();  // returns after SIGINT/SIGTERM and the grace period
    log_info("shut down");
    return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<ServeArgs>();
    CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server");
    args->model.add_to(*cmd);
    args->spec.add_to(*cmd);
    cmd->add_option("--host", args->host, "Address to bind (default 127.0.0.1)");
    cmd->add_option("--port", args->port, "Port (0: any free port; default 8080)")
        ->check(CLI::Range(0, 65535));
    cmd->add_option("--alias", args->alias, "Model name in the API (default: the file name)");
    cmd->add_option("--max-seqs", args->max_seqs, "Sequences running at once (default 16)")
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--max-queue", args->max_queue,
                    "Requests waiting beyond --max-seqs before 503 (default 64)")
        ->check(CLI::Range(0, 1 << 20));
    cmd->add_option("--max-batch-tokens", args->max_batch_tokens,
                    "Tokens per engine step (default 512)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--api-key", args->api_key,
                    "Require Authorization: Bearer KEY (not on /health)");
    cmd->add_option("--api-key-file", args->api_key_file, "File with one accepted key per line");
    cmd->add_option("--cors-origin", args->cors_origins,
                    "Allowed browser origin (repeatable; * for any)");
    cmd->add_option("--request-log", args->request_log,
                    "Append one JSON line per finished request");
    cmd->add_flag("--log-prompts", args->log_prompts, "Include prompt text in the request log");
    cmd->add_flag("--metrics", args->metrics, "Serve Prometheus metrics at GET /metrics");
    cmd->add_option("--kv-mem", args->kv_mem_mib, "KV cache memory in MiB (default 1024)")
        ->check(CLI::Range(1, 1 << 24));
    cmd->add_option("--max-body", args->max_body_mib, "Largest request body in MiB (default 16)")
        ->check(CLI::Range(1, 1024));
    cmd->add_option("--grace", args->grace_s,
                    "Seconds running requests may take to finish on SIGTERM (default 30)")
        ->check(CLI::Range(0.0, 3600.0));
    cmd->add_flag("--no-webui", args->no_webui, "Do not serve the chat page at /");
    cmd->add_option("--chat-template-file", args->chat_template_file,
                    "Jinja chat template to use instead of the model's own");
    cmd->add_option("--write-buffer", args->write_buffer_kib,
                    "KiB queued per client before its stream pauses (default 256)")
        ->check(CLI::Range(4, 1 << 20));
    cmd->add_option("--write-timeout", args->write_timeout_s,
                    "Seconds a client may take no bytes before it is dropped (default 60)")
        ->check(CLI::Range(0.05, 3600.0));
    cmd->add_option("--send-buffer", args->send_buffer_kib,
                    "Kernel send buffer per connection in KiB (default: autotuned)")
        ->check(CLI::Range(0, 1 << 16));
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps

// tokamak perplexity: llama-perplexity's perplexity and KL-divergence modes.
//   tokamak perplexity -m MODEL -f TEXT [-c 512] [-b N] [--chunks N] [--json]
//   tokamak perplexity -m F16_MODEL -f TEXT --kl-base base.tkkl     (also saves the base logits)
//   tokamak perplexity -m Q4_MODEL [-f TEXT] --kl-divergence base.tkkl
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "apps/cli.h"
#include "apps/model_options.h"
#include "base/progress.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"

namespace tk::apps {
namespace {

struct PerplexityArgs {
    ModelOptions model;
    std::string text_file;
    int64_t n_ctx = 512;
    int64_t n_batch = 0;
    int64_t chunks = -1;
    bool json = false;
    std::string kl_base;
    std::string kl_divergence;
    bool ctx_given = false;
};

Result<std::string> read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return make_error(ErrorCode::kNotFound, path + ": cannot open the text file");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) return make_error(ErrorCode::kIo, path + ": read failed");
    return ss.str();
}

// Running values go to stdout after every chunk, as llama-perplexity prints them. When stdout and
// the progress bar share a terminal they would overwrite each other, so the bar then shows the
// running value and the values are printed once at the end.
bool stream_running_output() { return isatty(STDOUT_FILENO) != 1 || isatty(STDERR_FILENO) != 1; }

std::string quantile_name(double f) {
    if (f >= 1.0) return "max";
    if (f <= 0.0) return "min";
    if (f == 0.5) return "median";
    char buf[32];
    std::snprintf(buf, sizeof buf, "p%g", f * 100.0);
    return buf;
}

std::string quantile_label(double f) {
    if (f >= 1.0) return "Maximum";
    if (f <= 0.0) return "Minimum";
    if (f == 0.5) return "Median ";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%4.1f%%  ", f * 100.0);
    return buf;
}

nlohmann::json value_error_json(const eval::ValueError& v) {
    return {{"value", v.value}, {"error", v.error}};
}

nlohmann::json quantiles_json(const std::vector<eval::Quantile>& qs) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& q : qs) j[quantile_name(q.fraction)] = q.value;
    return j;
}

void print_json(const nlohmann::json& j) {
    const std::string s = j.dump(2);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputs("\n", stdout);
}

int run_perplexity(const PerplexityArgs& a, const model::Model& m,
                   const std::vector<int32_t>& tokens) {
    eval::PerplexityOptions o;
    o.n_ctx = a.n_ctx;
    o.n_batch = a.n_batch;
    o.max_chunks = a.chunks;
    o.kv_type = a.model.kv();
    o.kl_base_path = a.kl_base;
    const bool stream = !a.json && stream_running_output();
    std::unique_ptr<ProgressBar> bar;
    auto progress = [&](const eval::EvalProgress& p) {
        if (!bar) bar = std::make_unique<ProgressBar>("perplexity", p.n_chunks);
        char detail[64];
        std::snprintf(detail, sizeof detail, "[%lld]%.4f", static_cast<long long>(p.chunks_done),
                      p.running_ppl);
        bar->update(p.chunks_done, detail);
        if (stream) {
            std::printf("[%lld]%.4f,", static_cast<long long>(p.chunks_done), p.running_ppl);
            std::fflush(stdout);
        }
    };
    auto r = eval::perplexity(m, tokens, o, progress);
    if (bar) bar->finish();
    if (!r.is_ok()) return report_error(r.status());
    const eval::PerplexityResult& res = *r;
    std::fprintf(stderr,
                 "perplexity: %lld chunks of %lld tokens (batch %lld) in %.2f s, %.1f tokens/s\n",
                 static_cast<long long>(res.n_chunks), static_cast<long long>(res.n_ctx),
                 static_cast<long long>(res.n_batch), res.seconds, res.tokens_per_second);
    if (!a.kl_base.empty())
        std::fprintf(stderr, "perplexity: saved KL-divergence base to %s\n", a.kl_base.c_str());
    if (a.json) {
        nlohmann::json j;
        j["model"] = a.model.model_path;
        j["text_file"] = a.text_file;
        j["ppl"] = res.ppl;
        j["ppl_stderr"] = res.ppl_stderr;
        j["mean_nll"] = res.mean_nll;
        j["n_ctx"] = res.n_ctx;
        j["n_batch"] = res.n_batch;
        j["n_chunks"] = res.n_chunks;
        j["n_tokens"] = res.n_tokens;
        j["n_tokens_scored"] = res.n_tokens_scored;
        j["kv_type"] = a.model.kv_type;
        j["n_threads"] = m.pool().size();
        j["running"] = res.running;
        j["seconds"] = res.seconds;
        j["tokens_per_second"] = res.tokens_per_second;
        if (!a.kl_base.empty()) j["kl_base"] = a.kl_base;
        print_json(j);
        return 0;
    }
    if (!stream) {
        for (size_t i = 0; i < res.running.size(); ++i)
            std::printf("[%zu]%.4f,", i + 1, res.running[i]);
    }
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_stderr);
    return 0;
}

void print_kld_row(const eval::KldChunkRow& r) {
    std::printf(
        "%4lld    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f"
        "    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%\n",
        static_cast<long long>(r.chunk), r.ppl.value, r.ppl.error, r.ln_ppl_ratio.value,
        r.ln_ppl_ratio.error, r.kld.value, r.kld.error, 100.0 * r.dp_rms.value,
        100.0 * r.dp_rms.error, 100.0 * r.same_top.value, 100.0 * r.same_top.error);
}

void print_kld_report(const eval::KldResult& k) {
    std::printf("\n====== Perplexity statistics ======\n");
    std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", k.ppl.value, k.ppl.error);
    std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", k.ppl_base.value,
                k.ppl_base.error);
    std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * k.ln_ppl_correlation);
    std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", k.ln_ppl_ratio.value,
                k.ln_ppl_ratio.error);
    std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", k.ppl_ratio.value,
                k.ppl_ratio.error);
    std::printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", k.ppl_diff.value,
                k.ppl_diff.error);
    std::printf("\n====== KL divergence statistics ======\n");
    std::printf("Mean    KLD: %10.6f ± %10.6f\n", k.kld.value, k.kld.error);
    for (const auto& q : k.kld_quantiles)
        std::printf("%s KLD: %10.6f\n", quantile_label(q.fraction).c_str(), q.value);
    std::printf("\n====== Token probability statistics ======\n");
    std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * k.dp.value, 100.0 * k.dp.error);
    for (const auto& q : k.dp_quantiles)
        std::printf("%s Δp: %6.3f%%\n", quantile_label(q.fraction).c_str(), 100.0 * q.value);
    std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * k.dp_rms.value, 100.0 * k.dp_rms.error);
    std::printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * k.same_top.value,
                100.0 * k.same_top.error);
}

int run_kl_divergence(const PerplexityArgs& a, const model::Model& m,
                      const std::vector<int32_t>& tokens) {
    eval::KldOptions o;
    o.n_ctx = a.ctx_given ? a.n_ctx : 0;
    o.n_batch = a.n_batch;
    o.max_chunks = a.chunks;
    o.kv_type = a.model.kv();
    const bool stream = !a.json && stream_running_output();
    const char* kHeader =
        "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence           "
        "   Δp RMS"
        "            Same top p\n";
    std::unique_ptr<ProgressBar> bar;
    auto progress = [&](const eval::EvalProgress& p) {
        if (!bar) bar = std::make_unique<ProgressBar>("kl-divergence", p.n_chunks);
        char detail[64];
        std::snprintf(detail, sizeof detail, "PPL %.4f KLD %.6f", p.running_ppl, p.running_kld);
        bar->update(p.chunks_done, detail);
    };
    auto on_row = [&](const eval::KldChunkRow& row) {
        if (!stream) return;
        if (row.chunk == 1) std::printf("%s", kHeader);
        print_kld_row(row);
    };
    auto r = eval::kl_divergence(m, a.kl_divergence, tokens, o, progress, on_row);
    if (bar) bar->finish();
    if (!r.is_ok()) return report_error(r.status());
    const eval::KldResult& k = *r;
    std::fprintf(
        stderr, "kl-divergence: %lld chunks of %lld tokens (batch %lld) in %.2f s, %.1f tokens/s\n",
        static_cast<long long>(k.n_chunks), static_cast<long long>(k.n_ctx),
        static_cast<long long>(k.n_batch), k.seconds, k.tokens_per_second);
    if (a.json) {
        nlohmann::json j;
        j["model"] = a.model.model_path;
        j["base_file"] = a.kl_divergence;
        j["n_ctx"] = k.n_ctx;
        j["n_batch"] = k.n_batch;
        j["n_vocab"] = k.n_vocab;
        j["n_chunks"] = k.n_chunks;
        j["n_tokens_scored"] = k.count;
        j["kv_type"] = a.model.kv_type;
        j["ppl"] = value_error_json(k.ppl);
        j["ppl_base"] = value_error_json(k.ppl_base);
        j["ln_ppl_correlation"] = k.ln_ppl_correlation;
        j["ln_ppl_ratio"] = value_error_json(k.ln_ppl_ratio);
        j["ppl_ratio"] = value_error_json(k.ppl_ratio);
        j["ppl_diff"] = value_error_json(k.ppl_diff);
        nlohmann::json kld = quantiles_json(k.kld_quantiles);
        kld["mean"] = k.kld.value;
        kld["mean_error"] = k.kld.error;
        j["kld"] = kld;
        nlohmann::json dp = quantiles_json(k.dp_quantiles);
        dp["mean"] = k.dp.value;
        dp["mean_error"] = k.dp.error;
        dp["rms"] = k.dp_rms.value;
        dp["rms_error"] = k.dp_rms.error;
        j["delta_p"] = dp;
        j["same_top"] = value_error_json(k.same_top);
        nlohmann::json running = nlohmann::json::array();
        for (const auto& row : k.chunks) running.push_back(row.ppl.value);
        j["running_ppl"] = running;
        j["seconds"] = k.seconds;
        j["tokens_per_second"] = k.tokens_per_second;
        print_json(j);
        return 0;
    }
    if (!stream) {
        std::printf("%s", kHeader);
        for (const auto& row : k.chunks) print_kld_row(row);
    }
    print_kld_report(k);
    return 0;
}

int run(PerplexityArgs a) {
    if (!a.kl_base.empty() && !a.kl_divergence.empty())
        return report_error(
            make_error(ErrorCode::kInvalidArgument, "give --kl-base or --kl-divergence, not both"));
    if (a.text_file.empty() && a.kl_divergence.empty())
        return report_error(make_error(ErrorCode::kInvalidArgument, "no text given (-f TEXT)"));
    if (a.n_batch < 0)
        return report_error(make_error(ErrorCode::kInvalidArgument, "-b must be positive"));
    std::string text;
    if (!a.text_file.empty()) {
        auto t = read_text(a.text_file);
        if (!t.is_ok()) return report_error(t.status());
        text = std::move(*t);
    }
    auto loaded = a.model.load();
    if (!loaded.is_ok()) return report_error(loaded.status());
    const model::Model& m = **loaded;
    if (a.ctx_given && a.n_ctx > m.hparams().n_ctx_train) {
        std::fprintf(stderr,
                     "tokamak: warning: the model was trained on only %lld context tokens (%lld "
                     "specified)\n",
                     static_cast<long long>(m.hparams().n_ctx_train),
                     static_cast<long long>(a.n_ctx));
    }
    std::vector<int32_t> tokens;
    if (!a.text_file.empty()) {
        tokens = eval::tokenize_text(m, text);
        std::fprintf(stderr, "perplexity: %s: %zu tokens\n", a.text_file.c_str(), tokens.size());
    }
    if (!a.kl_divergence.empty()) return run_kl_divergence(a, m, tokens);
    // Checked here too so that the message names the file.
    auto plan = eval::plan_chunks(static_cast<int64_t>(tokens.size()), a.n_ctx, a.chunks);
    if (!plan.is_ok())
        return report_error(
            Status(plan.status().code(), a.text_file + ": " + plan.status().message()));
    return run_perplexity(a, m, tokens);
}

}  // namespace

void add_perplexity_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<PerplexityArgs>();
    CLI::App* cmd = app.add_subcommand(
        "perplexity",
        "Perplexity of a text (llama-perplexity's method) and KL divergence against a base model");
    args->model.add_to(*cmd, /*with_ctx=*/false);
    cmd->add_option("-f,--file", args->text_file, "Text file to evaluate");
    auto* ctx = cmd->add_option("-c,--ctx-size", args->n_ctx, "Tokens per chunk (default 512)");
    cmd->add_option("-b,--batch-size", args->n_batch,
                    "Tokens per forward pass (default: the chunk size)");
    cmd->add_option("--chunks", args->chunks, "Evaluate at most N chunks (default: all)");
    cmd->add_option("--kv-type", args->model.kv_type, "KV cache element type (default f16)")
        ->check(CLI::IsMember({"f16", "f32"}));
    cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
    cmd->add_option("--kl-base", args->kl_base,
                    "Also save this model's predictions to FILE for --kl-divergence");
    cmd->add_option("--kl-divergence", args->kl_divergence,
                    "Compare with the base FILE saved by --kl-base (-f optional: checks the text)");
    cmd->callback([args, ctx, &exit_code] {
        args->ctx_given = ctx->count() > 0;
        exit_code = run(*args);
    });
}

}  // namespace tk::apps

// tokamak bench: prompt-processing and generation speed of one sequence, and with --parallel the
// aggregate generation speed of N concurrent sequences through the batching engine.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/model_options.h"
#include "base/timer.h"
#include "engine/engine.h"
#include "engine/runner.h"
#include "model/session.h"

namespace tk::apps {
namespace {

struct BenchArgs {
    ModelOptions model;
    int n_prompt = 128;
    int n_gen = 64;
    int reps = 3;
    std::vector<int> parallel;
    int64_t max_batch_tokens = 512;
    int64_t max_seqs = 0;  // 0: the largest --parallel value
};

struct ParallelResult {
    int n_seqs = 0;
    double prompt_tps =
        0;               // all prompts submitted at once, until every sequence has its first token
    double gen_tps = 0;  // generated tokens of all sequences per second once all are decoding
    double gen_ratio = 0;  // gen_tps / gen_tps of one sequence through the engine
    std::vector<double> gen_samples;
};

// Kept as plain data so later output formats (--json) and measurements (bandwidth) can be added.
struct BenchResult {
    std::string model_path;
    std::string arch;
    int64_t n_layer = 0, n_embd = 0;
    int64_t file_bytes = 0, weight_bytes_per_token = 0;
    int threads = 0;
    std::string kv_type;
    int n_prompt = 0, n_gen = 0, reps = 0;
    std::string load_avg;                // /proc/loadavg before the run: the machine may be shared
    double prompt_tps = 0, gen_tps = 0;  // one sequence through model::Session, medians
    std::vector<double> prompt_samples, gen_samples;
    int64_t max_batch_tokens = 0;
    std::vector<ParallelResult> parallel;
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string read_load_avg() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    if (!(f >> a >> b >> c)) return "?";
    return a + " " + b + " " + c;
}

std::vector<int32_t> random_tokens(std::mt19937_64& rng, int n, int64_t n_vocab) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(n_vocab));
    return t;
}

// One sequence alone: a prompt of n_prompt tokens in one batch, then n_gen single-token steps.
Status bench_single(const model::Model& m, const BenchArgs& a, BenchResult& r) {
    const int64_t V = m.hparams().n_vocab;
    std::mt19937_64 rng(1234);
    model::Session session(m, a.n_prompt + a.n_gen + 1, a.model.kv());
    std::vector<float> logits;
    {  // warm-up: touches every weight page once
        const auto t = random_tokens(rng, 4, V);
        TK_RETURN_IF_ERROR(session.decode(t.data(), 4, false, logits));
    }
    for (int rep = 0; rep < a.reps; ++rep) {
        session.clear();
        const auto prompt = random_tokens(rng, a.n_prompt, V);
        Timer tp;
        TK_RETURN_IF_ERROR(session.decode(prompt.data(), a.n_prompt, false, logits));
        r.prompt_samples.push_back(a.n_prompt / tp.seconds());
        Timer tg;
        for (int i = 0; i < a.n_gen; ++i) {
            const int32_t id = static_cast<int32_t>(rng() % static_cast<uint64_t>(V));
            TK_RETURN_IF_ERROR(session.decode(&id, 1, false, logits));
        }
        r.gen_samples.push_back(a.n_gen / tg.seconds());
    }
    r.prompt_tps = median(r.prompt_samples);
    r.gen_tps = median(r.gen_samples);
    return Status::ok();
}

// N sequences submitted at once to a fresh engine; speeds from the events' step timestamps.
Status bench_parallel(const model::Model& m, const BenchArgs& a, int n_seqs, ParallelResult& out) {
    const int64_t V = m.hparams().n_vocab;
    constexpr int64_t kBlock = 16;
    const int64_t per_seq = (a.n_prompt + a.n_gen + kBlock) / kBlock + 1;
    engine::EngineConfig cfg;
    cfg.max_batch_tokens = a.max_batch_tokens;
    cfg.max_seqs = std::max<int64_t>(a.max_seqs > 0 ? a.max_seqs : n_seqs, 1);
    cfg.prefix_caching = false;  // random prompts share nothing; measure the plain path
    cfg.n_ctx = a.n_prompt + a.n_gen + 1;
    engine::Engine eng(
        std::make_unique<engine::ModelRunner>(m, per_seq * n_seqs, kBlock, a.model.kv()),
        &m.tokenizer(), cfg);
    std::mt19937_64 rng(777 + static_cast<uint64_t>(n_seqs));
    std::vector<double> prompt_samples;
    for (int rep = 0; rep < a.reps; ++rep) {
        std::vector<std::shared_ptr<engine::Stream>> streams;
        const auto t_submit = engine::Event::Clock::now();
        for (int i = 0; i < n_seqs; ++i) {
            engine::Request req;
            req.prompt = random_tokens(rng, a.n_prompt, V);
            req.max_tokens = a.n_gen;
            req.ignore_eos = true;
            req.sampling.temperature = 0.0f;
            auto s = eng.submit(std::move(req));
            if (!s.is_ok()) return s.status();
            streams.push_back(*s);
        }
        std::vector<std::vector<engine::Event::Clock::time_point>> times(streams.size());
        engine::Event::Clock::time_point t_end{};
        for (size_t i = 0; i < streams.size(); ++i) {
            while (auto e = streams[i]->read()) {
                if (e->is_final()) {
                    if (e->finish == engine::FinishReason::kError) return e->error;
                    t_end = std::max(t_end, e->time);
                } else {
                    times[i].push_back(e->time);
                }
            }
        }
        auto t_all_decoding = t_submit;
        for (const auto& t : times)
            if (!t.empty()) t_all_decoding = std::max(t_all_decoding, t.front());
        int64_t decode_tokens = 0;
        for (const auto& t : times)
            for (const auto& x : t) decode_tokens += x > t_all_decoding ? 1 : 0;
        const double prefill_s = std::chrono::duration<double>(t_all_decoding - t_submit).count();
        const double decode_s = std::chrono::duration<double>(t_end - t_all_decoding).count();
        prompt_samples.push_back(
            prefill_s > 0 ? static_cast<double>(n_seqs) * a.n_prompt / prefill_s : 0);
        out.gen_samples.push_back(decode_s > 0 ? static_cast<double>(decode_tokens) / decode_s : 0);
    }
    out.n_seqs = n_seqs;
    out.prompt_tps = median(prompt_samples);
    out.gen_tps = median(out.gen_samples);
    return Status::ok();
}

void print_result(const BenchResult& r) {
    std::printf("model:   %s (%s, %lld layers, n_embd %lld, %.2f GiB, %.2f GiB read per token)\n",
                r.model_path.c_str(), r.arch.c_str(), static_cast<long long>(r.n_layer),
                static_cast<long long>(r.n_embd), r.file_bytes / 1073741824.0,
                r.weight_bytes_per_token / 1073741824.0);
    std::printf("threads: %d, kv: %s, load average before: %s\n", r.threads, r.kv_type.c_str(),
                r.load_avg.c_str());
    std::printf(
        "one sequence (median of %d): prompt %d tokens: %.2f tok/s; generate %d tokens: %.2f "
        "tok/s\n",
        r.reps, r.n_prompt, r.prompt_tps, r.n_gen, r.gen_tps);
    if (r.parallel.empty()) return;
    std::printf("engine, %d-token prompts, %d tokens each, max-batch-tokens %lld (median of %d):\n",
                r.n_prompt, r.n_gen, static_cast<long long>(r.max_batch_tokens), r.reps);
    std::printf("  %6s  %14s  %14s  %8s\n", "seqs", "prompt tok/s", "gen tok/s", "vs 1");
    for (const ParallelResult& p : r.parallel)
        std::printf("  %6d  %14.2f  %14.2f  %7.2fx\n", p.n_seqs, p.prompt_tps, p.gen_tps,
                    p.gen_ratio);
}

int run(const BenchArgs& a) {
    if (a.n_prompt < 1 || a.n_gen < 1 || a.reps < 1)
        return report_error(
            make_error(ErrorCode::kInvalidArgument, "bench: -p, -n and -r must be at least 1"));
    for (int n : a.parallel)
        if (n < 1 || n > 1024)
            return report_error(
                make_error(ErrorCode::kInvalidArgument,
                           "bench: --parallel " + std::to_string(n) + " is outside 1..1024"));
    BenchResult r;
    r.load_avg = read_load_avg();
    auto loaded = a.model.load();
    if (!loaded.is_ok()) return report_error(loaded.status());
    const model::Model& m = **loaded;
    r.model_path = a.model.model_path;
    r.arch = m.hparams().arch;
    r.n_layer = m.hparams().n_layer;
    r.n_embd = m.hparams().n_embd;
    r.file_bytes = m.file_bytes();
    r.weight_bytes_per_token = m.weight_bytes_per_token();
    r.threads = m.pool().size();
    r.kv_type = kv::kv_type_name(a.model.kv());
    r.n_prompt = a.n_prompt;
    r.n_gen = a.n_gen;
    r.reps = a.reps;
    r.max_batch_tokens = a.max_batch_tokens;
    Status s = bench_single(m, a, r);
    if (!s.is_ok()) return report_error(s);

    std::vector<int> ns = a.parallel;
    if (!ns.empty()) ns.push_back(1);  // the baseline of the ratio
    std::sort(ns.begin(), ns.end());
    ns.erase(std::unique(ns.begin(), ns.end()), ns.end());
    for (int n : ns) {
        ParallelResult p;
        s = bench_parallel(m, a, n, p);
        if (!s.is_ok()) return report_error(s);
        r.parallel.push_back(p);
    }
    for (ParallelResult& p : r.parallel)
        p.gen_ratio = r.parallel.front().gen_tps > 0 ? p.gen_tps / r.parallel.front().gen_tps : 0;
    print_result(r);
    return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<BenchArgs>();
    CLI::App* cmd =
        app.add_subcommand("bench", "Measure prompt and generation speed (and batching gain)");
    args->model.add_to(*cmd);
    cmd->add_option("-p,--n-prompt", args->n_prompt, "Prompt tokens (default 128)");
    cmd->add_option("-n,--n-gen", args->n_gen, "Generated tokens (default 64)");
    cmd->add_option("-r,--repetitions", args->reps,
                    "Repetitions; medians are reported (default 3)");
    cmd->add_option(
           "--parallel", args->parallel,
           "Concurrent sequences through the engine, e.g. 8 or 1,4,8,16 (ratio to 1 reported)")
        ->delimiter(',');
    cmd->add_option("--max-batch-tokens", args->max_batch_tokens,
                    "Engine token budget per step (default 512)");
    cmd->add_option("--max-seqs", args->max_seqs,
                    "Engine sequence cap (default: the --parallel value)");
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps

// tokamak run: stream a continuation of a prompt.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/model_options.h"
#include "apps/spec_options.h"
#include "base/timer.h"
#include "engine/engine_core.h"
#include "engine/runner.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace tk::apps {
namespace {

struct RunArgs {
    ModelOptions model;
    std::string prompt;
    int n_predict = 64;
    bool echo = false;
    bool no_bos = false;
    sampling::SamplerParams sp;
    long long seed = -1;
    SpecOptions spec;
};

// Speculative decoding (draft model or prompt lookup) goes through the batched engine with one
// sequence: the engine already verifies drafts in one pass and rolls rejected ones back.
int run_speculative(const RunArgs& a, const model::Model& m, const std::vector<int32_t>& prompt,
                    const sampling::SamplerParams& sp) {
    const tokenizer::Tokenizer& tok = m.tokenizer();
    auto draft = a.spec.load_draft(m, a.model.n_threads);
    if (!draft.is_ok()) return report_error(draft.status());
    const int64_t n_ctx = a.model.n_ctx > 0 ? a.model.n_ctx : m.hparams().n_ctx_train;
    constexpr int64_t kBlock = 16;
    engine::EngineConfig cfg;
    cfg.n_ctx = n_ctx;
    cfg.max_batch_tokens = n_ctx + a.spec.draft_n;  // the whole prompt in one pass
    cfg.max_seqs = 1;
    cfg.prefix_caching = false;
    a.spec.apply(cfg);
    engine::EngineCore core(
        std::make_unique<engine::ModelRunner>(m, (n_ctx + kBlock - 1) / kBlock, kBlock,
                                              a.model.kv(), draft->get()),
        &tok, cfg);
    if (static_cast<int64_t>(prompt.size()) >= core.config().n_ctx) {
        return report_error(make_error(ErrorCode::kOutOfRange,
                                       "prompt has " + std::to_string(prompt.size()) +
                                           " tokens; the context holds " +
                                           std::to_string(core.config().n_ctx)));
    }
    engine::Request r;
    r.prompt = prompt;
    r.sampling = sp;
    r.max_tokens = a.n_predict;
    if (a.n_predict <= 0) {
        std::fputs("\n", stdout);
        return 0;
    }
    // The stream's text starts after the prompt; print a leading space the way the session path
    // does by letting the decoder see the prompt first.
    tokenizer::StreamDecoder out(tok);
    for (int32_t id : prompt) out.push(id);
    if (a.echo) {
        std::fputs(a.prompt.c_str(), stdout);
        std::fflush(stdout);
    }
    const auto t0 = engine::Event::Clock::now();
    auto stream = core.submit(std::move(r));
    if (!stream.is_ok()) return report_error(stream.status());
    engine::Event::Clock::time_point t_first = t0, t_last = t0;
    int generated = 0;
    Status failed = Status::ok();
    while (core.has_work()) {
        core.step();
        while (auto e = (*stream)->try_read()) {
            if (e->is_final()) {
                if (e->finish == engine::FinishReason::kError) failed = e->error;
                if (e->finish == engine::FinishReason::kLength &&
                    static_cast<int64_t>(prompt.size()) + generated >= core.config().n_ctx) {
                    std::fprintf(stderr, "\ntokamak: context full (%lld tokens), stopping\n",
                                 static_cast<long long>(core.config().n_ctx));
                }
                continue;
            }
            if (generated == 0) t_first = e->time;
            t_last = e->time;
            ++generated;
            std::fputs(out.push(e->token).c_str(), stdout);
            std::fflush(stdout);
        }
    }
    if (!failed.is_ok()) return report_error(failed);
    std::fputs(out.flush().c_str(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    using Secs = std::chrono::duration<double>;
    const double prompt_secs = Secs(t_first - t0).count();
    const double gen_secs = Secs(t_last - t_first).count();
    // The first token comes from the prompt pass; generation time and rate count what follows.
    const int after_first = generated > 0 ? generated - 1 : 0;
    std::fprintf(stderr,
                 "prompt: %zu tokens in %.3f s (%.1f tok/s); generated: %d tokens in %.3f s "
                 "(%.1f tok/s)\n",
                 prompt.size(), prompt_secs,
                 static_cast<double>(prompt.size()) / (prompt_secs > 0 ? prompt_secs : 1e-9),
                 generated, gen_secs,
                 after_first / (gen_secs > 0 ? gen_secs : 1e-9));
    const engine::EngineStats st = core.stats();
    const double rate = st.spec_drafted > 0 ? static_cast<double>(st.spec_accepted) /
                                                  static_cast<double>(st.spec_drafted)
                                            : 0.0;
    std::fprintf(stderr,
                 "speculative (%s): drafted %lld, accepted %lld (acceptance rate %.3f); %lld "
                 "target passes for %d tokens (%.2f tokens per pass)\n",
                 draft->get() != nullptr ? "draft model" : "prompt lookup",
                 static_cast<long long>(st.spec_drafted), static_cast<long long>(st.spec_accepted),
                 rate, static_cast<long long>(st.steps), generated,
                 st.steps > 0 ? static_cast<double>(generated) / static_cast<double>(st.steps)
                              : 0.0);
    return 0;
}

int run(const RunArgs& a) {
    auto loaded = a.model.load();
    if (!loaded.is_ok()) return report_error(loaded.status());
    const model::Model& m = **loaded;
    const tokenizer::Tokenizer& tok = m.tokenizer();

    std::vector<int32_t> prompt = tok.encode(a.prompt, /*add_special=*/!a.no_bos, /*parse_special=*/true);
    if (prompt.empty()) prompt.push_back(tok.bos() >= 0 ? tok.bos() : 0);
    sampling::SamplerParams sp = a.sp;
    sp.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
    if (a.spec.enabled()) return run_speculative(a, m, prompt, sp);
    model::Session session(m, a.model.n_ctx, a.model.kv());
    if (static_cast<int64_t>(prompt.size()) >= session.n_ctx()) {
        return report_error(make_error(ErrorCode::kOutOfRange,
                                       "prompt has " + std::to_string(prompt.size()) +
                                           " tokens; the context holds " +
                                           std::to_string(session.n_ctx())));
    }
    sampling::Sampler sampler(sp);
    // The decoder sees the prompt first so the continuation's first piece keeps its leading space.
    tokenizer::StreamDecoder out(tok);
    for (int32_t id : prompt) out.push(id);
    if (a.echo) {
        std::fputs(a.prompt.c_str(), stdout);
        std::fflush(stdout);
    }

    std::vector<float> logits;
    std::vector<int32_t> history = prompt;
    Timer t_prompt;
    Status s = session.decode(prompt.data(), static_cast<int64_t>(prompt.size()), false, logits);
    if (!s.is_ok()) return report_error(s);
    const double prompt_secs = t_prompt.seconds();

    Timer t_gen;
    int generated = 0;
    for (; generated < a.n_predict; ++generated) {
        const int32_t id = sampler.sample(logits, history);
        if (tok.is_eog(id)) break;
        history.push_back(id);
        std::fputs(out.push(id).c_str(), stdout);
        std::fflush(stdout);
        if (generated + 1 == a.n_predict) {
            ++generated;
            break;
        }
        if (session.n_past() >= session.n_ctx()) {
            ++generated;
            std::fprintf(stderr, "\ntokamak: context full (%lld tokens), stopping\n",
                         static_cast<long long>(session.n_ctx()));
            break;
        }
        s = session.decode(&id, 1, false, logits);
        if (!s.is_ok()) return report_error(s);
    }
    std::fputs(out.flush().c_str(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    const double gen_secs = t_gen.seconds();
    std::fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tok/s); generated: %d tokens in %.3f s (%.1f tok/s)\n",
                 prompt.size(), prompt_secs, prompt.size() / (prompt_secs > 0 ? prompt_secs : 1e-9),
                 generated, gen_secs, generated / (gen_secs > 0 ? gen_secs : 1e-9));
    return 0;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<RunArgs>();
    CLI::App* cmd = app.add_subcommand("run", "Continue a prompt, streaming the text to stdout");
    args->model.add_to(*cmd);
    cmd->add_option("-p,--prompt", args->prompt, "Prompt text");
    cmd->add_option("-n,--n-predict", args->n_predict, "Tokens to generate (default 64)");
    cmd->add_option("--temp", args->sp.temperature, "Temperature; 0 = greedy (default 0.8)");
    cmd->add_option("--top-k", args->sp.top_k, "Top-k, 0 = off (default 40)");
    cmd->add_option("--top-p", args->sp.top_p, "Top-p, 1 = off (default 0.95)");
    cmd->add_option("--min-p", args->sp.min_p, "Min-p, 0 = off (default 0.05)");
    cmd->add_option("--repeat-penalty", args->sp.repeat_penalty, "Repetition penalty, 1 = off");
    cmd->add_option("--presence-penalty", args->sp.presence_penalty, "Presence penalty");
    cmd->add_option("--frequency-penalty", args->sp.frequency_penalty, "Frequency penalty");
    cmd->add_option("--repeat-last-n", args->sp.penalty_last_n, "Tokens considered by penalties");
    cmd->add_option("--seed", args->seed, "Random seed (default: random)");
    cmd->add_flag("--echo", args->echo, "Print the prompt before the continuation");
    cmd->add_flag("--no-bos", args->no_bos, "Do not add the BOS token");
    args->spec.add_to(*cmd);
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps

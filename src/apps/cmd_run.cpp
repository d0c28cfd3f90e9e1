// tokamak run: stream a continuation of a prompt.
#include <cstdio>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/model_options.h"
#include "base/timer.h"
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
};

int run(const RunArgs& a) {
    auto loaded = a.model.load();
    if (!loaded.is_ok()) return report_error(loaded.status());
    const model::Model& m = **loaded;
    const tokenizer::Tokenizer& tok = m.tokenizer();

    std::vector<int32_t> prompt = tok.encode(a.prompt, /*add_special=*/!a.no_bos, /*parse_special=*/true);
    if (prompt.empty()) prompt.push_back(tok.bos() >= 0 ? tok.bos() : 0);
    model::Session session(m, a.model.n_ctx, a.model.kv());
    if (static_cast<int64_t>(prompt.size()) >= session.n_ctx()) {
        return report_error(make_error(ErrorCode::kOutOfRange,
                                       "prompt has " + std::to_string(prompt.size()) +
                                           " tokens; the context holds " +
                                           std::to_string(session.n_ctx())));
    }
    sampling::SamplerParams sp = a.sp;
    sp.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
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
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps

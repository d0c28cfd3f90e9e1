// tokamak synth: write a random-weight model of any shape (for tests and benchmarks).
#include "apps/cli.h"
#include "model/synth.h"

namespace tk::apps {
namespace {

struct SynthArgs {
    model::SynthOptions o;
    std::string type = "F16";
    std::string out;
};

int run(SynthArgs& a) {
    auto t = dtype_from_name(a.type);
    if (!t) return report_error(make_error(ErrorCode::kInvalidArgument, "unknown tensor type '" + a.type + "'"));
    a.o.type = *t;
    Status s = model::write_synthetic_model(a.o, a.out);
    if (!s.is_ok()) return report_error(s);
    return 0;
}

}  // namespace

void add_synth_command(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<SynthArgs>();
    CLI::App* cmd = app.add_subcommand("synth", "Write a random-weight model GGUF (developer tool)");
    cmd->add_option("--vocab-from", a->o.vocab_from, "GGUF whose tokenizer is copied")->required();
    cmd->add_option("-o,--out", a->out, "Output GGUF")->required();
    cmd->add_option("--arch", a->o.arch, "llama, mistral, qwen2, phi3, gemma or starcoder2")
        ->check(CLI::IsMember({"llama", "mistral", "qwen2", "phi3", "gemma", "starcoder2"}));
    cmd->add_option("--n-embd", a->o.n_embd, "Embedding width");
    cmd->add_option("--n-layer", a->o.n_layer, "Layers");
    cmd->add_option("--n-head", a->o.n_head, "Attention heads");
    cmd->add_option("--n-head-kv", a->o.n_head_kv, "KV heads");
    cmd->add_option("--n-ff", a->o.n_ff, "Feed-forward width (per expert)");
    cmd->add_option("--head-dim", a->o.head_dim, "Head dimension (default n_embd / n_head)");
    cmd->add_flag("--separate-qkv", a->o.separate_qkv, "phi3: attn_q/k/v instead of attn_qkv");
    cmd->add_option("--longrope", a->o.longrope_orig_ctx,
                    "phi3: write LongRoPE factors for this original context (< --ctx)");
    cmd->add_option("--n-expert", a->o.n_expert, "Experts (0 = dense)");
    cmd->add_option("--n-expert-used", a->o.n_expert_used, "Experts used per token");
    cmd->add_option("--ctx", a->o.n_ctx, "context_length metadata");
    cmd->add_flag("--tied", a->o.tied_output, "Tie the output matrix to token_embd");
    cmd->add_option("--type", a->type, "Weight matrix type (F32, F16, BF16, Q8_0, Q4_0, ...)");
    cmd->add_option("--scale", a->o.scale, "Std of the random weights");
    cmd->add_option("--seed", a->o.seed, "Random seed");
    cmd->add_option("-t,--threads", a->o.n_threads, "Threads");
    cmd->callback([a, &exit_code] { exit_code = run(*a); });
}

}  // namespace tk::apps

#include "apps/model_options.h"

#include "base/log.h"
#include "base/timer.h"

namespace tk::apps {

void ModelOptions::add_to(CLI::App& cmd, bool with_ctx, bool positional) {
    if (positional) {
        auto* named = cmd.add_option("-m,--model", model_path, "Model file (GGUF)");
        auto* pos = cmd.add_option("model", model_path, "Model file (GGUF)");
        named->excludes(pos);
        pos->excludes(named);
    } else {
        cmd.add_option("-m,--model", model_path, "Model file (GGUF)")->required();
    }
    cmd.add_option("-t,--threads", n_threads, "Threads (default: all cores)");
    cmd.add_option("--isq", isq,
                   "Quantize float weights while loading (Q4_K_M, Q8_0, Q4_K, ... as `tokamak quantize`)");
    cmd.add_option("--tokenizer", tokenizer_path,
                   "Vocabulary for models without one (llama2.c tokenizer.bin, tokenizer.json or GGUF)");
    if (with_ctx) {
        cmd.add_option("-c,--ctx-size", n_ctx, "Context size in tokens (default: the model's)");
        cmd.add_option("--kv-type", kv_type, "KV cache element type")
            ->check(CLI::IsMember({"f16", "f32"}));
    }
}

Result<std::unique_ptr<model::Model>> ModelOptions::load() const {
    if (model_path.empty()) return make_error(ErrorCode::kInvalidArgument, "no model given (-m MODEL)");
    Timer t;
    model::LoadOptions lo;
    lo.n_threads = n_threads;
    lo.isq = isq;
    lo.tokenizer_path = tokenizer_path;
    auto m = model::Model::load(model_path, lo);
    if (m.is_ok()) log_info("loaded " + model_path + " in " + std::to_string(t.seconds()) + " s");
    return m;
}

}  // namespace tk::apps

#include "apps/spec_options.h"

#include "base/log.h"
#include "base/timer.h"
#include "tokenizer/tokenizer.h"

namespace tk::apps {

void SpecOptions::add_to(CLI::App& cmd) {
    cmd.add_option("--draft-model", draft_model,
                   "Draft model for speculative decoding (same vocabulary as the model)");
    cmd.add_option("--draft-n", draft_n, "Tokens drafted per step (default 5)")
        ->check(CLI::Range(1, 64));
    cmd.add_option("--draft-isq", draft_isq,
                   "Quantize the draft model's float weights while loading (as --isq)");
    cmd.add_option("--lookup-ngram", lookup_ngram,
                   "Prompt-lookup decoding: draft by matching the last N..1 tokens earlier in "
                   "the context (no draft model)")
        ->check(CLI::Range(1, 16));
}

Status check_draft_compatible(const model::Model& target, const model::Model& draft,
                              const std::string& draft_path) {
    const int64_t nv = target.hparams().n_vocab, dv = draft.hparams().n_vocab;
    if (nv != dv) {
        return make_error(ErrorCode::kInvalidArgument,
                          "draft model " + draft_path + ": vocabulary of " + std::to_string(dv) +
                              " tokens, the model has " + std::to_string(nv));
    }
    const tokenizer::Tokenizer& a = target.tokenizer();
    const tokenizer::Tokenizer& b = draft.tokenizer();
    for (int32_t id = 0; id < static_cast<int32_t>(nv); ++id) {
        if (a.token_text(id) != b.token_text(id)) {
            return make_error(ErrorCode::kInvalidArgument,
                              "draft model " + draft_path + ": token " + std::to_string(id) +
                                  " is '" + std::string(b.token_text(id)) + "', the model's is '" +
                                  std::string(a.token_text(id)) + "' (different vocabularies)");
        }
    }
    return Status::ok();
}

Result<std::unique_ptr<model::Model>> SpecOptions::load_draft(const model::Model& target,
                                                              int n_threads) const {
    if (draft_model.empty()) return std::unique_ptr<model::Model>();
    Timer t;
    model::LoadOptions lo;
    lo.n_threads = n_threads;
    lo.isq = draft_isq;
    TK_ASSIGN_OR_RETURN(auto m, model::Model::load(draft_model, lo));
    TK_RETURN_IF_ERROR(check_draft_compatible(target, *m, draft_model));
    log_info("loaded draft " + draft_model + " in " + std::to_string(t.seconds()) + " s");
    return m;
}

void SpecOptions::apply(engine::EngineConfig& cfg) const {
    if (!enabled()) return;
    cfg.draft_n = draft_n;
    cfg.lookup_ngram = lookup_ngram;
}

}  // namespace tk::apps

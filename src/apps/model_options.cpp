#include "apps/model_options.h"

#include "base/log.h"
#include "base/timer.h"
#include "formats/hub.h"

namespace tk::apps {

void ModelOptions::add_to(CLI::App& cmd, bool with_ctx, bool positional) {
    const char* help = "Model: GGUF, llamafile, HF folder, llama2.c .bin, or hf://OWNER/REPO/FILE";
    if (positional) {
        auto* named = cmd.add_option("-m,--model", model_path, help);
        auto* pos = cmd.add_option("model", model_path, help);
        named->excludes(pos);
        pos->excludes(named);
    } else {
        // Not required here: --hf-repo/--hf-file may name the model instead (checked on load).
        cmd.add_option("-m,--model", model_path, help);
    }
    cmd.add_option("--hf-repo", hf_repo, "Hub repository OWNER/REPO to download the model from");
    cmd.add_option("--hf-file", hf_file, "File in --hf-repo (e.g. model-Q4_K_M.gguf)");
    cmd.add_option("--hf-revision", hf_revision, "Branch, tag or commit of --hf-repo")
        ->capture_default_str();
    cmd.add_flag("--offline", offline,
                 "Use only the download cache ($TOKAMAK_CACHE or ~/.cache/tokamak); also HF_HUB_OFFLINE=1");
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

Result<std::string> ModelOptions::resolve() const {
    const bool by_repo = !hf_repo.empty() || !hf_file.empty();
    if (by_repo && !model_path.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "give the model either with -m or with --hf-repo/--hf-file, not both");
    }
    if (!by_repo && model_path.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "no model given (-m MODEL, -m hf://OWNER/REPO/FILE, or --hf-repo and "
                          "--hf-file)");
    }
    if (!by_repo && !formats::is_hub_uri(model_path)) return model_path;
    formats::HubFile f;
    if (by_repo) {
        if (hf_repo.empty() || hf_file.empty()) {
            return make_error(ErrorCode::kInvalidArgument, "--hf-repo and --hf-file go together");
        }
        TK_ASSIGN_OR_RETURN(f, formats::make_hub_file(hf_repo, hf_file, hf_revision));
    } else {
        TK_ASSIGN_OR_RETURN(f, formats::parse_hub_uri(model_path));
    }
    formats::HubOptions o;
    o.offline = offline;
    return formats::hub_download(f, o);
}

std::string ModelOptions::display_name() const {
    const std::string& p = hf_file.empty() ? model_path : hf_file;
    const size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

Result<std::unique_ptr<model::Model>> ModelOptions::load() const {
    TK_ASSIGN_OR_RETURN(std::string path, resolve());
    Timer t;
    model::LoadOptions lo;
    lo.n_threads = n_threads;
    lo.isq = isq;
    lo.tokenizer_path = tokenizer_path;
    auto m = model::Model::load(path, lo);
    if (m.is_ok()) log_info("loaded " + path + " in " + std::to_string(t.seconds()) + " s");
    return m;
}

}  // namespace tk::apps

// tokamak info: what is in a model file and what it needs to run.
#include <cstdio>
#include <map>

#include "apps/cli.h"
#include "apps/model_options.h"
#include "formats/gguf.h"
#include "formats/hub.h"
#include "tokenizer/tokenizer.h"

namespace tk::apps {
namespace {

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
    return buf;
}

struct InfoArgs {
    ModelOptions model;
    bool tensors = false;
};

int run(const InfoArgs& a) {
    auto loaded = a.model.load();
    if (!loaded.is_ok()) return report_error(loaded.status());
    const model::Model& m = **loaded;
    const model::HParams& hp = m.hparams();
    const formats::GgufFile& f = m.gguf();
    // Non-GGUF sources (SafeTensors folder, llama2.c, llamafile) say what they were read as.
    const std::string format = f.format() == "GGUF" || f.format().empty()
                                   ? "GGUF v" + std::to_string(f.version())
                                   : f.format() + ", read as GGUF";
    std::printf("file:            %s (%s, %s, %zu tensors, %zu metadata keys)\n", m.path().c_str(),
                human_bytes(static_cast<double>(f.file_size())).c_str(), format.c_str(),
                f.tensors().size(), f.metadata().size());
    if (!a.model.hf_repo.empty() || formats::is_hub_uri(a.model.model_path)) {
        std::printf("downloaded from: %s\n", a.model.hf_repo.empty()
                                                   ? a.model.model_path.c_str()
                                                   : ("hf://" + a.model.hf_repo + "@" + a.model.hf_revision +
                                                      "/" + a.model.hf_file).c_str());
    }
    std::printf("name:            %s\n", hp.name.c_str());
    std::printf("architecture:    %s%s\n", hp.arch.c_str(),
                hp.n_expert > 0 ? " (mixture of experts)" : "");
    std::printf("vocab:           %lld tokens (%s tokenizer, bos %d, eos %d)\n",
                static_cast<long long>(hp.n_vocab),
                std::string(f.get_string("tokenizer.ggml.model").value_or("?")).c_str(), m.tokenizer().bos(),
                m.tokenizer().eos());
    std::printf("context (train): %lld\n", static_cast<long long>(hp.n_ctx_train));
    std::printf("embedding:       %lld\n", static_cast<long long>(hp.n_embd));
    std::printf("layers:          %lld\n", static_cast<long long>(hp.n_layer));
    std::printf("heads:           %lld (kv heads %lld, head dim %lld)\n", static_cast<long long>(hp.n_head),
                static_cast<long long>(hp.n_head_kv), static_cast<long long>(hp.head_dim));
    const model::LayerWeights& l0 = m.layers().front();
    std::printf("feed-forward:    %lld (%s%s%s)\n", static_cast<long long>(hp.n_ff),
                model::ffn_kind_name(hp.ffn), l0.fused_gate_up ? ", fused gate/up in ffn_up" : "",
                l0.ffn_down_b.empty() ? "" : ", with biases");
    std::string attn = l0.fused_qkv ? "fused attn_qkv" : "separate q/k/v";
    if (!l0.bq.empty()) attn += ", q/k/v biases";
    if (!l0.bo.empty()) attn += ", output bias";
    std::printf("attention:       %s, scale 1/sqrt(%lld)\n", attn.c_str(),
                static_cast<long long>(hp.head_dim));
    if (hp.n_expert > 0)
        std::printf("experts:         %lld (%lld used per token)\n", static_cast<long long>(hp.n_expert),
                    static_cast<long long>(hp.n_expert_used));
    std::printf("rope:            %s, base %g, scale %g, %lld dims\n",
                hp.rope_type == model::RopeType::kNeox ? "neox" : "normal", hp.rope_freq_base,
                1.0 / hp.rope_freq_scale, static_cast<long long>(hp.n_rot));
    if (m.has_rope_freqs()) std::printf("rope factors:    rope_freqs.weight (always applied)\n");
    if (m.has_longrope()) {
        const int64_t n_ctx = a.model.n_ctx > 0 ? a.model.n_ctx : hp.n_ctx_train;
        std::printf("rope factors:    LongRoPE, original context %lld, attn factor %g; %s factors "
                    "for a %lld-token context\n",
                    static_cast<long long>(hp.n_ctx_orig), hp.rope_attn_factor,
                    n_ctx > hp.n_ctx_orig ? "long" : "short", static_cast<long long>(n_ctx));
    }
    std::printf("norm:            %s%s, eps %g\n", model::norm_kind_name(hp.norm),
                hp.norm == model::NormKind::kLayer ? " with bias" : "", hp.norm_eps);
    if (hp.embd_scale != 1.0f) std::printf("embedding scale: %g (sqrt(n_embd))\n", hp.embd_scale);
    std::printf("output:          %s\n", m.tied_output() ? "tied to token_embd" : "separate output.weight");

    std::map<std::string, std::pair<int, int64_t>> by_type;
    int64_t params = 0;
    for (const auto& t : f.tensors()) {
        auto& e = by_type[std::string(dtype_name(t.view.type))];
        ++e.first;
        e.second += t.view.nbytes;
        params += t.view.n_elements();
    }
    std::printf("parameters:      %.3f M\n", static_cast<double>(params) / 1e6);
    std::printf("tensor types:   ");
    for (const auto& [name, e] : by_type)
        std::printf(" %s x%d (%s)", name.c_str(), e.first, human_bytes(static_cast<double>(e.second)).c_str());
    std::printf("\n");
    const int64_t n_ctx = a.model.n_ctx > 0 ? a.model.n_ctx : hp.n_ctx_train;
    const int64_t kv_elem = a.model.kv_type == "f32" ? 4 : 2;
    const int64_t kv_bytes = 2 * hp.n_layer * hp.kv_dim() * n_ctx * kv_elem;
    std::printf("memory:          weights %s (mapped) + KV cache %s (%lld tokens, %s) = %s\n",
                human_bytes(static_cast<double>(f.file_size())).c_str(),
                human_bytes(static_cast<double>(kv_bytes)).c_str(), static_cast<long long>(n_ctx),
                a.model.kv_type.c_str(), human_bytes(static_cast<double>(f.file_size() + kv_bytes)).c_str());
    std::printf("read per token:  %s\n", human_bytes(static_cast<double>(m.weight_bytes_per_token())).c_str());
    if (auto tmpl = f.get_string("tokenizer.chat_template")) {
        std::printf("chat template:\n%.*s\n", static_cast<int>(tmpl->size()), tmpl->data());
    } else {
        std::printf("chat template:   (none)\n");
    }
    if (a.tensors) {
        for (const auto& t : f.tensors())
            std::printf("  %-32s %-7s %-20s %s\n", t.name.c_str(), std::string(dtype_name(t.view.type)).c_str(),
                        shape_to_string(t.view).c_str(), human_bytes(static_cast<double>(t.view.nbytes)).c_str());
    }
    return 0;
}

}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<InfoArgs>();
    CLI::App* cmd = app.add_subcommand("info", "Show architecture, hyperparameters, tensors and memory needs");
    args->model.add_to(*cmd, true, /*positional=*/true);
    cmd->add_flag("--tensors", args->tensors, "List every tensor");
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps

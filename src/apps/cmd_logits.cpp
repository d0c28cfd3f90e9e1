// tokamak logits: full logits at every position, in the oracle's JSON schema (llama-ref-logits/1).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/cli.h"
#include "apps/model_options.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace tk::apps {
namespace {

struct LogitsArgs {
    ModelOptions model;
    std::string tokens_csv;
    std::string prompt;
    std::string out = "-";
    int greedy = 0;
};

Result<std::vector<int32_t>> parse_ids(const std::string& csv) {
    std::vector<int32_t> ids;
    std::stringstream ss(csv);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty()) continue;
        try {
            size_t used = 0;
            const long v = std::stol(item, &used);
            if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
            ids.push_back(static_cast<int32_t>(v));
        } catch (const std::exception&) {
            return make_error(ErrorCode::kInvalidArgument, "--tokens: '" + item + "' is not a token id");
        }
    }
    return ids;
}

int run(const LogitsArgs& a) {
    if (a.tokens_csv.empty() == a.prompt.empty())
        return report_error(make_error(ErrorCode::kInvalidArgument, "give exactly one of --tokens or --prompt"));
    auto loaded = a.model.load();
    if (!loaded.is_ok()) return report_error(loaded.status());
    const model::Model& m = **loaded;
    std::vector<int32_t> tokens;
    if (!a.tokens_csv.empty()) {
        auto ids = parse_ids(a.tokens_csv);
        if (!ids.is_ok()) return report_error(ids.status());
        tokens = *ids;
    } else {
        tokens = m.tokenizer().encode(a.prompt, true, false);
    }
    if (tokens.empty()) return report_error(make_error(ErrorCode::kInvalidArgument, "no tokens to evaluate"));

    model::Session session(m, a.model.n_ctx, a.model.kv());
    std::vector<float> logits;
    Status s = session.decode(tokens.data(), static_cast<int64_t>(tokens.size()), true, logits);
    if (!s.is_ok()) return report_error(s);
    const int64_t V = m.hparams().n_vocab;
    const int64_t n = static_cast<int64_t>(tokens.size());

    nlohmann::json j;
    j["schema"] = "tokamak-logits/1 (fields as llama-ref-logits/1)";
    j["model_path"] = a.model.model_path;
    j["tokens"] = tokens;
    j["n_tokens"] = n;
    j["n_vocab"] = V;
    j["eval"] = {{"n_threads", m.pool().size()}, {"n_ctx", session.n_ctx()},
                 {"kv_cache_type_k", a.model.kv_type}, {"kv_cache_type_v", a.model.kv_type}};
    j["logits_shape"] = {n, V};
    nlohmann::json rows = nlohmann::json::array();
    std::vector<int32_t> amax;
    for (int64_t i = 0; i < n; ++i) {
        std::span<const float> row(logits.data() + i * V, static_cast<size_t>(V));
        rows.push_back(std::vector<float>(row.begin(), row.end()));
        amax.push_back(sampling::argmax(row));
    }
    j["logits_stats"] = {{"argmax", amax}};
    j["logits"] = std::move(rows);
    if (a.greedy > 0) {
        std::vector<int32_t> gen;
        std::vector<float> last(logits.end() - V, logits.end());
        for (int k = 0; k < a.greedy && session.n_past() < session.n_ctx(); ++k) {
            const int32_t id = sampling::argmax(last);
            gen.push_back(id);
            if (k + 1 == a.greedy) break;
            s = session.decode(&id, 1, false, last);
            if (!s.is_ok()) return report_error(s);
        }
        j["greedy"] = {{"n", gen.size()}, {"tokens", gen}, {"text", m.tokenizer().detokenize(gen, false, false)}};
    }
    const std::string text = j.dump();
    if (a.out == "-") {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fputs("\n", stdout);
    } else {
        std::ofstream f(a.out, std::ios::binary);
        f << text << "\n";
        if (!f) return report_error(make_error(ErrorCode::kIo, a.out + ": cannot write"));
    }
    return 0;
}

}  // namespace

void add_logits_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<LogitsArgs>();
    CLI::App* cmd = app.add_subcommand("logits", "Write the full logits of every position as JSON");
    args->model.add_to(*cmd);
    cmd->add_option("--tokens", args->tokens_csv, "Comma-separated token ids, e.g. 1,403,407");
    cmd->add_option("-p,--prompt", args->prompt, "Text to tokenize (BOS added) instead of --tokens");
    cmd->add_option("-o,--out", args->out, "Output JSON file (default: stdout)");
    cmd->add_option("--greedy", args->greedy, "Also record a greedy continuation of N tokens");
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps

// tokamak tokenize: text -> ids (JSON array), or --ids -> text.
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/cli.h"
#include "formats/gguf.h"
#include "formats/model_file.h"
#include "tokenizer/tokenizer.h"

namespace tk::apps {
namespace {

struct TokenizeArgs {
    std::string model_path;
    std::string text;
    std::string ids;
    bool no_bos = false;
    bool parse_special = false;
    bool pieces = false;
};

int run(const TokenizeArgs& a) {
    if (!a.ids.empty() && !a.text.empty())
        return report_error(make_error(ErrorCode::kInvalidArgument, "give --text or --ids, not both"));
    auto f = formats::open_tokenizer(a.model_path);
    if (!f.is_ok()) return report_error(f.status());
    auto tok = tokenizer::Tokenizer::from_gguf(**f);
    if (!tok.is_ok()) return report_error(tok.status());
    const tokenizer::Tokenizer& t = **tok;
    if (!a.ids.empty()) {
        std::vector<int32_t> ids;
        std::stringstream ss(a.ids);
        std::string item;
        while (std::getline(ss, item, ',')) {
            if (item.empty()) continue;
            char* end = nullptr;
            const long v = std::strtol(item.c_str(), &end, 10);
            if (*end != 0 || v < 0 || v >= t.n_vocab())
                return report_error(make_error(ErrorCode::kInvalidArgument,
                                               "--ids: '" + item + "' is not a token id of this vocabulary"));
            ids.push_back(static_cast<int32_t>(v));
        }
        std::printf("%s\n", t.detokenize(ids, false, false).c_str());
        return 0;
    }
    const std::vector<int32_t> ids = t.encode(a.text, !a.no_bos, a.parse_special);
    if (a.pieces) {
        nlohmann::json j = nlohmann::json::array();
        for (int32_t id : ids) j.push_back({{"id", id}, {"piece", t.token_to_piece(id, true)}});
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        std::printf("%s\n", nlohmann::json(ids).dump().c_str());
    }
    return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<TokenizeArgs>();
    CLI::App* cmd = app.add_subcommand("tokenize", "Tokenize text (JSON array of ids) or detokenize --ids");
    cmd->add_option("-m,--model", args->model_path, "Model or vocabulary: GGUF, tokenizer.json, llama2.c tokenizer.bin")->required();
    cmd->add_option("--text", args->text, "Text to tokenize");
    cmd->add_option("--ids", args->ids, "Comma-separated ids to turn back into text");
    cmd->add_flag("--no-bos", args->no_bos, "Do not add BOS/EOS");
    cmd->add_flag("--parse-special", args->parse_special, "Recognise special tokens such as <s> in the text");
    cmd->add_flag("--pieces", args->pieces, "Print id and piece pairs");
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps

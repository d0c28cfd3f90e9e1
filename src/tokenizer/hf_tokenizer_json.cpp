// tokenizer.json -> VocabData, following llama.cpp's convert_hf_to_gguf (get_vocab_base and
// SpecialVocab): ids without a token become "[PAD<id>]" user-defined tokens, added tokens are
// control tokens when marked special or when they look special ("<|...|>"), otherwise
// user-defined; the pre-tokenizer name is recognised from the Split regex.
#include "tokenizer/hf_tokenizer_json.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace tk::tokenizer {
namespace {

using nlohmann::json;

Status bad(const std::string& source, const std::string& what) {
    return make_error(ErrorCode::kCorruptFile, source + ": " + what);
}

Status unsupported(const std::string& source, const std::string& what) {
    return make_error(ErrorCode::kUnsupported, source + ": " + what);
}

const json* member(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string string_or(const json* v, std::string fallback = {}) {
    return v != nullptr && v->is_string() ? v->get<std::string>() : fallback;
}

// Split regexes of known tokenizers -> llama.cpp's tokenizer.ggml.pre names.
std::string pre_name_for_regex(const std::string& regex) {
    struct Known {
        const char* regex;
        const char* pre;
    };
    static const Known kKnown[] = {
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
         "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "llama-bpe"},
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
         "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "qwen2"},
        {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
         "gpt-2"},
    };
    for (const Known& k : kKnown) {
        if (regex == k.regex) return k.pre;
    }
    return {};
}

// Walks the pre_tokenizer (possibly a Sequence) for Split regexes and a ByteLevel step.
void scan_pre_tokenizer(const json& pt, std::vector<std::string>& regexes, bool& byte_level,
                        bool& byte_level_regex) {
    const std::string type = string_or(member(pt, "type"));
    if (type == "Sequence") {
        if (const json* list = member(pt, "pretokenizers"); list && list->is_array()) {
            for (const json& p : *list)
                scan_pre_tokenizer(p, regexes, byte_level, byte_level_regex);
        }
    } else if (type == "Split") {
        const json* pattern = member(pt, "pattern");
        if (const json* re = pattern ? member(*pattern, "Regex") : nullptr; re && re->is_string()) {
            regexes.push_back(re->get<std::string>());
        }
    } else if (type == "ByteLevel") {
        byte_level = true;
        const json* use_regex = member(pt, "use_regex");
        byte_level_regex =
            use_regex == nullptr || (use_regex->is_boolean() && use_regex->get<bool>());
    }
}

// convert_hf_to_gguf's does_token_look_special.
bool looks_special(const std::string& t) {
    auto starts = [&](std::string_view p) { return t.compare(0, p.size(), p) == 0; };
    auto ends = [&](std::string_view s) {
        return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0;
    };
    if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
    if (starts("<|") && ends("|>")) return true;
    if (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) return true;  // <｜ ... ｜>
    return starts("<unused") && ends(">");
}

// A tokenizer_config.json special-token entry: "text" or {"content": "text", ...}.
std::string token_content(const json* v) {
    if (v == nullptr) return {};
    if (v->is_string()) return v->get<std::string>();
    return string_or(member(*v, "content"));
}

}  // namespace

Result<VocabData> vocab_from_hf_json(std::string_view tokenizer_json, std::string_view config_json,
                                     const std::string& source) {
    const json root = json::parse(tokenizer_json.begin(), tokenizer_json.end(), nullptr, false);
    if (root.is_discarded() || !root.is_object()) return bad(source, "not valid JSON");
    const json* model = member(root, "model");
    if (model == nullptr || !model->is_object()) return bad(source, "no \"model\" object");
    const std::string type = string_or(member(*model, "type"));
    if (type != "BPE") return unsupported(source, "model type '" + type + "' (only BPE)");

    std::vector<std::string> regexes;
    bool byte_level = false;
    bool byte_level_regex = false;
    if (const json* pt = member(root, "pre_tokenizer")) {
        scan_pre_tokenizer(*pt, regexes, byte_level, byte_level_regex);
    }
    if (!byte_level) {
        return unsupported(source,
                           "only byte-level BPE tokenizers are supported (no ByteLevel "
                           "pre-tokenizer)");
    }
    VocabData v;
    v.model = "gpt2";
    if (regexes.size() == 1 && !byte_level_regex) {
        v.pre = pre_name_for_regex(regexes[0]);
        if (v.pre.empty()) return unsupported(source, "unknown pre-tokenizer regex " + regexes[0]);
    } else if (regexes.empty() && byte_level_regex) {
        v.pre = "gpt-2";  // ByteLevel's built-in GPT-2 regex
    } else {
        return unsupported(source, "unsupported pre_tokenizer combination");
    }

    const json* vocab = member(*model, "vocab");
    if (vocab == nullptr || !vocab->is_object()) return bad(source, "model.vocab is not an object");
    const json* added = member(root, "added_tokens");
    if (added != nullptr && !added->is_array()) return bad(source, "added_tokens is not an array");

    // Sizes first: every id below the largest one gets a token.
    int64_t max_id = -1;
    auto check_id = [&](const json& id, const std::string& what) -> Status {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24)) {
            return bad(source, "bad id for " + what);
        }
        max_id = std::max(max_id, id.get<int64_t>());
        return Status::ok();
    };
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
        TK_RETURN_IF_ERROR(check_id(it.value(), "model.vocab['" + it.key() + "']"));
    }
    if (added != nullptr) {
        for (const json& a : *added) {
            const json* id = member(a, "id");
            if (id == nullptr || !member(a, "content") || !member(a, "content")->is_string()) {
                return bad(source, "added_tokens entry without id or content");
            }
            TK_RETURN_IF_ERROR(check_id(*id, "added token"));
        }
    }
    if (max_id < 0) return bad(source, "empty vocabulary");
    const size_t n = static_cast<size_t>(max_id) + 1;
    v.tokens.assign(n, {});
    v.token_types.assign(n, static_cast<int32_t>(TokenType::kUserDefined));
    std::vector<bool> present(n, false);
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
        const size_t id = it.value().get<size_t>();
        v.tokens[id] = it.key();
        v.token_types[id] = static_cast<int32_t>(TokenType::kNormal);
        present[id] = true;
    }
    if (added != nullptr) {
        for (const json& a : *added) {
            const size_t id = member(a, "id")->get<size_t>();
            std::string text = member(a, "content")->get<std::string>();
            const json* special = member(a, "special");
            const bool is_special =
                special != nullptr && special->is_boolean() && special->get<bool>();
            if (is_special || looks_special(text)) {
                v.token_types[id] = static_cast<int32_t>(TokenType::kControl);
            } else {
                // convert_hf_to_gguf pre-normalizes user-defined spaces.
                for (size_t p = 0; (p = text.find("\xE2\x96\x81", p)) != std::string::npos;) {
                    text.replace(p, 3, " ");
                }
                v.token_types[id] = static_cast<int32_t>(TokenType::kUserDefined);
            }
            v.tokens[id] = std::move(text);
            present[id] = true;
        }
    }
    for (size_t id = 0; id < n; ++id) {
        if (!present[id]) v.tokens[id] = "[PAD" + std::to_string(id) + "]";
    }

    if (const json* merges = member(*model, "merges")) {
        if (!merges->is_array()) return bad(source, "model.merges is not an array");
        v.merges.reserve(merges->size());
        for (const json& m : *merges) {
            if (m.is_string()) {
                v.merges.push_back(m.get<std::string>());
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
            } else {
                return bad(source, "model.merges entry is neither \"a b\" nor [\"a\", \"b\"]");
            }
        }
    }

    if (!config_json.empty()) {
        const json cfg = json::parse(config_json.begin(), config_json.end(), nullptr, false);
        if (cfg.is_discarded() || !cfg.is_object()) {
            return bad(source, "tokenizer_config.json is not valid JSON");
        }
        auto find_token = [&](const std::string& text) -> std::optional<int64_t> {
            if (text.empty()) return std::nullopt;
            for (size_t id = 0; id < n; ++id) {
                if (v.tokens[id] == text) return static_cast<int64_t>(id);
            }
            return std::nullopt;
        };
        if (auto id = find_token(token_content(member(cfg, "bos_token")))) v.bos_id = id;
        if (auto id = find_token(token_content(member(cfg, "eos_token")))) v.eos_id = id;
        if (auto id = find_token(token_content(member(cfg, "unk_token")))) v.unk_id = id;
        if (auto id = find_token(token_content(member(cfg, "pad_token")))) v.pad_id = id;
        if (const json* b = member(cfg, "add_bos_token"); b && b->is_boolean())
            v.add_bos = b->get<bool>();
        if (const json* e = member(cfg, "add_eos_token"); e && e->is_boolean())
            v.add_eos = e->get<bool>();
    }
    return v;
}

Result<VocabData> vocab_from_hf_file(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path file = path;
    if (fs::is_directory(file, ec)) file /= "tokenizer.json";
    auto slurp = [](const fs::path& p, std::string& out) {
        std::ifstream in(p, std::ios::binary);
        if (!in) return false;
        std::ostringstream ss;
        ss << in.rdbuf();
        out = ss.str();
        return static_cast<bool>(in) || in.eof();
    };
    std::string text;
    if (!slurp(file, text)) {
        return make_error(ErrorCode::kNotFound, file.string() + ": cannot read");
    }
    std::string config;
    const fs::path config_path = file.parent_path() / "tokenizer_config.json";
    if (fs::exists(config_path, ec) && !slurp(config_path, config)) {
        return make_error(ErrorCode::kIo, config_path.string() + ": cannot read");
    }
    return vocab_from_hf_json(text, config, file.string());
}

}  // namespace tk::tokenizer

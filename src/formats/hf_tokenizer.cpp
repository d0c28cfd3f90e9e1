// tokenizer.json -> tokenizer.ggml.* keys. See hf_tokenizer.h for the mapping; this file keeps
// to llama.cpp's converter where it is precise (token types, padding, special ids) and only
// departs where it has no answer (scores of SentencePiece-derived BPE vocabularies).
#include "formats/hf_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/gguf.h"

namespace tk::formats {
namespace {

using nlohmann::json;

// GGUF tokenizer.ggml.token_type values.
enum : int32_t {
    kTypeNormal = 1,
    kTypeUnknown = 2,
    kTypeControl = 3,
    kTypeUserDefined = 4,
    kTypeUnused = 5,
    kTypeByte = 6,
};

constexpr int64_t kMaxTokens = 1 << 24;
constexpr const char* kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

Status corrupt(const std::string& source, const std::string& what) {
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

std::string str_member(const json& obj, const char* key) {
    const json* v = member(obj, key);
    return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

bool bool_member(const json& obj, const char* key, bool fallback) {
    const json* v = member(obj, key);
    return v != nullptr && v->is_boolean() ? v->get<bool>() : fallback;
}

// What the normalizer / pre-tokenizer / decoder chains contain.
struct Pipeline {
    std::vector<std::string> split_regexes;
    bool byte_level = false;        // a ByteLevel pre-tokenizer or decoder
    bool byte_level_regex = false;  // ByteLevel pre-tokenizer with its built-in GPT-2 regex
    bool metaspace = false;         // Metaspace pre-tokenizer, or "▁" replace/prepend
    bool prefix_space = false;      // a "▁" is prepended to the text
};

// Walks a component and its Sequence children. `role` is "pre", "norm" or "dec".
void scan(const json& c, const std::string& role, Pipeline& p, int depth = 0) {
    if (!c.is_object() || depth > 8) return;
    const std::string type = str_member(c, "type");
    if (type == "Sequence") {
        for (const char* list : {"pretokenizers", "normalizers", "decoders"}) {
            const json* items = member(c, list);
            if (items == nullptr || !items->is_array()) continue;
            for (const json& item : *items) scan(item, role, p, depth + 1);
        }
    } else if (type == "Split" && role == "pre") {
        const json* pattern = member(c, "pattern");
        const json* re = pattern != nullptr ? member(*pattern, "Regex") : nullptr;
        if (re != nullptr && re->is_string()) p.split_regexes.push_back(re->get<std::string>());
    } else if (type == "ByteLevel") {
        p.byte_level = true;
        if (role == "pre") p.byte_level_regex = bool_member(c, "use_regex", true);
    } else if (type == "Metaspace") {
        p.metaspace = true;
        if (role == "pre") {
            const std::string scheme = str_member(c, "prepend_scheme");
            p.prefix_space = scheme.empty() ? bool_member(c, "add_prefix_space", true)
                                            : scheme != "never";
        }
    } else if (type == "Prepend" && str_member(c, "prepend") == kSpace) {
        p.metaspace = true;
        p.prefix_space = true;
    } else if (type == "Replace" && str_member(c, "content") == kSpace) {
        p.metaspace = true;
    }
}

// Split regexes of known byte-level BPE tokenizers -> llama.cpp's tokenizer.ggml.pre names.
std::string pre_for_regex(const std::string& re) {
    static const std::pair<const char*, const char*> kKnown[] = {
        {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
         "llama-bpe"},
        {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
         "qwen2"},
        {R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re",
         "gpt-2"},
    };
    for (const auto& [regex, name] : kKnown) {
        if (re == regex) return name;
    }
    return {};
}

// convert_hf_to_gguf's does_token_look_special: added tokens that act as control tokens even
// when not flagged special.
bool looks_special(const std::string& t) {
    auto starts = [&](std::string_view s) { return t.size() >= s.size() && t.starts_with(s); };
    auto ends = [&](std::string_view s) { return t.size() >= s.size() && t.ends_with(s); };
    if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
    if (t.size() >= 4 && starts("<|") && ends("|>")) return true;
    const std::string_view fw_open = "<\xEF\xBD\x9C", fw_close = "\xEF\xBD\x9C>";  // <｜ ｜>
    if (t.size() >= 8 && starts(fw_open) && ends(fw_close)) return true;
    return starts("<unused") && ends(">");
}

bool is_byte_token(const std::string& t) {
    auto hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    return t.size() == 6 && t.starts_with("<0x") && t[5] == '>' && hex(t[3]) && hex(t[4]);
}

// tokenizer_config.json special-token entry: "text" or {"content": "text", ...}.
std::string special_text(const json& cfg, const std::string& key) {
    const json* v = member(cfg, key.c_str());
    if (v == nullptr) return {};
    if (v->is_string()) return v->get<std::string>();
    return str_member(*v, "content");
}

struct Added {
    int64_t id;
    std::string content;
    bool special;
};

}  // namespace

Status add_hf_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json,
                             const std::string& source, const HfTokenizerOptions& opts,
                             GgufBuilder& out) {
    const json root = json::parse(tokenizer_json.begin(), tokenizer_json.end(), nullptr, false);
    if (root.is_discarded() || !root.is_object()) return corrupt(source, "not a JSON object");
    json cfg = json::object();
    if (!config_json.empty()) {
        cfg = json::parse(config_json.begin(), config_json.end(), nullptr, false);
        if (cfg.is_discarded() || !cfg.is_object()) {
            return corrupt(source, "tokenizer_config.json is not a JSON object");
        }
    }
    const json* model = member(root, "model");
    if (model == nullptr || !model->is_object()) return corrupt(source, "no \"model\" object");
    const std::string model_type = str_member(*model, "type");
    if (model_type != "BPE" && model_type != "Unigram") {
        return unsupported(source, "tokenizer model type '" + model_type +
                                       "' is not supported (supported: BPE, Unigram)");
    }
    Pipeline pipe;
    if (const json* pt = member(root, "pre_tokenizer")) scan(*pt, "pre", pipe);
    if (const json* n = member(root, "normalizer")) scan(*n, "norm", pipe);
    if (const json* d = member(root, "decoder")) scan(*d, "dec", pipe);
    const bool byte_fallback = bool_member(*model, "byte_fallback", false);
    const bool bpe = model_type == "BPE" && pipe.byte_level;
    if (!bpe && model_type == "BPE" && !byte_fallback && !pipe.metaspace) {
        return unsupported(source, "BPE tokenizer that is neither byte-level (no ByteLevel step) "
                                   "nor SentencePiece-style (no byte_fallback or \"▁\" spaces)");
    }
    std::string pre;
    if (bpe) {
        if (pipe.split_regexes.size() == 1 && !pipe.byte_level_regex) {
            pre = pre_for_regex(pipe.split_regexes[0]);
        } else if (pipe.split_regexes.empty() && pipe.byte_level_regex) {
            pre = "gpt-2";  // ByteLevel's own GPT-2 regex
        }
        if (pre.empty()) {
            return unsupported(source,
                               "unknown pre-tokenizer (recognised: Llama 3, Qwen2, GPT-2 "
                               "regexes); use --tokenizer with a GGUF that has this vocabulary");
        }
    }

    // Base vocabulary: {text: id} for BPE, [[text, score], ...] for Unigram.
    const json* vocab = member(*model, "vocab");
    std::vector<std::pair<std::string, int64_t>> base;
    std::vector<float> unigram_scores;
    if (model_type == "BPE") {
        if (vocab == nullptr || !vocab->is_object()) return corrupt(source, "model.vocab is not an object");
        base.reserve(vocab->size());
        for (auto it = vocab->begin(); it != vocab->end(); ++it) {
            if (!it.value().is_number_integer()) {
                return corrupt(source, "model.vocab['" + it.key() + "'] is not an integer id");
            }
            base.emplace_back(it.key(), it.value().get<int64_t>());
        }
    } else {
        if (vocab == nullptr || !vocab->is_array()) return corrupt(source, "model.vocab is not an array");
        base.reserve(vocab->size());
        for (const json& e : *vocab) {
            if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) {
                return corrupt(source, "model.vocab entry is not [piece, score]");
            }
            base.emplace_back(e[0].get<std::string>(), static_cast<int64_t>(base.size()));
            unigram_scores.push_back(e[1].get<float>());
        }
    }
    std::vector<Added> added;
    if (const json* at = member(root, "added_tokens")) {
        if (!at->is_array()) return corrupt(source, "added_tokens is not an array");
        for (const json& a : *at) {
            const json* id = member(a, "id");
            const json* content = member(a, "content");
            if (id == nullptr || !id->is_number_integer() || content == nullptr ||
                !content->is_string()) {
                return corrupt(source, "added_tokens entry without integer id and string content");
            }
            added.push_back({id->get<int64_t>(), content->get<std::string>(),
                             bool_member(a, "special", false)});
        }
    }
    int64_t max_id = -1;
    for (const auto& [text, id] : base) max_id = std::max(max_id, id);
    for (const Added& a : added) max_id = std::max(max_id, a.id);
    for (const auto& [text, id] : base) {
        if (id < 0) return corrupt(source, "negative token id for '" + text + "'");
    }
    for (const Added& a : added) {
        if (a.id < 0) return corrupt(source, "negative id for added token '" + a.content + "'");
    }
    if (max_id < 0) return corrupt(source, "empty vocabulary");
    if (max_id >= kMaxTokens) return corrupt(source, "token id " + std::to_string(max_id) + " is too large");
    if (opts.vocab_size > 0 && max_id >= opts.vocab_size) {
        return corrupt(source, "token id " + std::to_string(max_id) +
                                   " does not fit the model's vocab_size " +
                                   std::to_string(opts.vocab_size));
    }
    const size_t n = static_cast<size_t>(std::max<int64_t>(max_id + 1, opts.vocab_size));

    // Ids without a token become unused "[PAD<id>]" tokens, as llama.cpp's converter does.
    std::vector<std::string> tokens(n);
    std::vector<int32_t> types(n, kTypeUnused);
    std::vector<bool> present(n, false);
    const std::string unk_text = str_member(*model, "unk_token");
    for (const auto& [text, id] : base) {
        tokens[id] = text;
        present[id] = true;
        types[id] = kTypeNormal;
        if (!bpe && is_byte_token(text)) types[id] = kTypeByte;
    }
    std::unordered_map<std::string, int64_t> added_ids;
    for (const Added& a : added) {
        std::string text = a.content;
        if (a.special || looks_special(text)) {
            types[a.id] = kTypeControl;
        } else {
            // llama.cpp expects user-defined tokens pre-normalized ("▁" as a space).
            if (bpe) {
                for (size_t p = 0; (p = text.find(kSpace, p)) != std::string::npos; ++p) {
                    text.replace(p, 3, " ");
                }
            }
            types[a.id] = kTypeUserDefined;
        }
        added_ids.emplace(a.content, a.id);
        tokens[a.id] = std::move(text);
        present[a.id] = true;
    }
    std::unordered_map<std::string, int64_t> ids;
    ids.reserve(n);
    for (size_t id = 0; id < n; ++id) {
        if (!present[id]) {
            tokens[id] = "[PAD" + std::to_string(id) + "]";
        } else {
            ids.emplace(tokens[id], static_cast<int64_t>(id));
        }
    }
    std::optional<int64_t> unk_id;
    if (!bpe && !unk_text.empty()) {
        if (auto it = ids.find(unk_text); it != ids.end()) unk_id = it->second;
    }
    if (!bpe && model_type == "Unigram") {
        if (const json* u = member(*model, "unk_id"); u && u->is_number_integer() &&
                                                      u->get<int64_t>() >= 0 &&
                                                      u->get<int64_t>() < static_cast<int64_t>(n)) {
            unk_id = u->get<int64_t>();
        }
    }
    if (unk_id) types[static_cast<size_t>(*unk_id)] = kTypeUnknown;

    // Merges: byte-level BPE keeps them; SentencePiece-style BPE turns their ranks into scores.
    std::vector<std::string> merges;
    if (model_type == "BPE") {
        const json* m = member(*model, "merges");
        if (m != nullptr && !m->is_array()) return corrupt(source, "model.merges is not an array");
        if (m != nullptr) {
            merges.reserve(m->size());
            for (const json& e : *m) {
                if (e.is_string()) {
                    merges.push_back(e.get<std::string>());
                } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                    merges.push_back(e[0].get<std::string>() + " " + e[1].get<std::string>());
                } else {
                    return corrupt(source, "model.merges entry is neither \"a b\" nor [\"a\", \"b\"]");
                }
            }
        }
    }
    std::vector<float> scores;
    if (!bpe) {
        scores.assign(n, 0.0f);
        if (model_type == "Unigram") {
            for (size_t id = 0; id < unigram_scores.size(); ++id) scores[id] = unigram_scores[id];
        } else {
            // SentencePiece BPE merges the pair whose result scores highest; HF lists merges in
            // that priority order, so -rank reproduces it. Tokens no merge makes rank last.
            std::vector<bool> scored(n, false);
            for (size_t r = 0; r < merges.size(); ++r) {
                const std::string& mg = merges[r];
                const size_t sp = mg.find(' ');
                if (sp == std::string::npos) continue;
                const std::string joined = mg.substr(0, sp) + mg.substr(sp + 1);
                auto it = ids.find(joined);
                if (it == ids.end() || scored[it->second]) continue;
                scores[it->second] = -static_cast<float>(r);
                scored[it->second] = true;
            }
            for (size_t id = 0; id < n; ++id) {
                if (!scored[id] && types[id] == kTypeNormal) {
                    scores[id] = -static_cast<float>(merges.size() + id);
                }
            }
        }
        merges.clear();
    }

    out.set_string("tokenizer.ggml.model", bpe ? "gpt2" : "llama");
    if (bpe) out.set_string("tokenizer.ggml.pre", pre);
    out.set_string_array("tokenizer.ggml.tokens", tokens);
    if (!bpe) out.set_f32_array("tokenizer.ggml.scores", scores);
    out.set_i32_array("tokenizer.ggml.token_type", types);
    if (bpe) out.set_string_array("tokenizer.ggml.merges", merges);

    // Special ids: tokenizer_config.json names the token (found among added tokens first, as
    // llama.cpp does, then the whole vocabulary), config.json ids fill the gaps.
    auto lookup = [&](const std::string& text) -> std::optional<int64_t> {
        if (text.empty()) return std::nullopt;
        if (auto it = added_ids.find(text); it != added_ids.end()) return it->second;
        if (auto it = ids.find(text); it != ids.end()) return it->second;
        return std::nullopt;
    };
    auto set_id = [&](const char* key, std::optional<int64_t> id) {
        if (id && *id >= 0 && *id < static_cast<int64_t>(n)) {
            out.set_u32(std::string("tokenizer.ggml.") + key, static_cast<uint32_t>(*id));
        }
    };
    std::optional<int64_t> bos = lookup(special_text(cfg, "bos_token"));
    std::optional<int64_t> eos = lookup(special_text(cfg, "eos_token"));
    std::optional<int64_t> pad = lookup(special_text(cfg, "pad_token"));
    if (auto u = lookup(special_text(cfg, "unk_token"))) unk_id = u;
    set_id("bos_token_id", bos ? bos : opts.bos_id);
    set_id("eos_token_id", eos ? eos : opts.eos_id);
    set_id("unknown_token_id", unk_id);
    set_id("padding_token_id", pad ? pad : opts.pad_id);

    // add_bos/add_eos: tokenizer_config.json, else what the post-processor template adds.
    std::optional<bool> add_bos, add_eos;
    if (const json* b = member(cfg, "add_bos_token"); b && b->is_boolean()) add_bos = b->get<bool>();
    if (const json* e = member(cfg, "add_eos_token"); e && e->is_boolean()) add_eos = e->get<bool>();
    if (const json* post = member(root, "post_processor");
        post && str_member(*post, "type") == "TemplateProcessing") {
        const json* single = member(*post, "single");
        if (single != nullptr && single->is_array() && !single->empty()) {
            if (!add_bos) add_bos = member(single->front(), "SpecialToken") != nullptr;
            if (!add_eos) add_eos = single->size() > 1 && member(single->back(), "SpecialToken");
        }
    }
    if (add_bos) out.set_bool("tokenizer.ggml.add_bos_token", *add_bos);
    if (add_eos) out.set_bool("tokenizer.ggml.add_eos_token", *add_eos);
    if (!bpe) out.set_bool("tokenizer.ggml.add_space_prefix", pipe.prefix_space);

    // chat_template: a string, or a list of {name, template} (the "default" one is the main).
    if (const json* ct = member(cfg, "chat_template")) {
        if (ct->is_string()) {
            out.set_string("tokenizer.chat_template", ct->get<std::string>());
        } else if (ct->is_array()) {
            for (const json& t : *ct) {
                const std::string name = str_member(t, "name");
                const json* tmpl = member(t, "template");
                if (name.empty() || tmpl == nullptr || !tmpl->is_string()) continue;
                out.set_string(name == "default" ? "tokenizer.chat_template"
                                                 : "tokenizer.chat_template." + name,
                               tmpl->get<std::string>());
            }
        }
    }
    return Status::ok();
}

namespace {

// Whole file into `out`; false if it cannot be read.
bool read_text(const std::filesystem::path& p, std::string& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return !in.bad();
}

}  // namespace

bool has_hf_tokenizer(const std::string& dir) {
    std::error_code ec;
    return std::filesystem::is_regular_file(std::filesystem::path(dir) / "tokenizer.json", ec);
}

Status add_hf_tokenizer_files(const std::string& path, const HfTokenizerOptions& opts,
                              GgufBuilder& out) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path file = path;
    if (fs::is_directory(file, ec)) file /= "tokenizer.json";
    std::string text;
    if (!fs::is_regular_file(file, ec) || !read_text(file, text)) {
        return make_error(ErrorCode::kNotFound, file.string() + ": cannot read tokenizer.json");
    }
    const fs::path dir = file.parent_path();
    std::string config;
    const fs::path config_path = dir / "tokenizer_config.json";
    if (fs::is_regular_file(config_path, ec) && !read_text(config_path, config)) {
        return make_error(ErrorCode::kIo, config_path.string() + ": cannot read");
    }
    TK_RETURN_IF_ERROR(add_hf_tokenizer_json(text, config, file.string(), opts, out));
    // Newer checkpoints keep the template in its own file; it wins over tokenizer_config.json.
    const fs::path jinja = dir / "chat_template.jinja";
    std::string tmpl;
    if (fs::is_regular_file(jinja, ec) && read_text(jinja, tmpl)) {
        out.set_string("tokenizer.chat_template", tmpl);
    }
    return Status::ok();
}

}  // namespace tk::formats

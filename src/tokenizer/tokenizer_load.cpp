// Tokenizer::create: interprets VocabData the way llama.cpp's llama_vocab::impl::load does
// (model-type defaults, pre-tokenizer flags, special ids, EOG set, special-token cache and the
// per-model token attribute fix-ups).
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "base/log.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer {
namespace {

struct PreInfo {
    PreType type;
    bool clean_spaces = true;
    bool llama3_flags = false;  // ignore_merges and add_bos
    bool add_bos = false;
    bool no_bos = false;
};

// tokenizer.ggml.pre -> pre-tokenizer and flags, as llama.cpp maps them.
std::optional<PreInfo> pre_info(const std::string& pre) {
    struct Entry {
        const char* name;
        PreInfo info;
    };
    static const Entry kEntries[] = {
        {"default", {PreType::kDefault}},
        {"llama3", {PreType::kLlama3, true, true}},
        {"llama-v3", {PreType::kLlama3, true, true}},
        {"llama-bpe", {PreType::kLlama3, true, true}},
        {"falcon3", {PreType::kLlama3, true, true}},
        {"deepseek-llm", {PreType::kDeepseekLlm, false}},
        {"deepseek-coder", {PreType::kDeepseekCoder, false}},
        {"falcon", {PreType::kFalcon}},
        {"mpt", {PreType::kGpt2}},
        {"starcoder", {PreType::kStarcoder}},
        {"gpt-2", {PreType::kGpt2}},
        {"phi-2", {PreType::kGpt2}},
        {"jina-es", {PreType::kGpt2}},
        {"jina-de", {PreType::kGpt2}},
        {"gigachat", {PreType::kGpt2}},
        {"jina-v1-en", {PreType::kGpt2}},
        {"jina-v2-es", {PreType::kGpt2}},
        {"jina-v2-de", {PreType::kGpt2}},
        {"jina-v2-code", {PreType::kGpt2}},
        {"roberta-bpe", {PreType::kGpt2}},
        {"refact", {PreType::kStarcoder}},
        {"command-r", {PreType::kStarcoder, false}},
        {"qwen2", {PreType::kQwen2, false}},
        {"stablelm2", {PreType::kQwen2}},
        {"olmo", {PreType::kGpt2}},
        {"dbrx", {PreType::kLlama3}},
        {"smaug-bpe", {PreType::kLlama3}},
        {"poro-chat", {PreType::kPoro, false}},
        {"chatglm-bpe", {PreType::kLlama3, true, false, false, true}},
        {"viking", {PreType::kViking, false}},
        {"jais", {PreType::kGpt2}},
        {"smollm", {PreType::kStarcoder, false}},
        {"codeshell", {PreType::kStarcoder}},
        {"bloom", {PreType::kPoro}},
        {"gpt3-finnish", {PreType::kPoro}},
        {"exaone", {PreType::kStarcoder}},
        {"chameleon", {PreType::kChameleon, false, false, true}},
        {"minerva-7b", {PreType::kStarcoder}},
        {"megrez", {PreType::kQwen2}},
    };
    if (pre.empty()) return PreInfo{PreType::kDefault};
    for (const Entry& e : kEntries) {
        if (pre == e.name) return e.info;
    }
    return std::nullopt;
}

Status corrupt(const std::string& msg) { return make_error(ErrorCode::kCorruptFile, msg); }

uint32_t attr_from_type(int32_t type) {
    switch (static_cast<TokenType>(type)) {
        case TokenType::kUnknown:
            return kAttrUnknown;
        case TokenType::kUnused:
            return kAttrUnused;
        case TokenType::kNormal:
            return kAttrNormal;
        case TokenType::kControl:
            return kAttrControl;
        case TokenType::kUserDefined:
            return kAttrUserDefined;
        case TokenType::kByte:
            return kAttrByte;
        default:
            return kAttrUndefined;
    }
}

// Special ids llama.cpp finds by their text when the file does not name them.
void detect_by_text(TokenizerState& s) {
    struct Rule {
        int32_t TokenizerState::*field;
        std::vector<std::string_view> texts;
    };
    const Rule rules[] = {
        {&TokenizerState::eot,
         {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
          "<\xEF\xBD\x9C"
          "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"}},
        {&TokenizerState::eom, {"<|eom_id|>"}},
        {&TokenizerState::fim_pre,
         {"<|fim_prefix|>", "<fim-prefix>",
          "<\xEF\xBD\x9C"
          "fim\xE2\x96\x81"
          "begin\xEF\xBD\x9C>",
          "<PRE>"}},
        {&TokenizerState::fim_suf,
         {"<|fim_suffix|>", "<fim-suffix>",
          "<\xEF\xBD\x9C"
          "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
          "<SUF>"}},
        {&TokenizerState::fim_mid,
         {"<|fim_middle|>", "<fim-middle>",
          "<\xEF\xBD\x9C"
          "fim\xE2\x96\x81"
          "end\xEF\xBD\x9C>",
          "<MID>"}},
        {&TokenizerState::fim_pad, {"<|fim_pad|>", "<fim-pad>", "<PAD>"}},
        {&TokenizerState::fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"}},
        {&TokenizerState::fim_sep, {"<|file_sep|>"}},
    };
    // llama.cpp walks an unordered_map, so with several candidates its pick is unspecified;
    // the lowest id wins here. The chosen token is forced to be a control token.
    for (const Rule& r : rules) {
        if (s.*r.field != kNoToken) continue;
        int32_t best = kNoToken;
        for (std::string_view t : r.texts) {
            const int32_t id = s.find(t);
            if (id != kNoToken && (best == kNoToken || id < best)) best = id;
        }
        if (best == kNoToken) continue;
        s.*r.field = best;
        s.attrs[best] |= kAttrControl;
    }

    s.eog.assign(s.n_tokens(), 0);
    for (int32_t id : {s.fim_pad, s.fim_rep, s.fim_sep}) {
        if (id != kNoToken) s.eog[id] = 1;
    }
    for (std::string_view t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                               "<|endoftext|>", "<|eom_id|>", "<EOT>"}) {
        const int32_t id = s.find(t);
        if (id == kNoToken) continue;
        s.eog[id] = 1;
        s.attrs[id] |= kAttrControl;
    }
    for (int32_t id : {s.eos, s.eot, s.eom}) {
        if (id != kNoToken) s.eog[id] = 1;
    }
}

// Token attributes llama.cpp sets by model or pre-tokenizer name.
void fix_up_attrs(TokenizerState& s, const VocabData& d) {
    std::string name = d.name;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto set_attr = [&](std::string_view text, uint32_t attr, bool on) {
        const int32_t id = s.find(text);
        if (id == kNoToken) return;  // llama.cpp would throw here
        s.attrs[id] = on ? (s.attrs[id] | attr) : (s.attrs[id] & ~attr);
    };
    const auto contains = [](const std::string& hay, std::string_view needle) {
        return hay.find(needle) != std::string::npos;
    };
    if (contains(d.pre, "jina-v2-de") || contains(d.pre, "jina-v2-es") ||
        contains(d.pre, "jina-v2-code")) {
        set_attr("<mask>", kAttrLstrip, true);
    } else if (contains(name, "phi-3") || contains(name, "phi3")) {
        for (int32_t id : s.special_tokens) s.attrs[id] |= kAttrRstrip;
        set_attr("</s>", kAttrRstrip, true);
        for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"})
            set_attr(t, kAttrRstrip, false);
    }
}

// True when every token is valid UTF-8 and has "▁" only at its start or after another "▁".
bool no_token_joins_space(const TokenizerState& s) {
    static constexpr std::string_view kSp = "\xE2\x96\x81";
    for (int32_t id = 0; id < s.n_tokens(); ++id) {
        const std::string_view t = s.text(id);
        if (valid_utf8_prefix(t) != t.size()) return false;
        for (size_t k = t.find(kSp, 1); k != std::string_view::npos; k = t.find(kSp, k + 1)) {
            if (k < 3 || t.compare(k - 3, 3, kSp) != 0) return false;
        }
    }
    return true;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<TokenizerState> s) : s_(std::move(s)) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const formats::GgufFile& file) {
    TK_ASSIGN_OR_RETURN(VocabData data, vocab_from_gguf(file));
    auto tok = create(std::move(data));
    if (!tok.is_ok()) {
        return make_error(tok.status().code(), file.path() + ": " + tok.status().message());
    }
    return tok;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(VocabData d) {
    auto sp = std::make_unique<TokenizerState>();
    TokenizerState& s = *sp;
    s.bos = 1, s.eos = 2, s.unk = 0;  // llama.cpp's defaults before the model type is known

    if (d.model == "llama") {
        s.type = VocabType::kSpm;
        s.pre_name = "default";
        s.add_space_prefix = true;
        s.clean_spaces = false;
        s.add_bos = true;
        s.add_eos = false;
    } else if (d.model == "gpt2") {
        s.type = VocabType::kBpe;
        s.bos = 11, s.eos = 11, s.unk = kNoToken;
        const std::optional<PreInfo> pre = pre_info(d.pre);
        if (!pre) {
            return make_error(
                ErrorCode::kUnsupported,
                "pre-tokenizer '" + d.pre + "' (tokenizer.ggml.pre) is not supported");
        }
        if (d.pre.empty())
            log_warn("tokenizer: no tokenizer.ggml.pre, using the default BPE split");
        s.pre_type = pre->type;
        s.pre_name = d.pre.empty() ? "default" : d.pre;
        s.add_space_prefix = false;
        s.clean_spaces = pre->clean_spaces;
        if (pre->llama3_flags) s.ignore_merges = true, s.add_bos = true;
        if (pre->add_bos) s.add_bos = true;
        if (pre->no_bos) s.bos = kNoToken;
    } else if (d.model == "bert") {
        s.type = VocabType::kWpm;
        s.pre_name = d.pre.empty() ? "default" : d.pre;
        s.bos = 101, s.eos = kNoToken, s.unk = 100, s.sep = 102, s.pad = 0, s.mask = 103;
        s.add_space_prefix = false;
        s.clean_spaces = true;
        s.add_bos = true;
        s.add_eos = false;
    } else if (d.model == "no_vocab" || d.model == "none") {
        return make_error(ErrorCode::kUnsupported, "the model has no vocabulary");
    } else {
        return make_error(ErrorCode::kUnsupported, "tokenizer model '" + d.model +
                                                       "' (tokenizer.ggml.model) is not supported");
    }
    if (d.add_space_prefix) s.add_space_prefix = *d.add_space_prefix;
    if (d.remove_extra_whitespaces) s.remove_extra_whitespaces = *d.remove_extra_whitespaces;

    const size_t n = d.tokens.size();
    if (n == 0) return corrupt("tokenizer.ggml.tokens is empty");
    if (n > static_cast<size_t>(INT32_MAX) / 2) return corrupt("tokenizer.ggml.tokens is too long");
    if (!d.scores.empty() && d.scores.size() != n) {
        return corrupt("tokenizer.ggml.scores has " + std::to_string(d.scores.size()) +
                       " entries for " + std::to_string(n) + " tokens");
    }
    if (!d.token_types.empty() && d.token_types.size() != n) {
        return corrupt("tokenizer.ggml.token_type has " + std::to_string(d.token_types.size()) +
                       " entries for " + std::to_string(n) + " tokens");
    }

    size_t pool_size = 0;
    for (const std::string& t : d.tokens) pool_size += t.empty() ? 24 : t.size();
    if (pool_size > UINT32_MAX) return corrupt("tokenizer.ggml.tokens is too large");
    s.pool.reserve(pool_size);
    s.offsets.resize(n + 1);
    for (size_t i = 0; i < n; ++i) {
        s.offsets[i] = static_cast<uint32_t>(s.pool.size());
        if (d.tokens[i].empty()) {  // llama.cpp renames empty tokens so they stay unique
            s.pool += "[EMPTY_" + std::to_string(i) + "]";
        } else {
            s.pool += d.tokens[i];
        }
    }
    s.offsets[n] = static_cast<uint32_t>(s.pool.size());
    for (size_t i = 0; i < n; ++i) {
        s.max_token_len = std::max<size_t>(s.max_token_len, s.offsets[i + 1] - s.offsets[i]);
    }
    d.tokens = {};
    s.scores = d.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(d.scores);
    s.attrs.resize(n);
    for (size_t i = 0; i < n; ++i) {
        s.attrs[i] = d.token_types.empty() ? kAttrNormal : attr_from_type(d.token_types[i]);
    }
    s.index.build(static_cast<int32_t>(n), [&s](int32_t id) { return s.text(id); });

    struct IdField {
        const std::optional<int64_t>& value;
        int32_t& field;
        const char* key;
    };
    const IdField ids[] = {
        {d.bos_id, s.bos, "bos_token_id"},
        {d.eos_id, s.eos, "eos_token_id"},
        {d.eot_id, s.eot, "eot_token_id"},
        {d.eom_id, s.eom, "eom_token_id"},
        {d.unk_id, s.unk, "unknown_token_id"},
        {d.sep_id, s.sep, "seperator_token_id"},
        {d.pad_id, s.pad, "padding_token_id"},
        {d.mask_id, s.mask, "mask_token_id"},
        {d.fim_pre_id, s.fim_pre, "fim_pre_token_id"},
        {d.fim_suf_id, s.fim_suf, "fim_suf_token_id"},
        {d.fim_mid_id, s.fim_mid, "fim_mid_token_id"},
        {d.fim_pad_id, s.fim_pad, "fim_pad_token_id"},
        {d.fim_rep_id, s.fim_rep, "fim_rep_token_id"},
        {d.fim_sep_id, s.fim_sep, "fim_sep_token_id"},
    };
    for (const IdField& f : ids) {
        if (!f.value) continue;
        // llama.cpp reads the id as uint32 and keeps its default when it is out of range
        // (files often store -1 as 4294967295 for "none").
        const int64_t v = *f.value;
        if (v >= 0 && v < static_cast<int64_t>(n)) {
            f.field = static_cast<int32_t>(v);
        } else if (v != -1 && v != 0xFFFFFFFFll) {
            log_warn(std::string("tokenizer: bad special token ") + f.key + " = " +
                     std::to_string(v) + ", using the default");
        }
    }
    for (int32_t* id : {&s.bos, &s.eos, &s.unk, &s.sep, &s.pad, &s.mask}) {
        if (*id >= static_cast<int32_t>(n)) *id = kNoToken;  // defaults beyond a tiny vocab
    }
    if (d.add_bos) s.add_bos = *d.add_bos;
    if (d.add_eos) s.add_eos = *d.add_eos;

    detect_by_text(s);

    for (int32_t id = 0; id < static_cast<int32_t>(n); ++id) {
        if (s.attrs[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) {
            s.special_tokens.push_back(id);
        }
    }
    std::stable_sort(s.special_tokens.begin(), s.special_tokens.end(),
                     [&s](int32_t a, int32_t b) { return s.text(a).size() > s.text(b).size(); });
    fix_up_attrs(s, d);

    if (s.type == VocabType::kBpe) {
        // Resolve each merge to a (left id, right id) pair. Blocks are processed in three passes
        // (hash and prefetch the token slots, look up and prefetch the pair slot, insert) so the
        // cache misses of neighbouring merges overlap.
        s.merges.reserve(d.merges.size());
        constexpr size_t kBlock = 16;
        std::string_view lefts[kBlock], rights[kBlock];
        uint64_t lhash[kBlock], rhash[kBlock];
        int32_t lids[kBlock], rids[kBlock];
        for (size_t base = 0; base < d.merges.size(); base += kBlock) {
            const size_t m = std::min(kBlock, d.merges.size() - base);
            for (size_t k = 0; k < m; ++k) {
                const std::string_view text = d.merges[base + k];
                const size_t sp_pos = text.find(' ', 1);
                // llama.cpp keeps a merge without a space as an unusable ("", "") pair.
                lefts[k] =
                    sp_pos == std::string_view::npos ? text.substr(0, 0) : text.substr(0, sp_pos);
                rights[k] =
                    sp_pos == std::string_view::npos ? text.substr(0, 0) : text.substr(sp_pos + 1);
                lhash[k] = hash_text(lefts[k]);
                rhash[k] = hash_text(rights[k]);
                s.index.prefetch(lhash[k]);
                s.index.prefetch(rhash[k]);
            }
            for (size_t k = 0; k < m; ++k) {
                if (lefts[k].empty()) continue;
                lids[k] = s.find_hashed(lefts[k], lhash[k]);
                rids[k] = s.find_hashed(rights[k], rhash[k]);
                if (lids[k] != kNoToken && rids[k] != kNoToken) s.merges.prefetch(lids[k], rids[k]);
            }
            for (size_t k = 0; k < m; ++k) {
                if (lefts[k].empty()) continue;
                const auto rank = static_cast<int32_t>(base + k);
                if (lids[k] != kNoToken && rids[k] != kNoToken) {
                    s.merges.insert(lids[k], rids[k], rank);
                } else {
                    s.merges_by_text.emplace(
                        std::make_pair(std::string(lefts[k]), std::string(rights[k])), rank);
                }
            }
        }
    }

    if (s.type == VocabType::kSpm) s.spm_word_split = no_token_joins_space(s);

    for (int b = 0; b < 256; ++b) {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
        int32_t id = s.find(hex);
        if (id == kNoToken) {
            const char c = static_cast<char>(b);
            id = s.find(std::string_view(&c, 1));
        }
        s.byte_tokens[b] = id;
    }
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(sp)));
}

}  // namespace tk::tokenizer

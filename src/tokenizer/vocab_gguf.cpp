// vocab_from_gguf: copies the tokenizer.ggml.* metadata of a GGUF file into a VocabData.
#include <cstring>

#include "formats/gguf.h"
#include "tokenizer/vocab.h"

namespace tk::tokenizer {
namespace {

using formats::GgufFile;
using formats::GgufType;

Status wrong_type(const GgufFile& f, std::string_view key, const char* want) {
    const formats::GgufValue* v = f.find(key);
    std::string got = formats::gguf_type_name(v->type);
    if (v->type == GgufType::kArray)
        got += std::string(" of ") + formats::gguf_type_name(v->array_type);
    return make_error(ErrorCode::kCorruptFile, f.path() + ": '" + std::string(key) +
                                                   "' should be " + want + " but is " + got);
}

Status read_id(const GgufFile& f, std::string_view key, std::optional<int64_t>& out) {
    if (f.find(key) == nullptr) return Status::ok();
    out = f.get_int(key);
    if (!out) return wrong_type(f, key, "an integer");
    return Status::ok();
}

Status read_flag(const GgufFile& f, std::string_view key, std::optional<bool>& out) {
    if (f.find(key) == nullptr) return Status::ok();
    out = f.get_bool(key);
    if (!out) return wrong_type(f, key, "a bool");
    return Status::ok();
}

Status read_strings(const GgufFile& f, std::string_view key, std::vector<std::string>& out) {
    const auto* arr = f.get_string_array(key);
    if (arr == nullptr) return wrong_type(f, key, "an array of strings");
    out.reserve(arr->size());
    for (std::string_view s : *arr) out.emplace_back(s);
    return Status::ok();
}

}  // namespace

Result<VocabData> vocab_from_gguf(const GgufFile& f) {
    VocabData v;
    constexpr std::string_view kModel = "tokenizer.ggml.model";
    if (f.find(kModel) == nullptr) {
        return make_error(ErrorCode::kNotFound,
                          f.path() + ": no tokenizer ('" + std::string(kModel) + "' missing)");
    }
    const auto model = f.get_string(kModel);
    if (!model) return wrong_type(f, kModel, "a string");
    v.model = std::string(*model);

    if (f.find("tokenizer.ggml.pre") != nullptr) {
        const auto pre = f.get_string("tokenizer.ggml.pre");
        if (!pre) return wrong_type(f, "tokenizer.ggml.pre", "a string");
        v.pre = std::string(*pre);
    }
    if (const auto name = f.get_string("general.name")) v.name = std::string(*name);

    constexpr std::string_view kTokens = "tokenizer.ggml.tokens";
    if (f.find(kTokens) == nullptr) {
        return make_error(ErrorCode::kNotFound,
                          f.path() + ": '" + std::string(kTokens) + "' missing");
    }
    TK_RETURN_IF_ERROR(read_strings(f, kTokens, v.tokens));

    if (f.find("tokenizer.ggml.scores") != nullptr) {
        auto scores = f.get_f32_array("tokenizer.ggml.scores");
        if (!scores) return wrong_type(f, "tokenizer.ggml.scores", "an array of numbers");
        v.scores = std::move(*scores);
    }
    if (const formats::GgufValue* tt = f.find("tokenizer.ggml.token_type")) {
        if (tt->type == GgufType::kArray && tt->array_type == GgufType::kI32) {
            v.token_types.resize(tt->array_len);  // the common case, copied without widening
            if (tt->array_len > 0) {
                std::memcpy(v.token_types.data(), tt->array_data, tt->array_len * sizeof(int32_t));
            }
        } else {
            auto types = f.get_int_array("tokenizer.ggml.token_type");
            if (!types) return wrong_type(f, "tokenizer.ggml.token_type", "an array of integers");
            v.token_types.reserve(types->size());
            for (int64_t t : *types) v.token_types.push_back(static_cast<int32_t>(t));
        }
    }
    if (f.find("tokenizer.ggml.merges") != nullptr) {
        TK_RETURN_IF_ERROR(read_strings(f, "tokenizer.ggml.merges", v.merges));
    }

    struct IdKey {
        const char* key;
        std::optional<int64_t> VocabData::*field;
    };
    // Later keys win; llama.cpp reads the deprecated FIM names last.
    static constexpr IdKey kIds[] = {
        {"tokenizer.ggml.bos_token_id", &VocabData::bos_id},
        {"tokenizer.ggml.eos_token_id", &VocabData::eos_id},
        {"tokenizer.ggml.eot_token_id", &VocabData::eot_id},
        {"tokenizer.ggml.eom_token_id", &VocabData::eom_id},
        {"tokenizer.ggml.unknown_token_id", &VocabData::unk_id},
        {"tokenizer.ggml.seperator_token_id", &VocabData::sep_id},
        {"tokenizer.ggml.padding_token_id", &VocabData::pad_id},
        {"tokenizer.ggml.mask_token_id", &VocabData::mask_id},
        {"tokenizer.ggml.fim_pre_token_id", &VocabData::fim_pre_id},
        {"tokenizer.ggml.fim_suf_token_id", &VocabData::fim_suf_id},
        {"tokenizer.ggml.fim_mid_token_id", &VocabData::fim_mid_id},
        {"tokenizer.ggml.fim_pad_token_id", &VocabData::fim_pad_id},
        {"tokenizer.ggml.fim_rep_token_id", &VocabData::fim_rep_id},
        {"tokenizer.ggml.fim_sep_token_id", &VocabData::fim_sep_id},
        {"tokenizer.ggml.prefix_token_id", &VocabData::fim_pre_id},
        {"tokenizer.ggml.suffix_token_id", &VocabData::fim_suf_id},
        {"tokenizer.ggml.middle_token_id", &VocabData::fim_mid_id},
    };
    for (const IdKey& k : kIds) {
        std::optional<int64_t> id;
        TK_RETURN_IF_ERROR(read_id(f, k.key, id));
        if (id) v.*k.field = id;
    }
    TK_RETURN_IF_ERROR(read_flag(f, "tokenizer.ggml.add_bos_token", v.add_bos));
    TK_RETURN_IF_ERROR(read_flag(f, "tokenizer.ggml.add_eos_token", v.add_eos));
    TK_RETURN_IF_ERROR(read_flag(f, "tokenizer.ggml.add_space_prefix", v.add_space_prefix));
    TK_RETURN_IF_ERROR(
        read_flag(f, "tokenizer.ggml.remove_extra_whitespaces", v.remove_extra_whitespaces));
    return v;
}

}  // namespace tk::tokenizer

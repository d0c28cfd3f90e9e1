#pragma once
// VocabData: the tokenizer metadata of a model file, as stored (GGUF `tokenizer.ggml.*` keys or a
// Hugging Face tokenizer.json). Nothing here is interpreted: defaults that depend on the model
// type (BOS id, add_bos, add_space_prefix, ...) are applied by Tokenizer::create, the way
// llama.cpp's llama_vocab::load does, so an unset optional means "use the model's default".
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace tk::formats {
class GgufFile;
}

namespace tk::tokenizer {

// GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
    kUndefined = 0,
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
};

struct VocabData {
    std::string model;  // tokenizer.ggml.model: "llama" (SPM), "gpt2" (byte-level BPE), ...
    std::string pre;    // tokenizer.ggml.pre: pre-tokenizer name; empty = "default"
    std::string name;   // general.name (llama.cpp keys a few token attributes on it)

    std::vector<std::string> tokens;   // id -> text
    std::vector<float> scores;         // empty, or one per token (SPM merge priority)
    std::vector<int32_t> token_types;  // empty (all normal), or one TokenType per token
    std::vector<std::string> merges;   // BPE merges "left right", highest priority first

    std::optional<int64_t> bos_id, eos_id, eot_id, eom_id, unk_id, sep_id, pad_id, mask_id;
    std::optional<int64_t> fim_pre_id, fim_suf_id, fim_mid_id, fim_pad_id, fim_rep_id, fim_sep_id;

    std::optional<bool> add_bos, add_eos, add_space_prefix, remove_extra_whitespaces;
};

// Reads the tokenizer.ggml.* keys (and general.name). Errors name the key and the fault.
Result<VocabData> vocab_from_gguf(const formats::GgufFile& file);

}  // namespace tk::tokenizer

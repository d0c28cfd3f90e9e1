#pragma once
// Hugging Face tokenizer.json (+ tokenizer_config.json) -> GGUF tokenizer.ggml.* metadata, the
// way llama.cpp's convert_hf_to_gguf writes it, so tokenizer::Tokenizer::from_gguf reads an HF
// folder exactly like a converted GGUF:
//  * byte-level BPE (a ByteLevel pre-tokenizer: Llama 3, Qwen2/3, GPT-2): model "gpt2", tokens
//    from vocab + added_tokens, merges, token types (added special -> CONTROL, added other ->
//    USER_DEFINED), tokenizer.ggml.pre recognised from the Split regex ("llama-bpe", "qwen2",
//    "gpt-2");
//  * SentencePiece-derived (BPE with byte_fallback and "▁" pieces: Llama 2, TinyLlama, Mistral;
//    or Unigram): model "llama" with scores (Unigram: as given; BPE: minus the rank of the
//    first merge that makes the token, so merge priority orders llama.cpp's SPM merges the way
//    the HF merge list does), byte tokens <0xNN> as BYTE, unk as UNKNOWN, add_space_prefix from
//    the Prepend normalizer / Metaspace pre-tokenizer.
// Special ids come from tokenizer_config.json (bos_token, ...), then config.json ids; add_bos /
// add_eos from tokenizer_config.json or the TemplateProcessing post-processor; chat_template
// from tokenizer_config.json or chat_template.jinja.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tk::formats {

class GgufBuilder;

struct HfTokenizerOptions {
    // Pads the vocabulary with unused "[PAD<id>]" tokens up to this many (the embedding rows
    // from config.json, often rounded up); 0 keeps the tokenizer's own size. A tokenizer with
    // more tokens than this is an error.
    int64_t vocab_size = 0;
    // config.json's ids, used when tokenizer_config.json does not name the token.
    std::optional<int64_t> bos_id, eos_id, pad_id;
};

// `config_json` (tokenizer_config.json text) may be empty. `source` names the input in errors.
// kUnsupported for tokenizer models other than BPE/Unigram and for unknown pre-tokenizers.
Status add_hf_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json,
                             const std::string& source, const HfTokenizerOptions& opts,
                             GgufBuilder& out);

// Reads <dir>/tokenizer.json and, when present, tokenizer_config.json and chat_template.jinja.
// `path` may also name the tokenizer.json file itself.
Status add_hf_tokenizer_files(const std::string& path, const HfTokenizerOptions& opts,
                              GgufBuilder& out);

// True if `dir` holds a tokenizer.json.
bool has_hf_tokenizer(const std::string& dir);

}  // namespace tk::formats

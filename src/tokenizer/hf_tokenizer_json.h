#pragma once
// Hugging Face tokenizer.json (byte-level BPE: Llama-3, Qwen2/3, GPT-2 style) -> VocabData, with
// the token types, merges and pre-tokenizer name that llama.cpp's convert_hf_to_gguf would write.
#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/vocab.h"

namespace tk::tokenizer {

// `tokenizer_json` is the file's text; `config_json` (may be empty) is tokenizer_config.json,
// which names the BOS/EOS/UNK/PAD tokens and add_bos/add_eos. `source` names the input in errors.
Result<VocabData> vocab_from_hf_json(std::string_view tokenizer_json, std::string_view config_json,
                                     const std::string& source);

// Reads `path` (a tokenizer.json, or a directory holding one) and the tokenizer_config.json next
// to it, if any.
Result<VocabData> vocab_from_hf_file(const std::string& path);

}  // namespace tk::tokenizer

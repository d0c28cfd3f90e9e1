#pragma once
// Pre-tokenizers of byte-level BPE vocabularies: split text into words before merging, as
// llama.cpp's unicode_regex_split does with the regex list of each `tokenizer.ggml.pre`. The
// regexes are hand-written matchers with the same leftmost/greedy/backtracking results.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tk::tokenizer {

enum class PreType {
    kDefault,
    kLlama3,  // llama3, llama-v3, llama-bpe, falcon3, dbrx, smaug-bpe, chatglm-bpe
    kDeepseekLlm,
    kDeepseekCoder,
    kFalcon,
    kGpt2,       // gpt-2, mpt, olmo, jais, phi-2, roberta-bpe, jina-*
    kStarcoder,  // starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b
    kQwen2,      // qwen2, stablelm2, megrez
    kPoro,       // poro-chat, bloom, gpt3-finnish
    kViking,
    kChameleon,
};

// Word boundaries of `text` as byte offsets: word k is [bounds[k], bounds[k + 1]).
// Appends to `bounds` (cleared first); no empty words.
void pretokenize(PreType type, std::string_view text, std::vector<uint32_t>& bounds);

}  // namespace tk::tokenizer

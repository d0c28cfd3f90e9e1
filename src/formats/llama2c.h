#pragma once
// llama2.c checkpoints (Karpathy's run.c "version 0" format) and tokenizer.bin.
//
// Checkpoint: 7 x int32 header {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len} (vocab_size < 0: the classifier is not shared with the embedding), then float32
// arrays in this order: token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim],
// wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim],
// w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim],
// freq_cis_real/imag [seq_len, head_size / 2] each (unused), wcls [vocab, dim] if unshared.
// Q/K rows are already in GGUF llama's interleaved-pair RoPE order, so every tensor is used
// in place (zero copy).
//
// tokenizer.bin: int32 max_token_length, then per token: float score, int32 length, bytes.
// Mapped to a GGUF "llama" (SentencePiece) vocabulary: ' ' becomes "▁", "\n<s>\n" and
// "\n</s>\n" become <s> and </s>; ids 0/1/2 are unk (UNKNOWN) / bos / eos (CONTROL), <0xNN>
// tokens are BYTE, the rest NORMAL.
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace tk::formats {

class GgufBuilder;
class GgufFile;

struct Llama2cHeader {
    int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0;
    int32_t vocab_size = 0;  // as stored: negative means an unshared classifier
    int32_t seq_len = 0;
};

// True if the first 28 bytes decode to a plausible header whose weights exactly fill a file of
// `size` bytes (used to recognise the format, which has no magic number).
bool looks_like_llama2c(const uint8_t* data, size_t size);

// Validates the header against the file size and returns the model as an in-memory GGUF
// (format() "llama2.c"). `tokenizer_path` is a llama2.c tokenizer.bin or a GGUF whose
// tokenizer.* keys are copied; empty: "tokenizer.bin" next to the checkpoint if there is one,
// else kInvalidArgument asking for one.
Result<std::unique_ptr<GgufFile>> open_llama2c(const std::string& path,
                                               const std::string& tokenizer_path);

// Adds tokenizer.ggml.* keys from a tokenizer.bin. `n_vocab` is the number of tokens expected
// (the model's vocabulary): the file must hold exactly that many; <= 0 reads to the end.
Status add_llama2c_tokenizer(const std::string& path, int64_t n_vocab, GgufBuilder& out);

}  // namespace tk::formats

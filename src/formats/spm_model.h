#pragma once
// SentencePiece `tokenizer.model` (a serialized sentencepiece.ModelProto) -> GGUF
// tokenizer.ggml.* metadata, as llama.cpp's convert_hf_to_gguf writes it for SentencePiece
// vocabularies (model "llama"): every piece with its score and type (NORMAL 1, UNKNOWN 2,
// CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6: the GGUF token types use the same numbers),
// unk/bos/eos/pad ids from the TrainerSpec, add_space_prefix from the NormalizerSpec's
// add_dummy_prefix. Read with a small bounds-checked protobuf wire reader: no libprotobuf.
//
// ModelProto fields read: pieces = 1 (piece = 1, score = 2, type = 3), trainer_spec = 2
// (model_type = 3, vocab_size = 4, byte_fallback = 35, unk_id = 40, bos_id = 41, eos_id = 42,
// pad_id = 43), normalizer_spec = 3 (add_dummy_prefix = 3). Unknown fields are skipped.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "formats/hf_tokenizer.h"

namespace tk::formats {

class GgufBuilder;

struct SpmPiece {
    std::string piece;
    float score = 0.0f;
    int32_t type = 1;  // NORMAL unless the model says otherwise
};

struct SpmModel {
    std::vector<SpmPiece> pieces;
    int32_t model_type = 1;  // 1 unigram, 2 BPE, 3 word, 4 char
    bool byte_fallback = false;
    int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // SentencePiece's defaults
    bool add_dummy_prefix = true;
};

// Parses a ModelProto. kCorruptFile naming `source`, the field and the byte offset for a
// truncated or malformed message.
Result<SpmModel> parse_spm_model(const uint8_t* data, size_t size, const std::string& source);

// True when the bytes start like a ModelProto (a length-delimited pieces entry holding a
// piece string), which tells a tokenizer.model from a llama2.c tokenizer.bin.
bool looks_like_spm_model(const uint8_t* data, size_t size);

// tokenizer.ggml.* keys for `m`. opts.vocab_size pads with unused "[PAD<id>]" tokens (as
// llama.cpp's converter does); opts' ids fill ids the model disables (-1).
Status add_spm_tokenizer(const SpmModel& m, const std::string& source,
                         const HfTokenizerOptions& opts, GgufBuilder& out);

// Reads `path` (a tokenizer.model, or a folder holding one) and adds its keys; in a folder,
// tokenizer_config.json adds add_bos/add_eos, added tokens and the chat template, and
// chat_template.jinja the template.
Status add_spm_tokenizer_files(const std::string& path, const HfTokenizerOptions& opts,
                               GgufBuilder& out);

}  // namespace tk::formats

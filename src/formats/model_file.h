#pragma once
// One entry point for every model format tokamak reads. Each is turned into a GgufFile with
// GGUF metadata keys (general.architecture, llama.embedding_length, tokenizer.ggml.*, ...) and
// GGUF tensor names and layout (token_embd.weight, blk.N.attn_q.weight, ...; Q/K rows in the
// interleaved-pair RoPE order for llama), so the model loader and tokenizer see one thing.
// Tensor data points into the original file's mapping wherever the bytes can be used as they
// are, and into buffers owned by the GgufFile only where a transform is needed (HF q/k
// permutation, Gemma's norm + 1, Mixtral's per-expert matrices stacked, misaligned data).
//
//   GGUF file                 -> GgufFile::open
//   llamafile (stub + zip)    -> the stored .gguf entry, parsed in place (llamafile.h)
//   directory with config.json, or a file in one (config.json, *.safetensors)
//                             -> Hugging Face SafeTensors checkpoint (Llama, Mistral, Mixtral,
//                                Qwen2, Phi-3, Gemma, StarCoder2)
//   llama2.c .bin             -> llama2.c checkpoint (llama2c.h); needs a tokenizer
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"

namespace tk::formats {

class GgufBuilder;
class GgufFile;

struct OpenModelOptions {
    // Where the vocabulary comes from when the model file has none (llama2.c) or to replace an
    // HF folder's own: a llama2.c tokenizer.bin, an HF tokenizer.json (or a folder with one), or
    // a GGUF whose tokenizer.* keys are copied. Ignored (with a warning) for GGUF/llamafile.
    std::string tokenizer_path;
};

enum class ModelFormat { kGguf, kLlamafile, kHfFolder, kLlama2c };
const char* model_format_name(ModelFormat f);

// Recognises the format from the path and the file's bytes. kNotFound for a missing path,
// kCorruptFile (naming the formats tried) for an unrecognised file.
Result<ModelFormat> detect_model_format(const std::string& path);

// Opens any supported model as a GgufFile (see above). Errors name the file and the fault.
Result<std::unique_ptr<GgufFile>> open_model(const std::string& path,
                                             const OpenModelOptions& opts = {});

// A Hugging Face folder (config.json + model.safetensors or model-0000x-of-0000y.safetensors
// with model.safetensors.index.json). Tokenizer: opts.tokenizer_path if given, else the
// folder's tokenizer.json, else its tokenizer.model, else kInvalidArgument asking for
// --tokenizer.
Result<std::unique_ptr<GgufFile>> open_hf_folder(const std::string& dir,
                                                 const OpenModelOptions& opts = {});

struct TokenizerSourceOptions {
    int64_t n_vocab = 0;  // the model's vocabulary size (0: unknown)
    std::optional<int64_t> bos_id, eos_id, pad_id;  // HF config.json fallbacks
};

// Adds tokenizer.* keys from `path`: a GGUF (copied), an HF tokenizer.json or a folder holding
// one (else its SentencePiece tokenizer.model), a SentencePiece tokenizer.model file, or a
// llama2.c tokenizer.bin (which must hold n_vocab tokens when n_vocab > 0).
Status add_tokenizer_from(const std::string& path, const TokenizerSourceOptions& opts,
                          GgufBuilder& out);

// A vocabulary-only GgufFile from any tokenizer file add_tokenizer_from reads.
Result<std::unique_ptr<GgufFile>> open_tokenizer(const std::string& path);

}  // namespace tk::formats

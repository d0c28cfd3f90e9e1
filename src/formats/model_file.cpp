// Format detection, open_model, and the Hugging Face folder -> GgufFile mapping.
#include "formats/model_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/fp16.h"
#include "base/log.h"
#include "base/mmap_file.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "formats/hf_tokenizer.h"
#include "formats/llama2c.h"
#include "formats/llamafile.h"
#include "formats/safetensors.h"
#include "formats/spm_model.h"

namespace tk::formats {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kLlama2cVersionedMagic = 0x616b3432;

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(),
                                                  suffix) == 0;
}

bool read_text(const fs::path& p, std::string& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return !in.bad();
}

// Path of the HF folder a path names, or empty if it names none.
fs::path hf_folder_of(const std::string& path) {
    std::error_code ec;
    const fs::path p(path);
    if (fs::is_directory(p, ec)) return fs::is_regular_file(p / "config.json", ec) ? p : fs::path();
    const std::string file = p.filename().string();
    if (file == "config.json" || ends_with(file, ".safetensors") ||
        file == "model.safetensors.index.json") {
        const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
        if (fs::is_regular_file(dir / "config.json", ec)) return dir;
    }
    return {};
}

// GGUF llama_ftype for a model whose matrices are all `t`.
uint32_t file_type_of(DType t) {
    switch (t) {
        case DType::kF16: return 1;
        case DType::kBF16: return 32;
        default: return 0;
    }
}

// What an HF tensor becomes in GGUF.
struct TensorTarget {
    std::string name;     // GGUF name; empty: unknown to this loader
    int qk = 0;           // 1: a Q projection, 2: a K projection (llama rows are un-permuted)
    bool norm = false;    // an RMSNorm weight (Gemma stores w; GGUF w + 1)
    bool skip = false;    // dropped on purpose
    int expert = -1;      // Mixtral: expert index, the tensor is one slice of `name`
};

// HF name -> GGUF name for `cfg`'s architecture, as llama.cpp's convert_hf_to_gguf maps them.
TensorTarget gguf_tensor_target(const std::string& hf, const HfConfig& cfg) {
    TensorTarget t;
    const std::string& arch = cfg.gguf_arch;
    if (hf == "model.embed_tokens.weight") return {"token_embd.weight"};
    if (hf == "model.norm.weight") return {"output_norm.weight", 0, true};
    if (hf == "model.norm.bias" && arch == "starcoder2") return {"output_norm.bias"};
    if (hf == "lm_head.weight") {
        // llama.cpp never reads Gemma's output.weight (always tied); convert skips it too.
        if (arch == "gemma") t.skip = true;
        else t.name = "output.weight";
        return t;
    }
    const std::string prefix = "model.layers.";
    if (!hf.starts_with(prefix)) return t;
    size_t at = prefix.size();
    int64_t layer = 0;
    const size_t digits_start = at;
    while (at < hf.size() && hf[at] >= '0' && hf[at] <= '9' && at - digits_start < 6) {
        layer = layer * 10 + (hf[at] - '0');
        ++at;
    }
    if (at == digits_start || at >= hf.size() || hf[at] != '.' || layer >= cfg.n_layers) return t;
    const std::string rest = hf.substr(at + 1);
    const std::string blk = "blk." + std::to_string(layer) + ".";
    if (rest == "self_attn.rotary_emb.inv_freq") {
        t.skip = true;  // a cached RoPE table some checkpoints carry; recomputed at run time
        return t;
    }
    // Mixtral: block_sparse_moe.gate (router) and experts.E.w1/w2/w3 (gate/down/up), stacked.
    const std::string moe = "block_sparse_moe.";
    if (cfg.n_expert > 0 && rest.starts_with(moe)) {
        const std::string m = rest.substr(moe.size());
        if (m == "gate.weight") return {blk + "ffn_gate_inp.weight"};
        if (!m.starts_with("experts.")) return t;
        size_t p = 8;
        int64_t e = 0;
        const size_t d0 = p;
        while (p < m.size() && m[p] >= '0' && m[p] <= '9' && p - d0 < 5) e = e * 10 + (m[p++] - '0');
        if (p == d0 || e >= cfg.n_expert) return t;
        const std::string w = m.substr(p);
        const char* g = w == ".w1.weight"   ? "ffn_gate_exps.weight"
                        : w == ".w2.weight" ? "ffn_down_exps.weight"
                        : w == ".w3.weight" ? "ffn_up_exps.weight"
                                            : nullptr;
        if (g == nullptr) return t;
        t.name = blk + g;
        t.expert = static_cast<int>(e);
        return t;
    }
    struct Map {
        const char* hf;
        const char* gguf;
        int qk;
        bool norm;
        const char* only;  // the one GGUF architecture that has it (nullptr: all)
    };
    static const Map kMap[] = {
        {"self_attn.q_proj.weight", "attn_q.weight", 1, false, nullptr},
        {"self_attn.k_proj.weight", "attn_k.weight", 2, false, nullptr},
        {"self_attn.v_proj.weight", "attn_v.weight", 0, false, nullptr},
        {"self_attn.o_proj.weight", "attn_output.weight", 0, false, nullptr},
        {"self_attn.q_proj.bias", "attn_q.bias", 1, false, nullptr},
        {"self_attn.k_proj.bias", "attn_k.bias", 2, false, nullptr},
        {"self_attn.v_proj.bias", "attn_v.bias", 0, false, nullptr},
        {"self_attn.o_proj.bias", "attn_output.bias", 0, false, "starcoder2"},
        {"self_attn.qkv_proj.weight", "attn_qkv.weight", 0, false, "phi3"},
        {"mlp.gate_proj.weight", "ffn_gate.weight", 0, false, nullptr},
        {"mlp.up_proj.weight", "ffn_up.weight", 0, false, nullptr},
        {"mlp.down_proj.weight", "ffn_down.weight", 0, false, nullptr},
        {"mlp.gate_up_proj.weight", "ffn_up.weight", 0, false, "phi3"},  // gate rows, then up
        {"mlp.c_fc.weight", "ffn_up.weight", 0, false, "starcoder2"},
        {"mlp.c_fc.bias", "ffn_up.bias", 0, false, "starcoder2"},
        {"mlp.c_proj.weight", "ffn_down.weight", 0, false, "starcoder2"},
        {"mlp.c_proj.bias", "ffn_down.bias", 0, false, "starcoder2"},
        {"input_layernorm.weight", "attn_norm.weight", 0, true, nullptr},
        {"post_attention_layernorm.weight", "ffn_norm.weight", 0, true, nullptr},
        {"input_layernorm.bias", "attn_norm.bias", 0, false, "starcoder2"},
        {"post_attention_layernorm.bias", "ffn_norm.bias", 0, false, "starcoder2"},
    };
    for (const Map& m : kMap) {
        if (rest == m.hf && (m.only == nullptr || arch == m.only)) {
            t.name = blk + m.gguf;
            t.qk = m.qk;
            t.norm = m.norm;
            return t;
        }
    }
    return t;
}

// Rows of a Q or K projection from HF's rotate-half order back to GGUF's interleaved pairs,
// per head of d rows: GGUF row h*d + 2i + j = HF row h*d + j*d/2 + i (inverse of the permute
// in transformers' convert_llama_weights_to_hf).
void unpermute_rows(const uint8_t* src, uint8_t* dst, int64_t n_rows, int64_t row_bytes,
                    int64_t n_head) {
    const int64_t d = n_rows / n_head;
    for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t i = 0; i < d / 2; ++i) {
            for (int64_t j = 0; j < 2; ++j) {
                const int64_t to = h * d + 2 * i + j;
                const int64_t from = h * d + j * (d / 2) + i;
                std::memcpy(dst + to * row_bytes, src + from * row_bytes,
                            static_cast<size_t>(row_bytes));
            }
        }
    }
}

// The safetensors files of a folder: model.safetensors, the shards named by the index, or
// every *.safetensors file.
Result<std::vector<fs::path>> safetensors_files(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_regular_file(dir / "model.safetensors", ec)) return std::vector{dir / "model.safetensors"};
    const fs::path index = dir / "model.safetensors.index.json";
    std::vector<fs::path> files;
    if (fs::is_regular_file(index, ec)) {
        std::string text;
        if (!read_text(index, text)) return make_error(ErrorCode::kIo, index.string() + ": cannot read");
        const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
        const auto wm = j.is_object() ? j.find("weight_map") : j.end();
        if (j.is_discarded() || wm == j.end() || !wm->is_object()) {
            return make_error(ErrorCode::kCorruptFile, index.string() + ": no weight_map object");
        }
        std::set<std::string> names;
        for (auto it = wm->begin(); it != wm->end(); ++it) {
            if (!it.value().is_string()) {
                return make_error(ErrorCode::kCorruptFile,
                                  index.string() + ": weight_map['" + it.key() + "'] is not a string");
            }
            const std::string f = it.value().get<std::string>();
            // Shards live in the folder itself; refuse paths that would leave it.
            if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
                f == "." || f == "..") {
                return make_error(ErrorCode::kCorruptFile,
                                  index.string() + ": bad shard file name '" + f + "'");
            }
            names.insert(f);
        }
        for (const std::string& n : names) files.push_back(dir / n);
        if (!files.empty()) return files;
    }
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.is_regular_file(ec) && e.path().extension() == ".safetensors") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (!files.empty()) return files;
    if (fs::exists(dir / "pytorch_model.bin", ec) || fs::exists(dir / "pytorch_model.bin.index.json", ec)) {
        return make_error(ErrorCode::kUnsupported,
                          dir.string() + ": PyTorch .bin checkpoints are not supported; "
                                         "save the model as SafeTensors");
    }
    return make_error(ErrorCode::kNotFound, dir.string() + ": no *.safetensors files");
}

}  // namespace

const char* model_format_name(ModelFormat f) {
    switch (f) {
        case ModelFormat::kGguf: return "GGUF";
        case ModelFormat::kLlamafile: return "llamafile";
        case ModelFormat::kHfFolder: return "SafeTensors";
        case ModelFormat::kLlama2c: return "llama2.c";
    }
    return "?";
}

Result<ModelFormat> detect_model_format(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return make_error(ErrorCode::kNotFound, path + ": no such file or directory");
    if (!hf_folder_of(path).empty()) return ModelFormat::kHfFolder;
    if (fs::is_directory(path, ec)) {
        return make_error(ErrorCode::kNotFound,
                          path + ": directory has no config.json (not a Hugging Face model folder)");
    }
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
    const uint8_t* d = map->data();
    const size_t n = map->size();
    uint32_t magic = 0;
    if (n >= 4) std::memcpy(&magic, d, 4);
    if (magic == kGgufMagic) return ModelFormat::kGguf;
    if (looks_like_zip(d, n)) return ModelFormat::kLlamafile;
    if (magic == kLlama2cVersionedMagic || looks_like_llama2c(d, n)) return ModelFormat::kLlama2c;
    // No magic number: a .bin that is not the right size still gets llama2.c's own diagnosis.
    if (ends_with(path, ".bin")) return ModelFormat::kLlama2c;
    return make_error(ErrorCode::kCorruptFile,
                      path + ": not a recognised model file (tried GGUF, llamafile/zip, llama2.c "
                             "checkpoint; Hugging Face models are opened by their folder)");
}

Result<std::unique_ptr<GgufFile>> open_model(const std::string& path, const OpenModelOptions& opts) {
    TK_ASSIGN_OR_RETURN(ModelFormat format, detect_model_format(path));
    if (!opts.tokenizer_path.empty() &&
        (format == ModelFormat::kGguf || format == ModelFormat::kLlamafile)) {
        log_warn(path + ": " + model_format_name(format) +
                 " files carry their own vocabulary; ignoring the tokenizer " + opts.tokenizer_path);
    }
    switch (format) {
        case ModelFormat::kGguf: return GgufFile::open(path);
        case ModelFormat::kLlamafile: return open_llamafile(path);
        case ModelFormat::kHfFolder: return open_hf_folder(hf_folder_of(path).string(), opts);
        case ModelFormat::kLlama2c: return open_llama2c(path, opts.tokenizer_path);
    }
    return make_error(ErrorCode::kInternal, "unhandled model format");
}

Status add_tokenizer_from(const std::string& path, const TokenizerSourceOptions& opts,
                          GgufBuilder& out) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return make_error(ErrorCode::kNotFound, path + ": tokenizer not found");
    HfTokenizerOptions h;
    h.vocab_size = opts.n_vocab;
    h.bos_id = opts.bos_id;
    h.eos_id = opts.eos_id;
    h.pad_id = opts.pad_id;
    if (fs::is_directory(path, ec)) {
        // tokenizer.json first (it carries merges and normalizers); a SentencePiece
        // tokenizer.model alone also does.
        if (!has_hf_tokenizer(path) && fs::is_regular_file(fs::path(path) / "tokenizer.model", ec)) {
            return add_spm_tokenizer_files(path, h, out);
        }
        return add_hf_tokenizer_files(path, h, out);
    }
    if (ends_with(path, ".json")) return add_hf_tokenizer_files(path, h, out);
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
    uint32_t magic = 0;
    if (map->size() >= 4) std::memcpy(&magic, map->data(), 4);
    const bool spm = looks_like_spm_model(map->data(), map->size());
    map.reset();
    if (spm) return add_spm_tokenizer_files(path, h, out);
    if (magic != kGgufMagic) return add_llama2c_tokenizer(path, opts.n_vocab, out);
    TK_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> src, GgufFile::open(path));
    for (const GgufKV& kv : src->metadata()) {
        if (kv.key.starts_with("tokenizer.")) {
            out.set_value(kv.key, kv.value);
        }
    }
    if (src->find("tokenizer.ggml.tokens") == nullptr) {
        return make_error(ErrorCode::kNotFound, path + ": GGUF has no tokenizer.ggml.tokens");
    }
    return Status::ok();
}

Result<std::unique_ptr<GgufFile>> open_tokenizer(const std::string& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec) && !ends_with(path, ".json")) {
        TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
        uint32_t magic = 0;
        if (map->size() >= 4) std::memcpy(&magic, map->data(), 4);
        if (magic == kGgufMagic) return GgufFile::open(path);
    }
    GgufBuilder b;
    TK_RETURN_IF_ERROR(add_tokenizer_from(path, {}, b));
    return b.build(path, "tokenizer", 0);
}

Result<std::unique_ptr<GgufFile>> open_hf_folder(const std::string& dir_path,
                                                 const OpenModelOptions& opts) {
    const fs::path dir(dir_path);
    const fs::path config_path = dir / "config.json";
    std::string config_text;
    if (!read_text(config_path, config_text)) {
        return make_error(ErrorCode::kNotFound, config_path.string() + ": cannot read");
    }
    TK_ASSIGN_OR_RETURN(HfConfig cfg, parse_hf_config(config_text, config_path.string()));
    TK_ASSIGN_OR_RETURN(std::vector<fs::path> files, safetensors_files(dir));

    GgufBuilder b;
    add_hf_config_metadata(cfg, b);
    std::string name = fs::absolute(dir).lexically_normal().filename().string();
    if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
    b.set_string("general.name", name);

    TokenizerSourceOptions topts;
    topts.n_vocab = cfg.vocab_size;
    topts.bos_id = cfg.bos_token_id;
    topts.eos_id = cfg.eos_token_id;
    topts.pad_id = cfg.pad_token_id;
    std::error_code ec;
    if (!opts.tokenizer_path.empty()) {
        TK_RETURN_IF_ERROR(add_tokenizer_from(opts.tokenizer_path, topts, b));
    } else if (has_hf_tokenizer(dir.string()) || fs::is_regular_file(dir / "tokenizer.model", ec)) {
        TK_RETURN_IF_ERROR(add_tokenizer_from(dir.string(), topts, b));
    } else {
        return make_error(ErrorCode::kInvalidArgument,
                          dir.string() + ": no tokenizer.json or tokenizer.model in the folder; "
                                         "give one with --tokenizer (a tokenizer.json, a "
                                         "SentencePiece tokenizer.model, a llama2.c "
                                         "tokenizer.bin, or a GGUF with the same vocabulary)");
    }

    uint64_t total_bytes = 0;
    DType embd_type = DType::kF32;
    bool have_output = false;
    // Mixtral experts: the slices of each stacked tensor, gathered over all shards.
    struct ExpertSlice {
        const uint8_t* data = nullptr;
        DType type = DType::kF32;
        std::vector<int64_t> shape;
        uint64_t nbytes = 0;
        std::string what;
    };
    std::map<std::string, std::vector<ExpertSlice>> experts;
    for (const fs::path& file : files) {
        TK_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> st, SafetensorsFile::open(file.string()));
        total_bytes += st->file_size();
        for (const SafetensorsTensor& t : st->tensors()) {
            const TensorTarget target = gguf_tensor_target(t.name, cfg);
            if (target.skip) continue;
            const std::string& gname = target.name;
            const std::string what = file.string() + ": tensor '" + t.name + "'";
            if (gname.empty()) {
                return make_error(ErrorCode::kUnsupported,
                                  what + " is not part of a " + cfg.hf_arch + " model tokamak knows");
            }
            if (!t.has_type) {
                return make_error(ErrorCode::kUnsupported,
                                  what + " has dtype " + t.dtype +
                                      " (supported: F32, F16, BF16)");
            }
            if (t.shape.empty() || t.shape.size() > 3) {
                return make_error(ErrorCode::kCorruptFile,
                                  what + " has rank " + std::to_string(t.shape.size()));
            }
            if (target.expert >= 0) {
                if (t.shape.size() != 2) {
                    return make_error(ErrorCode::kCorruptFile, what + " is not a matrix");
                }
                auto& slices = experts[gname];
                slices.resize(static_cast<size_t>(cfg.n_expert));
                ExpertSlice& e = slices[static_cast<size_t>(target.expert)];
                if (e.data != nullptr) return make_error(ErrorCode::kCorruptFile, what + " appears twice");
                e = {t.data, t.type, t.shape, t.nbytes, what};
                continue;
            }
            const size_t elem = static_cast<size_t>(dtype_block_bytes(t.type));
            const void* data = t.data;
            DType type = t.type;
            if (target.norm && cfg.norm_plus_one()) {
                // Gemma: (1 + w) in float, as GemmaRMSNorm computes it; stored F32.
                const int64_t n = static_cast<int64_t>(t.nbytes / elem);
                float* dst = reinterpret_cast<float*>(b.alloc(static_cast<size_t>(n) * 4));
                for (int64_t i = 0; i < n; ++i) {
                    uint16_t h = 0;
                    float v = 0;
                    if (t.type == DType::kF32) {
                        std::memcpy(&v, t.data + i * 4, 4);
                    } else {
                        std::memcpy(&h, t.data + i * 2, 2);
                        v = t.type == DType::kF16 ? fp16_to_f32(h) : bf16_to_f32(h);
                    }
                    dst[i] = v + 1.0f;
                }
                data = dst;
                type = DType::kF32;
            } else if (target.qk != 0 && cfg.permute_qk() && t.shape.size() <= 2) {
                const int64_t heads = target.qk == 1 ? cfg.n_heads : cfg.n_kv_heads;
                const int64_t rows = t.shape[0];
                if (rows != heads * cfg.head_dim) {
                    return make_error(ErrorCode::kCorruptFile,
                                      what + " has " + std::to_string(rows) + " rows, expected " +
                                          std::to_string(heads) + " heads x " +
                                          std::to_string(cfg.head_dim));
                }
                uint8_t* dst = b.alloc(t.nbytes);
                unpermute_rows(t.data, dst, rows, static_cast<int64_t>(t.nbytes) / rows, heads);
                data = dst;
            } else if (reinterpret_cast<uintptr_t>(t.data) % elem != 0) {
                // Kernels read whole elements; an odd offset gets an aligned copy.
                uint8_t* dst = b.alloc(t.nbytes);
                std::memcpy(dst, t.data, t.nbytes);
                data = dst;
            }
            if (b.has_tensor(gname)) {
                return make_error(ErrorCode::kCorruptFile,
                                  what + " maps to '" + gname + "', which another tensor already gave");
            }
            if (gname == "token_embd.weight") embd_type = t.type;
            if (gname == "output.weight") have_output = true;
            b.add_tensor(gname, type, t.shape, data);
        }
        b.hold(st->mapping());
    }
    // Stack each expert matrix into [n_expert, rows, cols] (ffn_{gate,up,down}_exps).
    for (auto& [gname, slices] : experts) {
        const ExpertSlice* first = nullptr;
        for (size_t e = 0; e < slices.size(); ++e) {
            const ExpertSlice& s = slices[e];
            if (s.data == nullptr) {
                return make_error(ErrorCode::kCorruptFile,
                                  dir.string() + ": expert " + std::to_string(e) + " of '" + gname +
                                      "' is missing (num_local_experts is " +
                                      std::to_string(cfg.n_expert) + ")");
            }
            if (first == nullptr) first = &s;
            if (s.type != first->type || s.shape != first->shape) {
                return make_error(ErrorCode::kCorruptFile,
                                  s.what + " differs in dtype or shape from " + first->what);
            }
        }
        uint8_t* dst = b.alloc(first->nbytes * slices.size());
        for (size_t e = 0; e < slices.size(); ++e) {
            std::memcpy(dst + e * first->nbytes, slices[e].data, first->nbytes);
        }
        b.add_tensor(gname, first->type, {cfg.n_expert, first->shape[0], first->shape[1]}, dst);
    }
    if (!cfg.rope_long_factors.empty()) {
        // Phi-3 LongRoPE: the factor lists become tensors, as convert_hf_to_gguf writes them.
        for (const auto& [name, v] : {std::pair{"rope_factors_long.weight", &cfg.rope_long_factors},
                                      std::pair{"rope_factors_short.weight", &cfg.rope_short_factors}}) {
            uint8_t* dst = b.alloc(v->size() * sizeof(float));
            std::memcpy(dst, v->data(), v->size() * sizeof(float));
            b.add_tensor(name, DType::kF32, {static_cast<int64_t>(v->size())}, dst);
        }
    }
    if (!have_output && !cfg.tie_word_embeddings && cfg.gguf_arch != "gemma") {
        return make_error(ErrorCode::kCorruptFile,
                          dir.string() + ": lm_head.weight is missing and config.json does not "
                                         "tie it to the embeddings (tie_word_embeddings)");
    }
    b.set_u32("general.file_type", file_type_of(embd_type));
    return b.build(dir.string(), "SafeTensors", total_bytes);
}

}  // namespace tk::formats

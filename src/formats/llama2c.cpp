// llama2.c checkpoint and tokenizer.bin -> in-memory GGUF. All sizes are computed in 64-bit
// with overflow checks and compared with the file size before any pointer is formed.
#include "formats/llama2c.h"

#include <cstring>
#include <filesystem>

#include "base/mmap_file.h"
#include "formats/gguf.h"
#include "formats/model_file.h"

namespace tk::formats {
namespace {

constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);
constexpr uint32_t kVersionedMagic = 0x616b3432;  // "ak42": llama2.c export.py versions 1 and 2

Llama2cHeader read_header(const uint8_t* p) {
    int32_t h[7];
    std::memcpy(h, p, sizeof h);
    return {h[0], h[1], h[2], h[3], h[4], h[5], h[6]};
}

// Element offsets (in floats) of each array in the checkpoint; false on implausible values.
struct Layout {
    uint64_t embd, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq, wcls, total;
    bool shared;
};

bool layout_of(const Llama2cHeader& h, Layout* out, std::string* why) {
    auto fail = [&](const std::string& w) {
        if (why != nullptr) *why = w;
        return false;
    };
    if (h.dim <= 0 || h.hidden_dim <= 0 || h.n_layers <= 0 || h.n_heads <= 0 ||
        h.n_kv_heads <= 0 || h.vocab_size == 0 || h.seq_len <= 0) {
        return fail("header has a zero or negative size");
    }
    if (h.dim > (1 << 16) || h.hidden_dim > (1 << 18) || h.n_layers > 1024 ||
        h.n_heads > 1024 || h.vocab_size < -(1 << 22) || h.vocab_size > (1 << 22) ||
        h.seq_len > (1 << 22)) {
        return fail("header sizes are implausibly large");
    }
    if (h.dim % h.n_heads != 0 || h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0 ||
        (h.dim / h.n_heads) % 2 != 0) {
        return fail("dim " + std::to_string(h.dim) + ", n_heads " + std::to_string(h.n_heads) +
                    " and n_kv_heads " + std::to_string(h.n_kv_heads) + " do not divide evenly");
    }
    // The bounds above keep every product below 2^63.
    const uint64_t D = static_cast<uint64_t>(h.dim), H = static_cast<uint64_t>(h.hidden_dim);
    const uint64_t L = static_cast<uint64_t>(h.n_layers);
    const uint64_t V = static_cast<uint64_t>(h.vocab_size < 0 ? -h.vocab_size : h.vocab_size);
    const uint64_t head = D / static_cast<uint64_t>(h.n_heads);
    const uint64_t KV = head * static_cast<uint64_t>(h.n_kv_heads);
    Layout l;
    l.shared = h.vocab_size > 0;
    uint64_t at = 0;
    auto take = [&](uint64_t n) {
        const uint64_t start = at;
        at += n;
        return start;
    };
    l.embd = take(V * D);
    l.rms_att = take(L * D);
    l.wq = take(L * D * D);
    l.wk = take(L * KV * D);
    l.wv = take(L * KV * D);
    l.wo = take(L * D * D);
    l.rms_ffn = take(L * D);
    l.w1 = take(L * H * D);
    l.w2 = take(L * D * H);
    l.w3 = take(L * H * D);
    l.rms_final = take(D);
    l.freq = take(static_cast<uint64_t>(h.seq_len) * head);  // real and imag halves
    l.wcls = take(l.shared ? 0 : V * D);
    l.total = at;
    *out = l;
    return true;
}

uint64_t expected_bytes(const Layout& l) { return kHeaderBytes + l.total * sizeof(float); }

}  // namespace

bool looks_like_llama2c(const uint8_t* data, size_t size) {
    if (size < kHeaderBytes) return false;
    Layout l;
    return layout_of(read_header(data), &l, nullptr) && expected_bytes(l) == size;
}

Status add_llama2c_tokenizer(const std::string& path, int64_t n_vocab, GgufBuilder& out) {
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
    const uint8_t* p = map->data();
    const size_t size = map->size();
    auto fail = [&](const std::string& msg) {
        return make_error(ErrorCode::kCorruptFile, path + ": " + msg);
    };
    if (size < 4) return fail("truncated llama2.c tokenizer (no max_token_length)");
    int32_t max_len = 0;
    std::memcpy(&max_len, p, 4);
    if (max_len <= 0 || max_len > (1 << 16)) {
        return fail("max_token_length " + std::to_string(max_len) + " is not plausible");
    }
    // The file does not store its token count: without an expected count, read to the end.
    const bool to_end = n_vocab <= 0;
    const uint64_t max_tokens = (size - 4) / 8;
    if (to_end) n_vocab = static_cast<int64_t>(max_tokens);
    if (static_cast<uint64_t>(n_vocab) > max_tokens) {
        return fail("cannot hold " + std::to_string(n_vocab) + " tokens (" +
                    std::to_string(size) + " bytes)");
    }
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    size_t at = 4;
    for (int64_t id = 0; id < n_vocab; ++id) {
        if (to_end && at == size) break;
        if (size - at < 8) {
            return fail("truncated at token " + std::to_string(id) + " of " +
                        std::to_string(n_vocab));
        }
        float score = 0;
        int32_t len = 0;
        std::memcpy(&score, p + at, 4);
        std::memcpy(&len, p + at + 4, 4);
        at += 8;
        if (len < 0 || len > max_len || static_cast<size_t>(len) > size - at) {
            return fail("token " + std::to_string(id) + " has length " + std::to_string(len) +
                        " (max_token_length " + std::to_string(max_len) + ", " +
                        std::to_string(size - at) + " bytes left)");
        }
        std::string text(reinterpret_cast<const char*>(p + at), static_cast<size_t>(len));
        at += static_cast<size_t>(len);
        int32_t type = 1;  // NORMAL
        if (id == 0) {
            type = 2;  // UNKNOWN
        } else if (id == 1 || id == 2) {
            // llama2.c wraps them in newlines for its own decoder; GGUF uses the bare text.
            if (text == "\n<s>\n") text = "<s>";
            if (text == "\n</s>\n") text = "</s>";
            type = 3;  // CONTROL
        } else if (text.size() == 6 && text.starts_with("<0x") && text[5] == '>') {
            type = 6;  // BYTE
        } else {
            std::string escaped;
            escaped.reserve(text.size());
            for (char c : text) {
                if (c == ' ') {
                    escaped += "\xE2\x96\x81";
                } else {
                    escaped += c;
                }
            }
            text = std::move(escaped);
        }
        tokens.push_back(std::move(text));
        scores.push_back(score);
        types.push_back(type);
    }
    if (at != size) {
        return fail("has " + std::to_string(size - at) + " bytes after token " +
                    std::to_string(n_vocab - 1) + " (the model has " + std::to_string(n_vocab) +
                    " tokens: wrong tokenizer for this model?)");
    }
    if (tokens.size() < 3) return fail("has fewer than 3 tokens (unk, bos, eos)");
    out.set_string("tokenizer.ggml.model", "llama");
    out.set_string_array("tokenizer.ggml.tokens", tokens);
    out.set_f32_array("tokenizer.ggml.scores", scores);
    out.set_i32_array("tokenizer.ggml.token_type", types);
    out.set_u32("tokenizer.ggml.unknown_token_id", 0);
    out.set_u32("tokenizer.ggml.bos_token_id", 1);
    out.set_u32("tokenizer.ggml.eos_token_id", 2);
    out.set_bool("tokenizer.ggml.add_space_prefix", true);
    return Status::ok();
}

Result<std::unique_ptr<GgufFile>> open_llama2c(const std::string& path,
                                               const std::string& tokenizer_path) {
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
    const uint8_t* data = map->data();
    const size_t size = map->size();
    auto fail = [&](const std::string& msg) {
        return make_error(ErrorCode::kCorruptFile, path + ": " + msg);
    };
    if (size < kHeaderBytes) {
        return fail("truncated llama2.c checkpoint (" + std::to_string(size) +
                    " bytes, the header alone is 28)");
    }
    uint32_t magic = 0;
    std::memcpy(&magic, data, 4);
    if (magic == kVersionedMagic) {
        return make_error(ErrorCode::kUnsupported,
                          path + ": llama2.c export versions 1/2 (\"ak42\") are not supported; "
                                 "export with --version 0 (legacy)");
    }
    const Llama2cHeader h = read_header(data);
    Layout l;
    std::string why;
    if (!layout_of(h, &l, &why)) return fail("not a llama2.c checkpoint: " + why);
    if (expected_bytes(l) != size) {
        return fail("llama2.c header (dim " + std::to_string(h.dim) + ", hidden " +
                    std::to_string(h.hidden_dim) + ", layers " + std::to_string(h.n_layers) +
                    ", vocab " + std::to_string(h.vocab_size) + ", seq_len " +
                    std::to_string(h.seq_len) + ") needs " + std::to_string(expected_bytes(l)) +
                    " bytes but the file has " + std::to_string(size));
    }
    const int64_t D = h.dim, H = h.hidden_dim, L = h.n_layers;
    const int64_t V = h.vocab_size < 0 ? -static_cast<int64_t>(h.vocab_size) : h.vocab_size;
    const int64_t head = D / h.n_heads, KV = head * h.n_kv_heads;

    GgufBuilder b;
    b.set_string("general.architecture", "llama");
    b.set_string("general.name", std::filesystem::path(path).stem().string());
    b.set_u32("general.file_type", 0);  // all F32
    b.set_u32("llama.context_length", static_cast<uint32_t>(h.seq_len));
    b.set_u32("llama.embedding_length", static_cast<uint32_t>(D));
    b.set_u32("llama.feed_forward_length", static_cast<uint32_t>(H));
    b.set_u32("llama.block_count", static_cast<uint32_t>(L));
    b.set_u32("llama.attention.head_count", static_cast<uint32_t>(h.n_heads));
    b.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(h.n_kv_heads));
    b.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(head));
    b.set_f32("llama.rope.freq_base", 10000.0f);
    b.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);

    std::string tok = tokenizer_path;
    if (tok.empty()) {
        // run.c's default is tokenizer.bin; accept it beside the checkpoint.
        const std::filesystem::path beside =
            std::filesystem::path(path).parent_path() / "tokenizer.bin";
        std::error_code ec;
        if (std::filesystem::is_regular_file(beside, ec)) tok = beside.string();
    }
    if (tok.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          path + ": a llama2.c checkpoint has no vocabulary; give its "
                                 "tokenizer.bin (or a GGUF with the same vocabulary) with "
                                 "--tokenizer");
    }
    TokenizerSourceOptions topts;
    topts.n_vocab = V;
    TK_RETURN_IF_ERROR(add_tokenizer_from(tok, topts, b));

    const float* w = reinterpret_cast<const float*>(data + kHeaderBytes);
    b.add_tensor("token_embd.weight", DType::kF32, {V, D}, w + l.embd);
    b.add_tensor("output_norm.weight", DType::kF32, {D}, w + l.rms_final);
    if (!l.shared) b.add_tensor("output.weight", DType::kF32, {V, D}, w + l.wcls);
    for (int64_t i = 0; i < L; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        b.add_tensor(p + "attn_norm.weight", DType::kF32, {D}, w + l.rms_att + i * D);
        b.add_tensor(p + "attn_q.weight", DType::kF32, {D, D}, w + l.wq + i * D * D);
        b.add_tensor(p + "attn_k.weight", DType::kF32, {KV, D}, w + l.wk + i * KV * D);
        b.add_tensor(p + "attn_v.weight", DType::kF32, {KV, D}, w + l.wv + i * KV * D);
        b.add_tensor(p + "attn_output.weight", DType::kF32, {D, D}, w + l.wo + i * D * D);
        b.add_tensor(p + "ffn_norm.weight", DType::kF32, {D}, w + l.rms_ffn + i * D);
        b.add_tensor(p + "ffn_gate.weight", DType::kF32, {H, D}, w + l.w1 + i * H * D);
        b.add_tensor(p + "ffn_down.weight", DType::kF32, {D, H}, w + l.w2 + i * D * H);
        b.add_tensor(p + "ffn_up.weight", DType::kF32, {H, D}, w + l.w3 + i * H * D);
    }
    b.hold(std::shared_ptr<const MappedFile>(std::move(map)));
    return b.build(path, "llama2.c", size);
}

}  // namespace tk::formats

// Hugging Face folders -> GgufFile: config.json parsing, tensor names, the Q/K row permutation
// (checked bit for bit against the GGUF the HF files were derived from), zero copy, shards and
// refusals.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fp16.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "formats/model_file.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

std::string shared(const std::string& rel) { return testing::shared_path(rel); }

struct StTensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
};

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

void write_safetensors(const std::string& path, const std::vector<StTensor>& ts) {
    nlohmann::json h = nlohmann::json::object();
    uint64_t at = 0;
    for (const StTensor& t : ts) {
        h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes.size()}}};
        at += t.bytes.size();
    }
    std::string text = h.dump();
    while ((8 + text.size()) % 8 != 0) text += ' ';
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << text;
    for (const StTensor& t : ts) out.write(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
}

// F32 tensor whose element (r, c) is r * 1000 + c, so rows can be recognised after permuting.
StTensor f32(const std::string& name, std::vector<int64_t> shape) {
    StTensor t{name, "F32", shape, {}};
    const int64_t cols = shape.size() > 1 ? shape[1] : 1;
    const int64_t rows = shape[0];
    std::vector<float> v(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) v[r * cols + c] = static_cast<float>(r * 1000 + c);
    t.bytes.resize(v.size() * 4);
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
}

const char* kTinyTokenizer = R"({
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "d": 5, "e": 6,
            "f": 7, "g": 8}, "merges": ["a b", "ab c"]},
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "decoder": {"type": "ByteLevel"},
  "added_tokens": [{"id": 9, "content": "<|endoftext|>", "special": true}]
})";

// Tensors of a one-layer model: hidden 8, 2 heads of 4, 1 KV head, ffn 16, vocab 12.
std::vector<StTensor> tiny_tensors(bool biases, bool tie) {
    std::vector<StTensor> ts = {
        f32("model.embed_tokens.weight", {12, 8}), f32("model.norm.weight", {8}),
        f32("model.layers.0.self_attn.q_proj.weight", {8, 8}),
        f32("model.layers.0.self_attn.k_proj.weight", {4, 8}),
        f32("model.layers.0.self_attn.v_proj.weight", {4, 8}),
        f32("model.layers.0.self_attn.o_proj.weight", {8, 8}),
        f32("model.layers.0.mlp.gate_proj.weight", {16, 8}),
        f32("model.layers.0.mlp.up_proj.weight", {16, 8}),
        f32("model.layers.0.mlp.down_proj.weight", {8, 16}),
        f32("model.layers.0.input_layernorm.weight", {8}),
        f32("model.layers.0.post_attention_layernorm.weight", {8}),
        f32("model.layers.0.self_attn.rotary_emb.inv_freq", {2}),
    };
    if (biases) {
        ts.push_back(f32("model.layers.0.self_attn.q_proj.bias", {8}));
        ts.push_back(f32("model.layers.0.self_attn.k_proj.bias", {4}));
        ts.push_back(f32("model.layers.0.self_attn.v_proj.bias", {4}));
    }
    if (!tie) ts.push_back(f32("lm_head.weight", {12, 8}));
    return ts;
}

void write_tiny_config(const std::string& dir, const std::string& model_type, bool tie) {
    const std::string arch = model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    write_text(dir + "/config.json",
               R"({"architectures": [")" + arch + R"("], "model_type": ")" + model_type +
                   R"(", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                   "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 12,
                   "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
                   "tie_word_embeddings": )" +
                   (tie ? "true" : "false") + R"(, "bos_token_id": 9, "eos_token_id": [9, 8]})");
}

// config.json, tokenizer.json and model.safetensors of the tiny model (plus `extra` tensors).
void write_tiny_folder(const std::string& dir, const std::string& model_type, bool biases,
                       bool tie, std::vector<StTensor> extra = {}) {
    write_tiny_config(dir, model_type, tie);
    write_text(dir + "/tokenizer.json", kTinyTokenizer);
    std::vector<StTensor> ts = tiny_tensors(biases, tie);
    for (StTensor& t : extra) ts.push_back(std::move(t));
    write_safetensors(dir + "/model.safetensors", ts);
}

float at(const GgufTensorInfo& t, int64_t r, int64_t c) {
    float v;
    const int64_t cols = t.view.n_dims == 1 ? 1 : t.view.cols();
    std::memcpy(&v, static_cast<const uint8_t*>(t.view.data) + (r * cols + c) * 4, 4);
    return v;
}

TEST(HfConfig, ParsesAndRefuses) {
    const std::string cfg_text = R"({"architectures":["MistralForCausalLM"],"hidden_size":4096,
        "intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,
        "num_key_value_heads":8,"vocab_size":32768,"head_dim":128,"rope_theta":1000000.0,
        "rope_scaling":{"type":"linear","factor":2.0},"eos_token_id":[2,3]})";
    auto c = parse_hf_config(cfg_text, "config.json");
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_EQ(c->gguf_arch, "llama");
    EXPECT_EQ(c->model_type, "mistral");
    EXPECT_EQ(c->head_dim, 128);
    EXPECT_EQ(c->n_kv_heads, 8);
    EXPECT_EQ(*c->rope_linear_factor, 2.0);
    EXPECT_EQ(*c->eos_token_id, 2);
    EXPECT_FALSE(c->tie_word_embeddings);
    EXPECT_TRUE(c->permute_qk());

    auto expect = [](const std::string& text, ErrorCode code, const std::string& needle) {
        auto r = parse_hf_config(text, "cfg.json");
        ASSERT_FALSE(r.is_ok()) << needle;
        EXPECT_EQ(r.status().code(), code);
        EXPECT_NE(r.status().message().find("cfg.json"), std::string::npos);
        EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
    };
    expect(R"({"architectures":["GPT2LMHeadModel"]})", ErrorCode::kUnsupported,
           "supported: LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, "
           "Qwen2ForCausalLM, Phi3ForCausalLM, GemmaForCausalLM, Starcoder2ForCausalLM");
    expect(R"({"model_type":"llama"})", ErrorCode::kCorruptFile, "'hidden_size'");
    expect("[1]", ErrorCode::kCorruptFile, "not a JSON object");
    expect(R"({"model_type":"llama","hidden_size":"big"})", ErrorCode::kCorruptFile, "not an integer");
    const std::string base = R"({"model_type":"llama","hidden_size":64,"intermediate_size":172,
        "num_hidden_layers":5,"num_attention_heads":8,"vocab_size":512)";
    expect(base + R"(,"num_key_value_heads":3})", ErrorCode::kCorruptFile, "not a multiple");
    expect(base + R"(,"rope_scaling":{"rope_type":"llama3","factor":8.0}})", ErrorCode::kUnsupported,
           "'llama3'");
    expect(base + R"(,"num_hidden_layers":-1})", ErrorCode::kCorruptFile, "implausible");
    EXPECT_TRUE(parse_hf_config(base + "}", "c").is_ok());
}

TEST(HfFolder, Stories260KMatchesTheGgufItCameFrom) {
    OpenModelOptions o;
    o.tokenizer_path = shared("models/gguf/stories260K.gguf");
    auto r = open_model(shared("models/hf/stories260K"), o);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& m = **r;
    auto g = GgufFile::open(shared("models/gguf/stories260K.gguf"));
    ASSERT_TRUE(g.is_ok());
    const GgufFile& ref = **g;
    EXPECT_EQ(m.format(), "SafeTensors");
    EXPECT_EQ(m.get_string("general.architecture"), "llama");
    EXPECT_EQ(m.get_string("general.name"), "stories260K");
    EXPECT_EQ(m.get_int("general.file_type"), 0);
    EXPECT_EQ(m.get_int("llama.context_length"), 512);
    EXPECT_EQ(m.get_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(m.get_int("llama.rope.dimension_count"), 8);
    EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("llama.rope.freq_base")), 10000.0f);
    EXPECT_EQ(m.get_float("llama.attention.layer_norm_rms_epsilon"),
              ref.get_float("llama.attention.layer_norm_rms_epsilon"));
    EXPECT_EQ(*m.get_string_array("tokenizer.ggml.tokens"), *ref.get_string_array("tokenizer.ggml.tokens"));
    EXPECT_EQ(m.find_tensor("output.weight"), nullptr);  // tied
    EXPECT_EQ(m.tensors().size(), ref.tensors().size() - 1);
    // Every tensor, q/k after un-permuting included, is bit-identical to the GGUF.
    for (const GgufTensorInfo& t : m.tensors()) {
        const GgufTensorInfo* u = ref.find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        EXPECT_EQ(shape_to_string(t.view), shape_to_string(u->view)) << t.name;
        ASSERT_EQ(t.view.nbytes, u->view.nbytes) << t.name;
        EXPECT_EQ(std::memcmp(t.view.data, u->view.data, static_cast<size_t>(t.view.nbytes)), 0) << t.name;
    }
}

TEST(HfFolder, Bf16FolderIsTheRoundedGguf) {
    OpenModelOptions o;
    o.tokenizer_path = shared("models/llama2c/tok512.bin");
    auto r = open_model(shared("models/hf/stories260K-bf16/config.json"), o);  // a file in the folder
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    auto g = GgufFile::open(shared("models/gguf/stories260K.gguf"));
    ASSERT_TRUE(g.is_ok());
    EXPECT_EQ((*r)->get_int("general.file_type"), 32);
    for (const GgufTensorInfo& t : (*r)->tensors()) {
        ASSERT_EQ(t.view.type, DType::kBF16) << t.name;
        const GgufTensorInfo* u = (*g)->find_tensor(t.name);
        ASSERT_NE(u, nullptr);
        const int64_t n = t.view.n_elements();
        ASSERT_EQ(n, u->view.n_elements());
        const auto* b = static_cast<const uint16_t*>(t.view.data);
        const auto* f = static_cast<const float*>(u->view.data);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; ++i) bad += b[i] != f32_to_bf16(f[i]);
        EXPECT_EQ(bad, 0) << t.name;
    }
}

TEST(HfFolder, NeedsATokenizer) {
    auto r = open_model(shared("models/hf/stories260K"));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("--tokenizer"), std::string::npos);
}

TEST(HfFolder, LlamaQkPermutationAndOwnTokenizer) {
    testing::TempDir dir;
    write_tiny_folder(dir.path(), "llama", /*biases=*/true, /*tie=*/false);
    auto r = open_model(dir.path());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& m = **r;
    EXPECT_EQ(m.get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(m.get_string("tokenizer.ggml.pre"), "gpt-2");
    const auto* toks = m.get_string_array("tokenizer.ggml.tokens");
    ASSERT_EQ(toks->size(), 12u);  // padded to vocab_size
    EXPECT_EQ((*toks)[11], "[PAD11]");
    EXPECT_EQ(m.get_int_array("tokenizer.ggml.token_type")->at(9), 3);
    EXPECT_EQ(m.get_int_array("tokenizer.ggml.token_type")->at(10), 5);
    EXPECT_EQ(m.get_int("tokenizer.ggml.bos_token_id"), 9);
    EXPECT_EQ(m.get_int("tokenizer.ggml.eos_token_id"), 9);
    EXPECT_EQ(m.find_tensor("blk.0.self_attn.rotary_emb.inv_freq"), nullptr);
    ASSERT_NE(m.find_tensor("output.weight"), nullptr);
    // q: 2 heads of d = 4. GGUF row h*4 + 2i + j holds HF row h*4 + j*2 + i.
    const GgufTensorInfo* q = m.find_tensor("blk.0.attn_q.weight");
    ASSERT_NE(q, nullptr);
    const int64_t expect_q[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int64_t r2 = 0; r2 < 8; ++r2) EXPECT_EQ(at(*q, r2, 5), expect_q[r2] * 1000 + 5) << r2;
    const GgufTensorInfo* qb = m.find_tensor("blk.0.attn_q.bias");
    for (int64_t r2 = 0; r2 < 8; ++r2) EXPECT_EQ(at(*qb, r2, 0), expect_q[r2] * 1000) << r2;
    // k: 1 KV head of 4 rows.
    const GgufTensorInfo* k = m.find_tensor("blk.0.attn_k.weight");
    const int64_t expect_k[4] = {0, 2, 1, 3};
    for (int64_t r2 = 0; r2 < 4; ++r2) EXPECT_EQ(at(*k, r2, 7), expect_k[r2] * 1000 + 7) << r2;
    // v and the rest are untouched.
    const GgufTensorInfo* v = m.find_tensor("blk.0.attn_v.weight");
    for (int64_t r2 = 0; r2 < 4; ++r2) EXPECT_EQ(at(*v, r2, 0), r2 * 1000);
    EXPECT_EQ(m.find_tensor("blk.0.ffn_down.weight")->view.shape[1], 16);
}

TEST(HfFolder, Qwen2KeepsRowsAndBiases) {
    testing::TempDir dir;
    write_tiny_folder(dir.path(), "qwen2", /*biases=*/true, /*tie=*/true);
    auto r = open_model(dir.path());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& m = **r;
    EXPECT_EQ(m.get_string("general.architecture"), "qwen2");
    EXPECT_FLOAT_EQ(static_cast<float>(*m.get_float("qwen2.rope.freq_base")), 1e6f);
    const GgufTensorInfo* q = m.find_tensor("blk.0.attn_q.weight");
    for (int64_t r2 = 0; r2 < 8; ++r2) EXPECT_EQ(at(*q, r2, 1), r2 * 1000 + 1);
    const GgufTensorInfo* kb = m.find_tensor("blk.0.attn_k.bias");
    for (int64_t r2 = 0; r2 < 4; ++r2) EXPECT_EQ(at(*kb, r2, 0), r2 * 1000);
    EXPECT_EQ(m.find_tensor("output.weight"), nullptr);
}

TEST(HfFolder, ShardsFromTheIndex) {
    testing::TempDir dir;
    write_tiny_folder(dir.path(), "llama", false, true);
    // Split the single file into two shards named by an index.
    auto one = open_model(dir.path());
    ASSERT_TRUE(one.is_ok());
    std::vector<StTensor> a, b;
    nlohmann::json wm = nlohmann::json::object();
    for (StTensor& t : tiny_tensors(false, true)) {
        const bool first = a.size() <= b.size();
        wm[t.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        (first ? a : b).push_back(std::move(t));
    }
    std::filesystem::remove(dir.file("model.safetensors"));
    write_safetensors(dir.file("model-00001-of-00002.safetensors"), a);
    write_safetensors(dir.file("model-00002-of-00002.safetensors"), b);
    write_text(dir.file("model.safetensors.index.json"), nlohmann::json{{"weight_map", wm}}.dump());
    auto two = open_model(dir.path());
    ASSERT_TRUE(two.is_ok()) << two.status().to_string();
    ASSERT_EQ((*two)->tensors().size(), (*one)->tensors().size());
    for (const GgufTensorInfo& t : (*one)->tensors()) {
        const GgufTensorInfo* u = (*two)->find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        EXPECT_EQ(std::memcmp(t.view.data, u->view.data, static_cast<size_t>(t.view.nbytes)), 0);
    }
    wm["model.norm.weight"] = "../evil.safetensors";
    write_text(dir.file("model.safetensors.index.json"), nlohmann::json{{"weight_map", wm}}.dump());
    auto evil = open_model(dir.path());
    ASSERT_FALSE(evil.is_ok());
    EXPECT_NE(evil.status().message().find("bad shard file name"), std::string::npos);
}

TEST(HfFolder, Refusals) {
    {
        testing::TempDir dir;
        write_tiny_folder(dir.path(), "llama", false, true, {f32("model.layers.0.mystery.weight", {2})});
        auto r = open_model(dir.path());
        ASSERT_FALSE(r.is_ok());
        EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
        EXPECT_NE(r.status().message().find("mystery"), std::string::npos);
    }
    {
        testing::TempDir dir;
        write_tiny_folder(dir.path(), "llama", false, true,
                          {StTensor{"lm_head.weight", "I64", {12, 8}, std::vector<uint8_t>(12 * 8 * 8)}});
        auto r = open_model(dir.path());
        ASSERT_FALSE(r.is_ok());
        EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
        EXPECT_NE(r.status().message().find("dtype I64"), std::string::npos) << r.status().message();
    }
    {
        testing::TempDir dir;
        write_tiny_folder(dir.path(), "llama", false, /*tie=*/true);
        write_tiny_config(dir.path(), "llama", /*tie=*/false);  // untied, but no lm_head
        auto r = open_model(dir.path());
        ASSERT_FALSE(r.is_ok());
        EXPECT_NE(r.status().message().find("lm_head.weight is missing"), std::string::npos)
            << r.status().message();
    }
    {
        testing::TempDir dir;
        write_tiny_folder(dir.path(), "llama", false, true);
        std::filesystem::remove(dir.file("model.safetensors"));
        auto r = open_model(dir.path());
        ASSERT_FALSE(r.is_ok());
        EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
    }
    {
        testing::TempDir dir;
        auto r = open_model(dir.path());
        ASSERT_FALSE(r.is_ok());
        EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
        EXPECT_NE(r.status().message().find("no config.json"), std::string::npos);
    }
}

}  // namespace
}  // namespace tk::formats

// Hugging Face folders of every architecture tokamak runs: a random-weight model is written as
// GGUF (write_synthetic_model), turned into an HF folder with transformers' names and layouts by
// the PyTorch reference script (torch_ref.py --write-hf: llama/mixtral q/k in rotate-half
// order, Mixtral experts.E.w1/w2/w3, Phi-3 qkv_proj/gate_up_proj and LongRoPE in config.json,
// Gemma norms without the +1, StarCoder2 c_fc/c_proj and LayerNorm biases), loaded back by
// tokamak through formats::open_model and run: the logits must equal the GGUF's. The GGUF form
// itself is checked against the PyTorch forward pass in arch_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "formats/gguf.h"
#include "formats/model_file.h"
#include "model/model.h"
#include "model/session.h"
#include "model/synth.h"
#include "testutil/testutil.h"

namespace tk::model {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
// Same numbers through the same kernels; only Gemma's norm (w - 1 in float64, + 1 in float32)
// may move a weight by one ulp.
constexpr double kMaxAbs = 1e-4;

std::string script_path() {
    return (std::filesystem::path(__FILE__).parent_path() / "torch_ref.py").string();
}

// Writing the folder needs numpy only (torch_ref.py skips importing torch for --write-hf).
bool have_numpy() {
    static const bool ok =
        testing::run_command(std::string(kPython) + " -c 'import numpy' 2>/dev/null") == 0;
    return ok;
}

struct HfCase {
    std::string name;
    SynthOptions opts;
    int shards = 1;
};

void PrintTo(const HfCase& c, std::ostream* os) { *os << c.name; }

SynthOptions small(const std::string& arch) {
    SynthOptions o;
    o.arch = arch;
    o.vocab_from = testing::shared_path("models/gguf/stories260K.gguf");
    o.n_embd = 64;
    o.n_layer = 2;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_ff = 96;
    o.n_ctx = 256;
    o.type = DType::kF32;
    o.scale = 0.1f;
    o.seed = 11;
    o.n_threads = 2;
    return o;
}

std::vector<HfCase> hf_cases() {
    std::vector<HfCase> c;
    c.push_back({"llama", small("llama"), 1});
    HfCase mixtral{"mixtral_sharded", small("llama"), 3};
    mixtral.opts.n_expert = 4;
    mixtral.opts.n_expert_used = 2;
    c.push_back(mixtral);
    c.push_back({"qwen2", small("qwen2"), 1});
    HfCase phi3{"phi3_longrope", small("phi3"), 1};
    phi3.opts.longrope_orig_ctx = 64;
    c.push_back(phi3);
    c.push_back({"phi3", small("phi3"), 1});
    HfCase gemma{"gemma_head_dim_24", small("gemma"), 2};
    gemma.opts.head_dim = 24;
    c.push_back(gemma);
    HfCase sc2{"starcoder2_tied", small("starcoder2"), 1};
    sc2.opts.tied_output = true;
    c.push_back(sc2);
    c.push_back({"starcoder2", small("starcoder2"), 1});
    return c;
}

std::vector<float> all_logits(const Model& m, const std::vector<int32_t>& tokens) {
    Session s(m, 64, KvType::kF32);
    std::vector<float> logits;
    const Status st = s.decode(tokens.data(), static_cast<int64_t>(tokens.size()), true, logits);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return logits;
}

class HfArchTest : public ::testing::TestWithParam<HfCase> {};

TEST_P(HfArchTest, FolderGivesTheGgufLogits) {
    if (!have_numpy()) GTEST_SKIP() << "needs " << kPython << " with numpy";
    const HfCase& c = GetParam();
    testing::TempDir dir;
    const std::string gguf = dir.file(c.name + ".gguf");
    const std::string folder = dir.file(c.name + "-hf");
    Status s = write_synthetic_model(c.opts, gguf);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    std::string out;
    const std::string cmd = std::string(kPython) + " " + script_path() + " " + gguf +
                            " --write-hf " + folder + " --shards " + std::to_string(c.shards) +
                            " 2>&1";
    ASSERT_EQ(testing::run_command(cmd, &out), 0) << cmd << "\n" << out;

    LoadOptions lo;
    lo.n_threads = 2;
    auto ref = Model::load(gguf, lo);
    ASSERT_TRUE(ref.is_ok()) << ref.status().to_string();
    lo.tokenizer_path = gguf;  // the folder has no tokenizer files; the GGUF's vocabulary
    auto hf = Model::load(folder, lo);
    ASSERT_TRUE(hf.is_ok()) << hf.status().to_string();

    // The folder's metadata says what the GGUF says.
    const formats::GgufFile& a = (*ref)->gguf();
    const formats::GgufFile& b = (*hf)->gguf();
    EXPECT_EQ(b.format(), "SafeTensors");
    const std::string arch = c.opts.arch + ".";
    for (const char* key :
         {"embedding_length", "block_count", "feed_forward_length", "attention.head_count",
          "attention.head_count_kv", "context_length", "expert_count", "expert_used_count",
          "rope.dimension_count", "rope.scaling.original_context_length"}) {
        EXPECT_EQ(a.get_int(arch + key), b.get_int(arch + key)) << key;
    }
    for (const char* key : {"rope.freq_base", "attention.layer_norm_rms_epsilon",
                            "attention.layer_norm_epsilon", "rope.scaling.attn_factor"}) {
        const auto x = a.get_float(arch + key), y = b.get_float(arch + key);
        ASSERT_EQ(x.has_value(), y.has_value()) << key;
        if (x) {
            EXPECT_FLOAT_EQ(static_cast<float>(*x), static_cast<float>(*y)) << key;
        }
    }
    // Every GGUF tensor is there with the same shape (Gemma's output.weight is never read).
    for (const formats::GgufTensorInfo& t : a.tensors()) {
        const formats::GgufTensorInfo* u = b.find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        EXPECT_EQ(u->view.n_dims, t.view.n_dims) << t.name;
        for (int d = 0; d < t.view.n_dims; ++d) {
            EXPECT_EQ(u->view.shape[d], t.view.shape[d]) << t.name;
        }
    }

    std::vector<int32_t> tokens;
    for (int i = 0; i < 16; ++i) tokens.push_back(i == 0 ? 1 : (29 * i * i + 7 * i + 3) % 512);
    const std::vector<float> x = all_logits(**ref, tokens), y = all_logits(**hf, tokens);
    ASSERT_EQ(x.size(), y.size());
    ASSERT_FALSE(x.empty());
    double max_d = 0;
    for (size_t i = 0; i < x.size(); ++i) max_d = std::max(max_d, std::abs(double(x[i]) - y[i]));
    std::printf("[ hf       ] %-20s max|d| vs GGUF = %.3g\n", c.name.c_str(), max_d);
    EXPECT_LT(max_d, kMaxAbs);
}

INSTANTIATE_TEST_SUITE_P(Synth, HfArchTest, ::testing::ValuesIn(hf_cases()),
                         [](const auto& info) { return info.param.name; });

// A folder whose experts are incomplete or whose architecture is unknown fails with the file
// and the missing piece named.
class HfArchErrorTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have_numpy()) GTEST_SKIP() << "needs " << kPython << " with numpy";
    }
    std::string write(const SynthOptions& o) {
        const std::string gguf = dir_.file("m.gguf"), folder = dir_.file("m-hf");
        EXPECT_TRUE(write_synthetic_model(o, gguf).is_ok());
        EXPECT_EQ(testing::run_command(std::string(kPython) + " " + script_path() + " " + gguf +
                                       " --write-hf " + folder),
                  0);
        return folder;
    }
    testing::TempDir dir_;
};

TEST_F(HfArchErrorTest, UnknownArchitectureListsTheKnownOnes) {
    const std::string folder = write(small("llama"));
    std::ofstream(folder + "/config.json")
        << R"({"architectures": ["FalconForCausalLM"], "hidden_size": 64})";
    auto r = formats::open_model(folder);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
    const std::string& msg = r.status().message();
    EXPECT_NE(msg.find("config.json: unsupported architecture FalconForCausalLM"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("MixtralForCausalLM"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Starcoder2ForCausalLM"), std::string::npos) << msg;
}

TEST_F(HfArchErrorTest, MissingExpertIsNamed) {
    SynthOptions o = small("llama");
    o.n_expert = 4;
    o.n_expert_used = 2;
    const std::string folder = write(o);
    // Claim more experts than the checkpoint holds.
    std::ifstream in(folder + "/config.json");
    nlohmann::json cfg = nlohmann::json::parse(in);
    cfg["num_local_experts"] = 5;
    std::ofstream(folder + "/config.json") << cfg.dump();
    formats::OpenModelOptions oo;
    oo.tokenizer_path = dir_.file("m.gguf");
    auto r = formats::open_model(folder, oo);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("expert 4 of 'blk.0.ffn_"), std::string::npos)
        << r.status().message();
}

TEST_F(HfArchErrorTest, MissingTensorNamesFileAndTensor) {
    const std::string folder = write(small("starcoder2"));
    // Drop one bias by renaming it in the header to a name the map does not know.
    auto bytes = testing::read_file_bytes(folder + "/model.safetensors");
    std::string text(bytes.begin(), bytes.end());
    const std::string from = "model.layers.1.mlp.c_fc.bias", to = "model.layers.1.mlp.c_fx.bias";
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), to);
    std::ofstream(folder + "/model.safetensors", std::ios::binary) << text;
    formats::OpenModelOptions oo;
    oo.tokenizer_path = dir_.file("m.gguf");
    auto r = formats::open_model(folder, oo);
    ASSERT_FALSE(r.is_ok());
    const std::string& msg = r.status().message();
    EXPECT_NE(msg.find("model.safetensors: tensor 'model.layers.1.mlp.c_fx.bias' is not part of a "
                       "Starcoder2ForCausalLM model"),
              std::string::npos)
        << msg;
}

}  // namespace
}  // namespace tk::model

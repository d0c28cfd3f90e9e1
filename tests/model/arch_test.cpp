// Phi-3, Gemma and StarCoder2 (with Llama, Mixtral-style MoE and Qwen2 as controls) against an
// independent PyTorch forward pass (tests/model/torch_ref.py, Hugging Face formulation, float64)
// on random-weight F32 models written by write_synthetic_model; tokamak runs with an F32 KV
// cache and must agree to max|d| < 1e-4 on every logit of every position. Also: the errors
// for unknown architectures and missing tensors say what was expected and what was found.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "formats/gguf.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/session.h"
#include "model/synth.h"
#include "testutil/testutil.h"

namespace tk::model {
namespace {

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, where python3-torch installs
// The issue asks for 1e-3; 1e-4 also tells GELU's tanh form from the erf form (9e-4 apart here).
constexpr double kMaxAbs = 1e-4;
constexpr int kTokens = 20;

std::string script_path() {
    return (std::filesystem::path(__FILE__).parent_path() / "torch_ref.py").string();
}

// Empty when /usr/bin/python3 can import torch and numpy, else why not.
const std::string& torch_missing() {
    static const std::string why = [] {
        std::string out;
        const int rc =
            testing::run_command(std::string(kPython) + " -c 'import torch, numpy' 2>&1", &out);
        return rc == 0 ? std::string()
                       : "needs " + std::string(kPython) +
                             " with torch (apt-get install python3-torch): " + out;
    }();
    return why;
}

SynthOptions small(const std::string& arch) {
    SynthOptions o;
    o.arch = arch;
    o.vocab_from = testing::shared_path("models/gguf/stories260K.gguf");
    o.n_embd = 128;
    o.n_layer = 2;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_ff = 256;
    o.n_ctx = 256;
    o.type = DType::kF32;
    o.scale = 0.1f;  // sharper attention and larger activations than the 0.05 default
    o.seed = 7;
    o.n_threads = 2;
    return o;
}

std::vector<int32_t> test_tokens(int64_t n_vocab) {
    std::vector<int32_t> t(kTokens);
    t[0] = 1;  // BOS
    for (int i = 1; i < kTokens; ++i)
        t[static_cast<size_t>(i)] = static_cast<int32_t>((37 * i * i + 11 * i + 5) % n_vocab);
    return t;
}

std::string join(const std::vector<int32_t>& v) {
    std::string s;
    for (int32_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
}

struct ArchCase {
    std::string name;
    SynthOptions opts;
    int64_t forward_ctx = 0;  // > 0: run Forward with this context (LongRoPE choice), not Session
};

void PrintTo(const ArchCase& c, std::ostream* os) { *os << c.name; }

std::vector<ArchCase> arch_cases() {
    std::vector<ArchCase> cases;
    cases.push_back({"llama", small("llama"), 0});
    ArchCase moe{"llama_moe", small("llama"), 0};
    moe.opts.n_expert = 4;
    moe.opts.n_expert_used = 2;
    cases.push_back(moe);
    cases.push_back({"qwen2", small("qwen2"), 0});
    // Phi-3 with fused qkv and LongRoPE: trained 256, original 64. Session at 256 tokens of
    // context takes the long factors; a Forward for a 64-token context takes the short ones.
    ArchCase phi3{"phi3_longrope_long", small("phi3"), 0};
    phi3.opts.longrope_orig_ctx = 64;
    cases.push_back(phi3);
    phi3.name = "phi3_longrope_short";
    phi3.forward_ctx = 64;
    cases.push_back(phi3);
    ArchCase phi3_sep{"phi3_separate_qkv_tied", small("phi3"), 0};
    phi3_sep.opts.separate_qkv = true;
    phi3_sep.opts.tied_output = true;
    cases.push_back(phi3_sep);
    ArchCase gemma{"gemma_head_dim_48", small("gemma"), 0};
    gemma.opts.head_dim = 48;  // q_dim 192 != n_embd 128, like gemma-7b's 256 x 16 vs 3072
    cases.push_back(gemma);
    ArchCase sc2{"starcoder2_tied", small("starcoder2"), 0};
    sc2.opts.tied_output = true;
    cases.push_back(sc2);
    cases.push_back({"starcoder2", small("starcoder2"), 0});
    return cases;
}

// All logits of `tokens` from tokamak: via Session (a 12-token prefill, then one token at a
// time, so the paged cache is read back) or via Forward for a given context.
std::vector<float> tokamak_logits(const Model& m, const std::vector<int32_t>& tokens,
                                  int64_t forward_ctx) {
    const int64_t V = m.hparams().n_vocab, n = static_cast<int64_t>(tokens.size());
    std::vector<float> all;
    if (forward_ctx <= 0) {
        Session s(m, m.hparams().n_ctx_train, KvType::kF32);
        std::vector<float> logits;
        const int64_t prefill = 12;
        EXPECT_TRUE(s.decode(tokens.data(), prefill, true, logits).is_ok());
        all = logits;
        for (int64_t i = prefill; i < n; ++i) {
            EXPECT_TRUE(s.decode(tokens.data() + i, 1, true, logits).is_ok());
            all.insert(all.end(), logits.begin(), logits.end());
        }
        return all;
    }
    kv::KvConfig c;
    c.n_layer = m.hparams().n_layer;
    c.kv_dim = m.hparams().kv_dim();
    c.block_size = 16;
    c.n_blocks = (forward_ctx + 15) / 16;
    c.type = kv::KvType::kF32;
    kv::KvStorage kv(c);
    std::vector<int32_t> table(static_cast<size_t>(c.n_blocks));
    std::iota(table.begin(), table.end(), 0);
    Forward fwd(m, forward_ctx);
    Batch b;
    const int32_t seq = b.add_sequence(table);
    for (int64_t i = 0; i < n; ++i)
        b.add(tokens[static_cast<size_t>(i)], static_cast<int32_t>(i), seq, true);
    all.resize(static_cast<size_t>(n * V));
    fwd.run(b, kv, all.data());
    return all;
}

class ArchTest : public ::testing::TestWithParam<ArchCase> {};

TEST_P(ArchTest, LogitsMatchPyTorchReference) {
    if (!torch_missing().empty()) GTEST_SKIP() << torch_missing();
    const ArchCase& c = GetParam();
    testing::TempDir dir;
    const std::string model_path = dir.file(c.name + ".gguf");
    Status s = write_synthetic_model(c.opts, model_path);
    ASSERT_TRUE(s.is_ok()) << s.to_string();

    LoadOptions lo;
    lo.n_threads = 2;
    auto loaded = Model::load(model_path, lo);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    const Model& m = **loaded;
    const int64_t V = m.hparams().n_vocab;
    const std::vector<int32_t> tokens = test_tokens(V);
    const std::vector<float> ours = tokamak_logits(m, tokens, c.forward_ctx);
    ASSERT_EQ(ours.size(), tokens.size() * static_cast<size_t>(V));

    const std::string ref_path = dir.file(c.name + ".ref.bin");
    const int64_t ref_ctx = c.forward_ctx > 0 ? c.forward_ctx : m.hparams().n_ctx_train;
    std::string out;
    const std::string cmd = std::string(kPython) + " " + script_path() + " " + model_path + " " +
                            ref_path + " --tokens " + join(tokens) + " --n-ctx " +
                            std::to_string(ref_ctx) + " 2>&1";
    ASSERT_EQ(testing::run_command(cmd, &out), 0) << cmd << "\n" << out;
    const std::vector<uint8_t> bytes = testing::read_file_bytes(ref_path);
    ASSERT_EQ(bytes.size(), ours.size() * sizeof(float));
    std::vector<float> ref(ours.size());
    std::memcpy(ref.data(), bytes.data(), bytes.size());

    double max_d = 0, sum = 0, sum_sq = 0;
    size_t argmax_same = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        max_d = std::max(max_d, std::abs(static_cast<double>(ours[i]) - ref[i]));
        sum += ref[i];
        sum_sq += static_cast<double>(ref[i]) * ref[i];
    }
    for (size_t t = 0; t < tokens.size(); ++t) {
        const auto row = [&](const std::vector<float>& v) {
            return std::max_element(v.begin() + t * V, v.begin() + (t + 1) * V) -
                   (v.begin() + t * V);
        };
        argmax_same += row(ours) == row(ref);
    }
    const double mean = sum / ref.size();
    const double std_ref = std::sqrt(std::max(0.0, sum_sq / ref.size() - mean * mean));
    std::printf("[ arch     ] %-24s max|d| = %.3g  (reference logit std %.3g, argmax %zu/%zu)\n",
                c.name.c_str(), max_d, std_ref, argmax_same, tokens.size());
    RecordProperty("max_abs_diff", std::to_string(max_d));
    EXPECT_LT(max_d, kMaxAbs);
    EXPECT_GT(std_ref, 0.1) << "degenerate logits make the comparison meaningless";
}

INSTANTIATE_TEST_SUITE_P(Synth, ArchTest, ::testing::ValuesIn(arch_cases()),
                         [](const auto& info) { return info.param.name; });

// Copies a GGUF, dropping one tensor and/or renaming the architecture (general.architecture
// and the "<arch>." key prefix).
Status rewrite(const std::string& src, const std::string& dst, const std::string& drop,
               const std::string& arch = "") {
    TK_ASSIGN_OR_RETURN(auto f, formats::GgufFile::open(src));
    const std::string old_prefix =
        std::string(f->get_string("general.architecture").value_or("")) + ".";
    formats::GgufWriter w;
    for (const formats::GgufKV& kv : f->metadata()) {
        if (kv.key == "general.architecture" && !arch.empty()) {
            w.set_string(kv.key, arch);
        } else if (!arch.empty() && kv.key.rfind(old_prefix, 0) == 0) {
            w.set_value(arch + "." + kv.key.substr(old_prefix.size()), kv.value);
        } else {
            w.set_value(kv.key, kv.value);
        }
    }
    for (const formats::GgufTensorInfo& t : f->tensors()) {
        if (t.name == drop) continue;
        std::vector<int64_t> shape(t.view.shape.begin(), t.view.shape.begin() + t.view.n_dims);
        w.add_tensor(t.name, t.view.type, shape, t.view.data);
    }
    return w.write(dst);
}

class ArchErrorTest : public ::testing::Test {
protected:
    // Writes a small model of `arch`, copies it with the changes and loads the copy.
    Status load_modified(const SynthOptions& o, const std::string& drop,
                         const std::string& arch = "") {
        const std::string a = dir_.file("a.gguf"), b = dir_.file("b.gguf");
        TK_RETURN_IF_ERROR(write_synthetic_model(o, a));
        TK_RETURN_IF_ERROR(rewrite(a, b, drop, arch));
        LoadOptions lo;
        lo.n_threads = 1;
        auto m = Model::load(b, lo);
        return m.is_ok() ? Status::ok() : m.status();
    }
    testing::TempDir dir_;
};

TEST_F(ArchErrorTest, UnknownArchitectureListsSupportedOnes) {
    const Status s = load_modified(small("llama"), "", "falcon");
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
    EXPECT_NE(s.message().find("'falcon'"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("gemma, llama, mistral, phi3, qwen2, starcoder2"), std::string::npos)
        << s.message();
}

TEST_F(ArchErrorTest, MissingBiasNamesItAndListsTheBlock) {
    const Status s = load_modified(small("starcoder2"), "blk.1.ffn_up.bias");
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), ErrorCode::kCorruptFile);
    const std::string& msg = s.message();
    EXPECT_NE(msg.find("missing tensor 'blk.1.ffn_up.bias' (expected shape [256])"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("found in blk.1: attn_norm.weight [128]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ffn_up.weight [256, 128]"), std::string::npos) << msg;
}

TEST_F(ArchErrorTest, MissingFusedQkvMentionsBothLayouts) {
    const Status s = load_modified(small("phi3"), "blk.0.attn_qkv.weight");
    ASSERT_FALSE(s.is_ok());
    const std::string& msg = s.message();
    EXPECT_NE(
        msg.find("missing tensor 'blk.0.attn_q.weight' (expected shape [128, 128], or a fused "
                 "'blk.0.attn_qkv.weight' [256, 128])"),
        std::string::npos)
        << msg;
    EXPECT_NE(msg.find("attn_output.weight [128, 128]"), std::string::npos) << msg;
}

TEST_F(ArchErrorTest, MissingGlobalListsTheGlobals) {
    const Status s = load_modified(small("gemma"), "output_norm.weight");
    ASSERT_FALSE(s.is_ok());
    const std::string& msg = s.message();
    EXPECT_NE(msg.find("missing tensor 'output_norm.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("found outside the blocks: token_embd.weight [512, 128]"), std::string::npos)
        << msg;
}

TEST_F(ArchErrorTest, PhiWithUnfusedGateUpIsRefusedByShape) {
    // A llama file relabelled phi3: q/k/v may be separate, but phi3's ffn_up holds gate and up.
    const Status s = load_modified(small("llama"), "", "phi3");
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(
        s.message().find("tensor 'blk.0.ffn_up.weight' has shape [256, 128], expected [512, 128]"),
        std::string::npos)
        << s.message();
}

TEST_F(ArchErrorTest, ExpertsOnlyForMixtralStyleArchitectures) {
    SynthOptions o = small("qwen2");
    o.n_expert = 4;
    o.n_expert_used = 2;
    const Status s = write_synthetic_model(o, dir_.file("x.gguf"));
    EXPECT_FALSE(s.is_ok());
}

}  // namespace
}  // namespace tk::model

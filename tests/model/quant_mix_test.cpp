// The llama-quantize type mix: every tensor type of every shipped llama-quantize file in
// shared/reference/models (manifest.json) from its F32 source, hand-derived expectations of
// llama.cpp's rules for 16/32/80-layer, GQA, 8-expert and falcon models, fallbacks and errors,
// and convert_tensor against ggml_quantize_chunk's bytes (shared/reference/quant).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "formats/gguf.h"
#include "kernels/kernel_table.h"
#include "kernels/quantize.h"
#include "model/quant_mix.h"
#include "testutil/testutil.h"

namespace tk::model {
namespace {

using testing::shared_path;

std::map<std::string, DType> plan_types(const std::vector<MixTensor>& ts, const MixModelInfo& info,
                                        const std::string& preset, const MixOptions& opts = {}) {
    auto p = parse_quant_preset(preset);
    EXPECT_TRUE(p.has_value()) << preset;
    auto plan = plan_quant_mix(ts, info, *p, opts);
    EXPECT_TRUE(plan.is_ok()) << plan.status().to_string();
    std::map<std::string, DType> out;
    if (!plan.is_ok()) return out;
    for (const MixDecision& d : *plan) out[ts[d.index].name] = d.type;
    return out;
}

// A llama-style model as convert_hf_to_gguf writes it (F32 weights).
std::vector<MixTensor> llama_like(int n_layer, int64_t n_embd, int64_t kv_dim, int64_t n_ff,
                                  int64_t n_vocab, bool tied) {
    std::vector<MixTensor> t;
    auto add = [&](std::string name, std::vector<int64_t> shape) {
        t.push_back({std::move(name), DType::kF32, std::move(shape)});
    };
    add("token_embd.weight", {n_vocab, n_embd});
    for (int i = 0; i < n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        add(b + "attn_norm.weight", {n_embd});
        add(b + "attn_q.weight", {n_embd, n_embd});
        add(b + "attn_k.weight", {kv_dim, n_embd});
        add(b + "attn_v.weight", {kv_dim, n_embd});
        add(b + "attn_output.weight", {n_embd, n_embd});
        add(b + "ffn_norm.weight", {n_embd});
        add(b + "ffn_gate.weight", {n_ff, n_embd});
        add(b + "ffn_up.weight", {n_ff, n_embd});
        add(b + "ffn_down.weight", {n_embd, n_ff});
    }
    add("output_norm.weight", {n_embd});
    if (!tied) add("output.weight", {n_vocab, n_embd});
    return t;
}

MixModelInfo info_of(int n_layer, int n_head, int n_head_kv, int n_expert = 0,
                     std::string arch = "llama") {
    MixModelInfo i;
    i.arch = std::move(arch);
    i.n_layer = n_layer;
    i.n_head = n_head;
    i.n_head_kv = n_head_kv;
    i.n_expert = n_expert;
    return i;
}

std::string blk(int i, const char* what) { return "blk." + std::to_string(i) + "." + what; }

TEST(QuantPreset, ParsesNamesAliasesAndNumbers) {
    EXPECT_EQ(parse_quant_preset("q4_k_m")->ftype, FileType::kMostlyQ4_K_M);
    EXPECT_EQ(parse_quant_preset("Q4_K")->name, "Q4_K_M");  // llama-quantize's alias, not pure
    EXPECT_EQ(parse_quant_preset("q3_k")->name, "Q3_K_M");
    EXPECT_EQ(parse_quant_preset("Q5_K")->name, "Q5_K_M");
    EXPECT_EQ(parse_quant_preset("15")->name, "Q4_K_M");
    EXPECT_EQ(parse_quant_preset("0")->name, "F32");
    EXPECT_EQ(parse_quant_preset("bf16")->default_type, DType::kBF16);
    EXPECT_EQ(parse_quant_preset("iq4_xs")->default_type, DType::kIQ4_XS);
    EXPECT_FALSE(parse_quant_preset("Q4_K_X").has_value());
    EXPECT_FALSE(parse_quant_preset("IQ2_XXS").has_value());  // needs an imatrix / not built
    EXPECT_FALSE(parse_quant_preset("").has_value());
    EXPECT_FALSE(parse_quant_preset("99").has_value());
    const std::map<std::string, uint32_t> want = {
        {"F32", 0},     {"F16", 1},     {"Q4_0", 2},    {"Q4_1", 3},    {"Q8_0", 7},
        {"Q5_0", 8},    {"Q5_1", 9},    {"Q2_K", 10},   {"Q3_K_S", 11}, {"Q3_K_M", 12},
        {"Q3_K_L", 13}, {"Q4_K_S", 14}, {"Q4_K_M", 15}, {"Q5_K_S", 16}, {"Q5_K_M", 17},
        {"Q6_K", 18},   {"IQ4_NL", 25}, {"IQ4_XS", 30}, {"BF16", 32}};
    EXPECT_EQ(quant_presets().size(), want.size());
    for (const QuantPreset& p : quant_presets()) {
        EXPECT_EQ(static_cast<uint32_t>(p.ftype), want.at(std::string(p.name))) << p.name;
    }
    const std::string list = quant_preset_list();
    EXPECT_NE(list.find("Q4_K_M"), std::string::npos);
    EXPECT_NE(list.find("IQ4_XS"), std::string::npos);
}

TEST(QuantMix, LlamaTensorOrderSortsByLayerThenName) {
    const std::vector<std::string> names = {"token_embd.weight", "blk.10.attn_q.weight",
                                            "blk.9.ffn_up.weight", "blk.9.attn_k.weight",
                                            "output_norm.weight", "output.weight"};
    std::vector<std::string> sorted;
    for (size_t i : llama_tensor_order(names)) sorted.push_back(names[i]);
    EXPECT_EQ(sorted, (std::vector<std::string>{"output.weight", "output_norm.weight",
                                                "token_embd.weight", "blk.9.attn_k.weight",
                                                "blk.9.ffn_up.weight", "blk.10.attn_q.weight"}));
}

// Every llama-quantize output in the manifest, from the F32 file of its family: same tensor
// order, same type per tensor, same general.file_type.
TEST(QuantMix, ReproducesEveryShippedFile) {
    const nlohmann::json manifest =
        testing::read_json(shared_path("reference/models/manifest.json"));
    int checked = 0;
    for (const auto& f : manifest["files"]) {
        const std::string file = f["file"];
        const std::string family = f["family"];
        std::string variant = file.substr(family.size() + 1);
        variant = variant.substr(0, variant.size() - 5);  // ".gguf"
        if (variant == "F32") continue;
        SCOPED_TRACE(file);
        const bool pure = variant.ends_with("-pure");
        if (pure) variant = variant.substr(0, variant.size() - 5);
        auto src = formats::GgufFile::open(shared_path("reference/models/" + family + "-F32.gguf"));
        ASSERT_TRUE(src.is_ok()) << src.status().to_string();
        auto info = mix_model_info_from_gguf(**src);
        ASSERT_TRUE(info.is_ok()) << info.status().to_string();
        const std::vector<MixTensor> ts = mix_tensors_from_gguf(**src);
        const auto preset = parse_quant_preset(variant);
        ASSERT_TRUE(preset.has_value()) << variant;
        EXPECT_EQ(static_cast<int>(preset->ftype), f["metadata"]["general.file_type"].get<int>());
        MixOptions opts;
        opts.pure = pure;
        auto plan = plan_quant_mix(ts, *info, *preset, opts);
        ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
        const auto& want = f["tensors"];
        ASSERT_EQ(plan->size(), want.size());
        // The F16 file was written by the generator, not llama-quantize: compare by name.
        const bool by_name = variant == "F16";
        std::map<std::string, std::string> want_type;
        for (const auto& w : want) want_type[w[0].get<std::string>()] = w[1].get<std::string>();
        for (size_t i = 0; i < plan->size(); ++i) {
            const MixDecision& d = (*plan)[i];
            const MixTensor& t = ts[d.index];
            if (!by_name) {
                EXPECT_EQ(t.name, want[i][0].get<std::string>()) << "position " << i;
                std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
                EXPECT_EQ(ne, want[i][2].get<std::vector<int64_t>>()) << t.name;
            }
            EXPECT_EQ(std::string(dtype_name(d.type)), want_type.at(t.name)) << t.name;
            EXPECT_FALSE(d.fallback) << t.name;
        }
        ++checked;
    }
    EXPECT_EQ(checked, 27);  // 30 files less the three F32 sources
}

// use_more_bits(i, n): i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
TEST(QuantMix, Q4KMOn32LayersBumpsAttnVAndFfnDownInUseMoreBitsLayers) {
    const auto ts = llama_like(32, 4096, 1024, 14336, 32000, false);
    const auto types = plan_types(ts, info_of(32, 32, 8), "Q4_K_M");
    const std::set<int> more = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    for (int i = 0; i < 32; ++i) {
        const DType bumped = more.count(i) ? DType::kQ6_K : DType::kQ4_K;
        EXPECT_EQ(types.at(blk(i, "attn_v.weight")), bumped) << i;
        EXPECT_EQ(types.at(blk(i, "ffn_down.weight")), bumped) << i;
        for (const char* n : {"attn_q.weight", "attn_k.weight", "attn_output.weight",
                              "ffn_gate.weight", "ffn_up.weight"}) {
            EXPECT_EQ(types.at(blk(i, n)), DType::kQ4_K) << i << n;
        }
        EXPECT_EQ(types.at(blk(i, "attn_norm.weight")), DType::kF32);
        EXPECT_EQ(types.at(blk(i, "ffn_norm.weight")), DType::kF32);
    }
    EXPECT_EQ(types.at("output.weight"), DType::kQ6_K);
    EXPECT_EQ(types.at("token_embd.weight"), DType::kQ4_K);
    EXPECT_EQ(types.at("output_norm.weight"), DType::kF32);
}

TEST(QuantMix, Q5KMOn16Layers) {
    const auto ts = llama_like(16, 2048, 512, 8192, 32000, false);
    const auto types = plan_types(ts, info_of(16, 32, 8), "Q5_K_M");
    const std::set<int> more = {0, 1, 4, 7, 10, 13, 14, 15};
    for (int i = 0; i < 16; ++i) {
        const DType bumped = more.count(i) ? DType::kQ6_K : DType::kQ5_K;
        EXPECT_EQ(types.at(blk(i, "attn_v.weight")), bumped) << i;
        EXPECT_EQ(types.at(blk(i, "ffn_down.weight")), bumped) << i;
        EXPECT_EQ(types.at(blk(i, "attn_output.weight")), DType::kQ5_K) << i;
    }
}

TEST(QuantMix, Q3KMQ4KSAndQ2KOn32Layers) {
    const auto ts = llama_like(32, 4096, 4096, 11008, 32000, false);
    const MixModelInfo mha = info_of(32, 32, 32);  // n_gqa 1
    auto q3m = plan_types(ts, mha, "Q3_K_M");
    auto q4s = plan_types(ts, mha, "Q4_K_S");
    auto q2 = plan_types(ts, mha, "Q2_K");
    auto q3l = plan_types(ts, mha, "Q3_K_L");
    for (int i = 0; i < 32; ++i) {
        // Q3_K_M: the first two attn_v and ffn_down below n_layer/16 get Q5_K, others Q4_K.
        EXPECT_EQ(q3m.at(blk(i, "attn_v.weight")), i < 2 ? DType::kQ5_K : DType::kQ4_K) << i;
        EXPECT_EQ(q3m.at(blk(i, "ffn_down.weight")), i < 2 ? DType::kQ5_K : DType::kQ4_K) << i;
        EXPECT_EQ(q3m.at(blk(i, "attn_output.weight")), DType::kQ4_K);
        EXPECT_EQ(q3m.at(blk(i, "attn_q.weight")), DType::kQ3_K);
        // Q4_K_S: attn_v of the first four, ffn_down below n_layer/8.
        EXPECT_EQ(q4s.at(blk(i, "attn_v.weight")), i < 4 ? DType::kQ5_K : DType::kQ4_K) << i;
        EXPECT_EQ(q4s.at(blk(i, "ffn_down.weight")), i < 4 ? DType::kQ5_K : DType::kQ4_K) << i;
        // Q2_K without GQA: attn_v Q3_K; ffn_down and attn_output Q3_K; rest Q2_K.
        EXPECT_EQ(q2.at(blk(i, "attn_v.weight")), DType::kQ3_K);
        EXPECT_EQ(q2.at(blk(i, "ffn_down.weight")), DType::kQ3_K);
        EXPECT_EQ(q2.at(blk(i, "attn_output.weight")), DType::kQ3_K);
        EXPECT_EQ(q2.at(blk(i, "ffn_up.weight")), DType::kQ2_K);
        EXPECT_EQ(q3l.at(blk(i, "attn_v.weight")), DType::kQ5_K);
        EXPECT_EQ(q3l.at(blk(i, "ffn_down.weight")), DType::kQ5_K);
        EXPECT_EQ(q3l.at(blk(i, "attn_output.weight")), DType::kQ5_K);
    }
    // With GQA 4, Q2_K gives attn_v Q4_K, and the IQ4 mixes Q5_K.
    const MixModelInfo gqa = info_of(32, 32, 8);
    auto q2g = plan_types(ts, gqa, "Q2_K");
    auto iq4 = plan_types(ts, gqa, "IQ4_XS");
    for (int i = 0; i < 32; ++i) {
        EXPECT_EQ(q2g.at(blk(i, "attn_v.weight")), DType::kQ4_K);
        EXPECT_EQ(iq4.at(blk(i, "attn_v.weight")), DType::kQ5_K);
        EXPECT_EQ(iq4.at(blk(i, "ffn_down.weight")), i < 4 ? DType::kQ5_K : DType::kIQ4_XS) << i;
    }
    EXPECT_EQ(iq4.at("output.weight"), DType::kQ6_K);
    EXPECT_EQ(iq4.at("token_embd.weight"), DType::kIQ4_XS);
}

TEST(QuantMix, SeventyBAndEightExpertRules) {
    // Llama-2-70B: 80 layers, 64 heads, 8 KV heads. attn_v Q3_K/Q4_K become Q5_K.
    const auto ts = llama_like(80, 8192, 1024, 28672, 32000, false);
    MixModelInfo info = info_of(80, 64, 8);
    info.is_70b = true;
    auto q3s = plan_types(ts, info, "Q3_K_S");
    auto q4m = plan_types(ts, info, "Q4_K_M");
    for (int i = 0; i < 80; ++i) {
        EXPECT_EQ(q3s.at(blk(i, "attn_v.weight")), DType::kQ5_K);
        const bool more = i < 10 || i >= 70 || (i - 10) % 3 == 2;
        EXPECT_EQ(q4m.at(blk(i, "attn_v.weight")), more ? DType::kQ6_K : DType::kQ5_K) << i;
    }
    // mix_model_info_from_gguf sets is_70b only for 80-layer GQA llama (and qwen2/deci).
    // Eight experts: attn_v and attn_k Q8_0, attn_output Q5_K.
    std::vector<MixTensor> moe;
    for (int i = 0; i < 4; ++i) {
        moe.push_back({blk(i, "attn_v.weight"), DType::kF32, {1024, 4096}});
        moe.push_back({blk(i, "attn_k.weight"), DType::kF32, {1024, 4096}});
        moe.push_back({blk(i, "attn_output.weight"), DType::kF32, {4096, 4096}});
        moe.push_back({blk(i, "ffn_gate_inp.weight"), DType::kF32, {8, 4096}});
        moe.push_back({blk(i, "ffn_down_exps.weight"), DType::kF32, {8, 4096, 14336}});
    }
    auto m = plan_types(moe, info_of(4, 32, 8, 8), "Q4_K_M");
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(m.at(blk(i, "attn_v.weight")), DType::kQ8_0);
        EXPECT_EQ(m.at(blk(i, "attn_k.weight")), DType::kQ8_0);
        EXPECT_EQ(m.at(blk(i, "attn_output.weight")), DType::kQ5_K);
        EXPECT_EQ(m.at(blk(i, "ffn_gate_inp.weight")), DType::kF32);
        // use_more_bits(i, 4): 0 < 0 no, i >= 3, (i - 0) % 3 == 2.
        EXPECT_EQ(m.at(blk(i, "ffn_down_exps.weight")),
                  i == 2 || i == 3 ? DType::kQ6_K : DType::kQ4_K) << i;
    }
    // Experts take their layer from the name: a tensor without one is refused.
    moe.push_back({"ffn_down_exps.weight", DType::kF32, {8, 4096, 14336}});
    auto bad = plan_quant_mix(moe, info_of(4, 32, 8, 8), *parse_quant_preset("Q4_K_M"), {});
    ASSERT_FALSE(bad.is_ok());
    EXPECT_NE(bad.status().message().find("ffn_down_exps.weight"), std::string::npos);
}

TEST(QuantMix, FalconRules) {
    std::vector<MixTensor> ts = {{"token_embd.weight", DType::kF32, {65024, 4544}},
                                 {"output.weight", DType::kF32, {65024, 4544}}};
    for (int i = 0; i < 32; ++i) {
        ts.push_back({blk(i, "attn_qkv.weight"), DType::kF32, {4672, 4544}});
        ts.push_back({blk(i, "ffn_down.weight"), DType::kF32, {4544, 18176}});
    }
    auto q4m = plan_types(ts, info_of(32, 71, 1, 0, "falcon"), "Q4_K_M");
    EXPECT_EQ(q4m.at("output.weight"), DType::kQ8_0);  // falcon's output always Q8_0
    // 4544 = 17.75 * 256: K-quants fall back (Q4_K -> Q5_0, Q6_K -> Q8_0, Q5_K -> Q5_1).
    EXPECT_EQ(q4m.at("token_embd.weight"), DType::kQ5_0);
    for (int i = 0; i < 32; ++i) {
        EXPECT_EQ(q4m.at(blk(i, "attn_qkv.weight")), DType::kQ5_1) << i;  // Q5_K, fallback
        const DType want = i < 2 ? DType::kQ6_K : (i < 4 || i >= 28 || (i - 4) % 3 == 2)
                                                      ? DType::kQ5_K : DType::kQ4_K;
        EXPECT_EQ(q4m.at(blk(i, "ffn_down.weight")), want) << i;  // rows of 18176 = 71 * 256
    }
}

TEST(QuantMix, FallbackForRowsThatDoNotFitSuperBlocks) {
    // Row lengths 96 (3 blocks of 32) and 100 (no block size fits but 1).
    std::vector<MixTensor> ts = {{"token_embd.weight", DType::kF32, {512, 96}},
                                 {"output.weight", DType::kF32, {512, 96}},
                                 {"blk.0.attn_q.weight", DType::kF32, {96, 96}},
                                 {"blk.0.attn_v.weight", DType::kF32, {96, 96}},
                                 {"blk.0.ffn_down.weight", DType::kF32, {96, 100}}};
    const MixModelInfo info = info_of(1, 4, 4);
    auto q4m = plan_types(ts, info, "Q4_K_M");
    EXPECT_EQ(q4m.at("output.weight"), DType::kQ8_0);  // not a multiple of 256: Q8_0, no Q6_K
    EXPECT_EQ(q4m.at("token_embd.weight"), DType::kQ5_0);
    EXPECT_EQ(q4m.at("blk.0.attn_q.weight"), DType::kQ5_0);
    EXPECT_EQ(q4m.at("blk.0.attn_v.weight"), DType::kQ8_0);   // Q6_K (layer 0 of 1) -> Q8_0
    EXPECT_EQ(q4m.at("blk.0.ffn_down.weight"), DType::kF16);  // Q6_K -> Q8_0 -> F16
    auto q2 = plan_types(ts, info, "Q2_K");
    EXPECT_EQ(q2.at("blk.0.attn_q.weight"), DType::kIQ4_NL);
    EXPECT_EQ(q2.at("blk.0.attn_v.weight"), DType::kIQ4_NL);  // Q3_K -> IQ4_NL
    auto q5s = plan_types(ts, info, "Q5_K_S");
    EXPECT_EQ(q5s.at("blk.0.attn_q.weight"), DType::kQ5_1);
    auto xs = plan_types(ts, info, "IQ4_XS");
    EXPECT_EQ(xs.at("blk.0.attn_q.weight"), DType::kIQ4_NL);

    // Legacy types have no fallback: llama.cpp stops, so do we, naming the tensor.
    auto q40 = plan_quant_mix(ts, info, *parse_quant_preset("Q4_0"), {});
    ASSERT_FALSE(q40.is_ok());
    EXPECT_NE(q40.status().message().find("blk.0.ffn_down.weight"), std::string::npos)
        << q40.status().message();
    // --pure skips the mix and its fallbacks: an error names the first tensor that cannot fit.
    MixOptions pure;
    pure.pure = true;
    auto p = plan_quant_mix(ts, info, *parse_quant_preset("Q4_K"), pure);
    ASSERT_FALSE(p.is_ok());
    EXPECT_NE(p.status().message().find("--pure: tensor 'output.weight'"), std::string::npos)
        << p.status().message();
}

TEST(QuantMix, TiedEmbeddingsOverridesAndUnquantizedTensors) {
    auto ts = llama_like(2, 256, 64, 256, 512, /*tied=*/true);
    ts.push_back({"blk.0.attn_q.bias", DType::kF32, {256}});
    ts.push_back({"rope_freqs.weight", DType::kF32, {16}});
    ts.push_back({"blk.1.flat.weight", DType::kF32, {1, 256}});  // ggml_n_dims 1
    ts.push_back({"position_embd.weight", DType::kF32, {512, 256}});
    const MixModelInfo info = info_of(2, 8, 2);
    auto q4 = plan_types(ts, info, "Q4_0");
    EXPECT_EQ(q4.at("token_embd.weight"), DType::kQ6_K);  // tied: quantized like output
    EXPECT_EQ(q4.at("blk.0.attn_q.bias"), DType::kF32);
    EXPECT_EQ(q4.at("rope_freqs.weight"), DType::kF32);
    EXPECT_EQ(q4.at("blk.1.flat.weight"), DType::kF32);
    EXPECT_EQ(q4.at("position_embd.weight"), DType::kF32);
    EXPECT_EQ(q4.at("blk.0.attn_q.weight"), DType::kQ4_0);

    MixOptions o;
    o.output_type = DType::kQ8_0;
    EXPECT_EQ(plan_types(ts, info, "Q4_0", o).at("token_embd.weight"), DType::kQ8_0);
    o.token_embd_type = DType::kQ5_1;  // applied after the mix, so it wins for token_embd
    EXPECT_EQ(plan_types(ts, info, "Q4_0", o).at("token_embd.weight"), DType::kQ5_1);

    // Untied: overrides apply even with --pure and with an unquantized preset.
    auto untied = llama_like(2, 256, 64, 256, 512, false);
    MixOptions po;
    po.pure = true;
    po.output_type = DType::kQ8_0;
    po.token_embd_type = DType::kQ4_K;
    auto pt = plan_types(untied, info, "Q4_1", po);
    EXPECT_EQ(pt.at("output.weight"), DType::kQ8_0);
    EXPECT_EQ(pt.at("token_embd.weight"), DType::kQ4_K);
    EXPECT_EQ(pt.at(blk(1, "ffn_down.weight")), DType::kQ4_1);
    auto f16 = plan_types(untied, info, "F16");
    EXPECT_EQ(f16.at("output.weight"), DType::kF16);
    EXPECT_EQ(f16.at(blk(0, "attn_norm.weight")), DType::kF32);
    MixOptions leave;
    leave.leave_output = true;
    EXPECT_EQ(plan_types(untied, info, "Q4_K_M", leave).at("output.weight"), DType::kF32);
}

TEST(QuantMix, RequantizingNeedsPermission) {
    std::vector<MixTensor> ts = {{"blk.0.attn_q.weight", DType::kQ4_0, {256, 256}},
                                 {"blk.0.attn_k.weight", DType::kQ8_0, {256, 256}},
                                 {"blk.0.attn_norm.weight", DType::kF16, {256}}};
    const MixModelInfo info = info_of(1, 8, 8);
    auto refused = plan_quant_mix(ts, info, *parse_quant_preset("Q8_0"), {});
    ASSERT_FALSE(refused.is_ok());
    EXPECT_NE(refused.status().message().find("blk.0.attn_q.weight"), std::string::npos);
    EXPECT_NE(refused.status().message().find("--allow-requantize"), std::string::npos);
    MixOptions allow;
    allow.allow_requantize = true;
    auto plan = plan_quant_mix(ts, info, *parse_quant_preset("Q8_0"), allow);
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
    for (const MixDecision& d : *plan) {
        const MixTensor& t = ts[d.index];
        // Already Q8_0: copied. Norm: not a matrix, kept in F16.
        EXPECT_EQ(d.convert, t.type == DType::kQ4_0) << t.name;
        EXPECT_EQ(d.type, t.type == DType::kF16 ? DType::kF16 : DType::kQ8_0) << t.name;
    }
}

std::vector<float> read_floats(const std::string& path) {
    const std::vector<uint8_t> b = testing::read_file_bytes(path);
    std::vector<float> f(b.size() / 4);
    std::memcpy(f.data(), b.data(), f.size() * 4);
    return f;
}

TensorView view_of(DType type, const void* data, int64_t rows, int64_t cols) {
    TensorView v;
    v.type = type;
    v.n_dims = 2;
    v.shape = {rows, cols, 1, 1};
    v.data = data;
    v.nbytes = rows * dtype_row_bytes(type, cols);
    return v;
}

// convert_tensor (threaded, in chunks) gives ggml_quantize_chunk's bytes for every type.
TEST(ConvertTensor, MatchesGgmlQuantizeChunkBytes) {
    const std::vector<float> x = read_floats(shared_path("reference/quant/input.f32"));
    ASSERT_EQ(x.size(), 16u * 4096u);
    const TensorView src = view_of(DType::kF32, x.data(), 16, 4096);
    ThreadPool pool(3);
    for (const char* name : {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K",
                             "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"}) {
        SCOPED_TRACE(name);
        const DType t = *dtype_from_name(name);
        const std::vector<uint8_t> want =
            testing::read_file_bytes(shared_path(std::string("reference/quant/") + name + ".bin"));
        std::vector<uint8_t> got(static_cast<size_t>(16 * dtype_row_bytes(t, 4096)));
        ASSERT_TRUE(convert_tensor(src, t, got.data(), &pool).is_ok());
        EXPECT_TRUE(got == want);
        std::vector<uint8_t> single(got.size());
        ASSERT_TRUE(convert_tensor(src, t, single.data(), nullptr).is_ok());
        EXPECT_TRUE(single == got);
    }
}

// Non-F32 sources are dequantized with ggml's to_float first (llama-quantize's path).
TEST(ConvertTensor, DequantizesOtherSourcesFirst) {
    const std::vector<float> x = read_floats(shared_path("reference/quant/input.f32"));
    const TensorView src = view_of(DType::kF32, x.data(), 16, 4096);
    ThreadPool pool(2);
    for (DType from : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K}) {
        std::vector<uint8_t> mid(static_cast<size_t>(16 * dtype_row_bytes(from, 4096)));
        ASSERT_TRUE(convert_tensor(src, from, mid.data(), &pool).is_ok());
        std::vector<float> deq(x.size());
        kernels::kernels_for(kernels::Isa::kRef).of(from).to_float(mid.data(), deq.data(),
                                                                   static_cast<int64_t>(x.size()));
        std::vector<uint8_t> want(static_cast<size_t>(16 * dtype_row_bytes(DType::kQ5_K, 4096)));
        ASSERT_TRUE(
            kernels::quantize_rows(DType::kQ5_K, deq.data(), want.data(), 16, 4096).is_ok());
        std::vector<uint8_t> got(want.size());
        ASSERT_TRUE(convert_tensor(view_of(from, mid.data(), 16, 4096), DType::kQ5_K, got.data(),
                                   &pool).is_ok());
        EXPECT_TRUE(got == want) << dtype_name(from);
        // And back to F32 is the plain dequantization.
        std::vector<float> back(x.size());
        ASSERT_TRUE(convert_tensor(view_of(from, mid.data(), 16, 4096), DType::kF32, back.data(),
                                   &pool).is_ok());
        EXPECT_EQ(0, std::memcmp(back.data(), deq.data(), deq.size() * 4)) << dtype_name(from);
    }
    std::vector<uint8_t> out(16 * 4096);
    EXPECT_FALSE(convert_tensor(view_of(DType::kF32, x.data(), 16 * 4096 / 100, 100),
                                DType::kQ4_0, out.data(), &pool).is_ok());  // 100 % 32 != 0
}

}  // namespace
}  // namespace tk::model

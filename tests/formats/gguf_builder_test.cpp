// GgufBuilder / GgufFile::from_parts: in-memory GGUFs look like read ones (getters, tensor
// table), own their metadata, and refuse inconsistent parts.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "formats/gguf.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

TEST(GgufBuilder, MetadataAndTensorsReadBackLikeAFile) {
    std::vector<float> w(6 * 4);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
    std::vector<float> norm(4, 1.0f);
    GgufBuilder b;
    b.set_string("general.architecture", "llama");
    b.set_u32("llama.block_count", 7);
    b.set_i32("x.neg", -3);
    b.set_u64("x.big", 1ull << 40);
    b.set_f32("x.eps", 1e-5f);
    b.set_bool("x.flag", true);
    {
        // Temporaries: the builder must copy them.
        std::vector<std::string> toks = {"<unk>", "a", std::string(100, 'b')};
        b.set_string_array("tokenizer.ggml.tokens", toks);
        b.set_f32_array("tokenizer.ggml.scores", {0.0f, -1.0f, -2.5f});
        b.set_i32_array("tokenizer.ggml.token_type", {2, 1, 1});
    }
    b.set_u32("llama.block_count", 5);  // replaced, keeps its position
    b.add_tensor("blk.0.attn_q.weight", DType::kF32, {6, 4}, w.data());
    b.add_tensor("blk.0.attn_norm.weight", DType::kF32, {4}, norm.data());
    EXPECT_TRUE(b.has_tensor("blk.0.attn_norm.weight"));
    EXPECT_FALSE(b.has_tensor("nope"));
    auto r = b.build("mem-model", "test", 1234);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& f = **r;
    EXPECT_EQ(f.path(), "mem-model");
    EXPECT_EQ(f.format(), "test");
    EXPECT_EQ(f.file_size(), 1234u);
    EXPECT_EQ(f.file_data(), nullptr);
    ASSERT_EQ(f.metadata().size(), 9u);
    EXPECT_EQ(f.metadata()[1].key, "llama.block_count");
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_int("llama.block_count"), 5);
    EXPECT_EQ(f.get_int("x.neg"), -3);
    EXPECT_EQ(f.get_int("x.big"), 1ll << 40);
    EXPECT_FLOAT_EQ(static_cast<float>(*f.get_float("x.eps")), 1e-5f);
    EXPECT_EQ(f.get_bool("x.flag"), true);
    const auto* toks = f.get_string_array("tokenizer.ggml.tokens");
    ASSERT_NE(toks, nullptr);
    ASSERT_EQ(toks->size(), 3u);
    EXPECT_EQ((*toks)[2], std::string(100, 'b'));
    EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores"), (std::vector<float>{0.0f, -1.0f, -2.5f}));
    EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type"), (std::vector<int64_t>{2, 1, 1}));

    ASSERT_EQ(f.tensors().size(), 2u);
    const GgufTensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->view.n_dims, 2);
    EXPECT_EQ(q->view.shape[0], 6);
    EXPECT_EQ(q->view.shape[1], 4);
    EXPECT_EQ(q->view.nbytes, 96);
    EXPECT_EQ(q->view.data, w.data());  // zero copy
    EXPECT_EQ(q->offset, 0u);
    EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->offset, 96u);  // 32-aligned layout
}

TEST(GgufBuilder, SetValueDeepCopiesFromAnotherFile) {
    GgufBuilder b;
    {
        auto src = GgufFile::open(testing::shared_path("models/gguf/stories260K.gguf"));
        ASSERT_TRUE(src.is_ok());
        for (const GgufKV& kv : (*src)->metadata()) b.set_value(kv.key, kv.value);
    }  // source unmapped here
    auto r = b.build("copy", "test", 0);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    auto again = GgufFile::open(testing::shared_path("models/gguf/stories260K.gguf"));
    ASSERT_TRUE(again.is_ok());
    const GgufFile& c = **r;
    const GgufFile& o = **again;
    ASSERT_EQ(c.metadata().size(), o.metadata().size());
    EXPECT_EQ(*c.get_string_array("tokenizer.ggml.tokens"), *o.get_string_array("tokenizer.ggml.tokens"));
    EXPECT_EQ(c.get_f32_array("tokenizer.ggml.scores"), o.get_f32_array("tokenizer.ggml.scores"));
    EXPECT_EQ(c.get_int_array("tokenizer.ggml.token_type"), o.get_int_array("tokenizer.ggml.token_type"));
    EXPECT_EQ(c.get_float("llama.attention.layer_norm_rms_epsilon"),
              o.get_float("llama.attention.layer_norm_rms_epsilon"));
    EXPECT_EQ(c.get_int("tokenizer.ggml.padding_token_id"), o.get_int("tokenizer.ggml.padding_token_id"));
}

TEST(GgufBuilder, RoundTripsThroughTheWriter) {
    std::vector<uint16_t> h(32 * 3, 0x3c00);  // f16 ones
    GgufBuilder b;
    b.set_string("general.architecture", "llama");
    b.set_string_array("tokenizer.ggml.tokens", {"x", "y"});
    b.add_tensor("t", DType::kF16, {3, 32}, h.data());
    auto r = b.build("rt", "test", 0);
    ASSERT_TRUE(r.is_ok());
    GgufWriter w;
    for (const GgufKV& kv : (*r)->metadata()) w.set_value(kv.key, kv.value);
    for (const GgufTensorInfo& t : (*r)->tensors()) {
        w.add_tensor(t.name, t.view.type, {t.view.shape[0], t.view.shape[1]}, t.view.data);
    }
    testing::TempDir dir;
    ASSERT_TRUE(w.write(dir.file("rt.gguf")).is_ok());
    auto f = GgufFile::open(dir.file("rt.gguf"));
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    EXPECT_EQ((*f)->get_string_array("tokenizer.ggml.tokens")->at(1), "y");
    const GgufTensorInfo* t = (*f)->find_tensor("t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(std::memcmp(t->view.data, h.data(), h.size() * 2), 0);
}

TEST(GgufBuilder, RefusesInconsistentParts) {
    float x[64] = {};
    {
        GgufBuilder b;
        b.add_tensor("a", DType::kF32, {4}, x);
        b.add_tensor("a", DType::kF32, {4}, x);
        auto r = b.build("dup", "test", 0);
        ASSERT_FALSE(r.is_ok());
        EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);
        EXPECT_NE(r.status().message().find("duplicate tensor name 'a'"), std::string::npos);
    }
    {
        GgufBuilder b;
        b.add_tensor("zero", DType::kF32, {0, 4}, x);
        auto r = b.build("m", "test", 0);
        ASSERT_FALSE(r.is_ok());
        EXPECT_NE(r.status().message().find("invalid shape"), std::string::npos);
    }
    {
        GgufBuilder b;
        b.add_tensor("q", DType::kQ8_0, {2, 33}, x);
        auto r = b.build("m", "test", 0);
        ASSERT_FALSE(r.is_ok());
        EXPECT_NE(r.status().message().find("row length 33"), std::string::npos);
    }
    {
        GgufBuilder b;
        b.add_tensor("null", DType::kF32, {4}, nullptr);
        EXPECT_FALSE(b.build("m", "test", 0).is_ok());
    }
    {
        GgufBuilder b;
        b.add_tensor("rank5", DType::kF32, {1, 1, 1, 1, 2}, x);
        EXPECT_FALSE(b.build("m", "test", 0).is_ok());
    }
}

TEST(GgufBuilder, StorageHoldsObjectsAndAlignsBuffers) {
    GgufStorage s;
    auto held = std::make_shared<std::vector<int>>(3, 7);
    std::weak_ptr<std::vector<int>> weak = held;
    s.hold(held);
    held.reset();
    EXPECT_FALSE(weak.expired());
    uint8_t* p = s.alloc(10);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    EXPECT_EQ(p[9], 0);
    EXPECT_EQ(s.copy_string("hello"), "hello");
    EXPECT_EQ(s.owned_bytes(), 15u);
}

}  // namespace
}  // namespace tk::formats

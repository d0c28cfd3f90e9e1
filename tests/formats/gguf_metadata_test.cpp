// Valid byte-built GGUFs: every metadata type and array kind, v2 files, other alignments,
// integer/float tensor types and scalar tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "formats/gguf.h"
#include "formats/gguf_bytes.h"

namespace tk::formats {
namespace {

using testing::Bytes;
namespace t = testing;

std::unique_ptr<GgufFile> parse_ok(const Bytes& b) {
    auto r = GgufFile::parse(b.data(), b.size(), "test.gguf");
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    if (!r.is_ok()) return nullptr;
    return std::move(r).value();
}

TEST(GgufMetadata, EveryScalarType) {
    Bytes b;
    b.header(3, 0, 12);
    b.key("u8", t::kTU8).u8(200);
    b.key("i8", t::kTI8).put<int8_t>(-5);
    b.key("u16", t::kTU16).u16(60000);
    b.key("i16", t::kTI16).put<int16_t>(-30000);
    b.key("u32", t::kTU32).u32(4000000000u);
    b.key("i32", t::kTI32).put<int32_t>(-2000000000);
    b.key("f32", t::kTF32).f32(1.5f);
    b.key("bool", t::kTBool).u8(1);
    b.key("str", t::kTString).str("h\xc3\xa9llo");
    b.key("u64", t::kTU64).u64((uint64_t{1} << 63) + 5);
    b.key("i64", t::kTI64).i64(-(int64_t{1} << 40));
    b.key("f64", t::kTF64).put<double>(0.1);
    auto f = parse_ok(b);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->metadata().size(), 12u);
    EXPECT_EQ(f->metadata()[3].key, "i16");

    EXPECT_EQ(f->get_int("u8"), 200);
    EXPECT_EQ(f->get_int("i8"), -5);
    EXPECT_EQ(f->get_int("u16"), 60000);
    EXPECT_EQ(f->get_int("i16"), -30000);
    EXPECT_EQ(f->get_int("u32"), 4000000000LL);
    EXPECT_EQ(f->get_int("i32"), -2000000000);
    EXPECT_EQ(f->get_float("f32"), 1.5);
    EXPECT_EQ(f->get_bool("bool"), true);
    EXPECT_EQ(f->get_int("bool"), 1);  // bool counts as an integer
    EXPECT_EQ(f->get_string("str"), "h\xc3\xa9llo");
    EXPECT_FALSE(f->get_int("u64"));  // above INT64_MAX: not representable
    EXPECT_EQ(f->find("u64")->u, (uint64_t{1} << 63) + 5);
    EXPECT_EQ(f->find("u64")->type, GgufType::kU64);
    EXPECT_EQ(f->get_int("i64"), -(int64_t{1} << 40));
    EXPECT_EQ(f->get_float("f64"), 0.1);
    EXPECT_EQ(f->get_float("i8"), -5.0);

    // Incompatible types give nullopt.
    EXPECT_FALSE(f->get_int("f32"));
    EXPECT_FALSE(f->get_bool("u8"));
    EXPECT_FALSE(f->get_float("str"));
    EXPECT_FALSE(f->get_float("bool"));
    EXPECT_EQ(f->get_string_array("str"), nullptr);
    EXPECT_STREQ(gguf_type_name(f->find("f64")->type), "f64");
}

TEST(GgufMetadata, EveryArrayType) {
    Bytes b;
    b.header(3, 0, 13);
    b.key("a_u8", t::kTArray).u32(t::kTU8).u64(3).u8(1).u8(2).u8(255);
    b.key("a_i8", t::kTArray).u32(t::kTI8).u64(2).put<int8_t>(-1).put<int8_t>(2);
    b.key("a_u16", t::kTArray).u32(t::kTU16).u64(1).u16(65535);
    b.key("a_i16", t::kTArray).u32(t::kTI16).u64(1).put<int16_t>(-300);
    b.key("a_u32", t::kTArray).u32(t::kTU32).u64(2).u32(7).u32(4000000000u);
    b.key("a_i32", t::kTArray).u32(t::kTI32).u64(2).put<int32_t>(-1).put<int32_t>(7);
    b.key("a_u64", t::kTArray).u32(t::kTU64).u64(2).u64(1).u64(uint64_t{1} << 63);
    b.key("a_i64", t::kTArray).u32(t::kTI64).u64(1).i64(-(int64_t{1} << 50));
    b.key("a_f32", t::kTArray).u32(t::kTF32).u64(2).f32(0.5f).f32(-2.0f);
    b.key("a_f64", t::kTArray).u32(t::kTF64).u64(1).put<double>(0.25);
    b.key("a_bool", t::kTArray).u32(t::kTBool).u64(2).u8(1).u8(0);
    b.key("a_str", t::kTArray).u32(t::kTString).u64(3).str("a").str("").str("ccc");
    b.key("a_empty", t::kTArray).u32(t::kTI32).u64(0);
    auto f = parse_ok(b);
    ASSERT_NE(f, nullptr);

    using V = std::vector<int64_t>;
    EXPECT_EQ(f->get_int_array("a_u8"), (V{1, 2, 255}));
    EXPECT_EQ(f->get_int_array("a_i8"), (V{-1, 2}));
    EXPECT_EQ(f->get_int_array("a_u16"), (V{65535}));
    EXPECT_EQ(f->get_int_array("a_i16"), (V{-300}));
    EXPECT_EQ(f->get_int_array("a_u32"), (V{7, 4000000000LL}));
    EXPECT_EQ(f->get_int_array("a_i32"), (V{-1, 7}));
    EXPECT_FALSE(f->get_int_array("a_u64"));  // 2^63 does not fit int64
    EXPECT_EQ(f->get_int_array("a_i64"), (V{-(int64_t{1} << 50)}));
    EXPECT_EQ(f->get_int_array("a_bool"), (V{1, 0}));
    EXPECT_EQ(f->get_int_array("a_empty"), V{});
    EXPECT_FALSE(f->get_int_array("a_f32"));
    EXPECT_FALSE(f->get_int_array("a_str"));

    using F = std::vector<float>;
    EXPECT_EQ(f->get_f32_array("a_f32"), (F{0.5f, -2.0f}));
    EXPECT_EQ(f->get_f32_array("a_f64"), (F{0.25f}));
    EXPECT_EQ(f->get_f32_array("a_i32"), (F{-1.0f, 7.0f}));
    EXPECT_EQ(f->get_f32_array("a_u64"), (F{1.0f, 9223372036854775808.0f}));
    EXPECT_FALSE(f->get_f32_array("a_str"));
    EXPECT_FALSE(f->get_f32_array("a_bool"));

    const auto* s = f->get_string_array("a_str");
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->size(), 3u);
    EXPECT_EQ((*s)[0], "a");
    EXPECT_EQ((*s)[1], "");
    EXPECT_EQ((*s)[2], "ccc");

    const GgufValue* raw = f->find("a_u16");
    ASSERT_NE(raw, nullptr);
    EXPECT_EQ(raw->type, GgufType::kArray);
    EXPECT_EQ(raw->array_type, GgufType::kU16);
    EXPECT_EQ(raw->array_len, 1u);
    uint16_t x = 0;
    std::memcpy(&x, raw->array_data, 2);
    EXPECT_EQ(x, 65535);
}

TEST(GgufMetadata, Version2File) {
    Bytes b;
    b.header(2, 1, 1);
    b.key("general.architecture", t::kTString).str("llama");
    b.tensor("w", {4, 2}, 0, 0);
    b.pad_to(32);
    for (int k = 0; k < 8; ++k) b.f32(static_cast<float>(k) * 0.5f);
    auto f = parse_ok(b);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version(), 2u);
    const GgufTensorInfo* w = f->find_tensor("w");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->view.shape[0], 2);
    EXPECT_EQ(w->view.shape[1], 4);
    const float* d = static_cast<const float*>(w->view.data);
    EXPECT_EQ(d[7], 3.5f);
}

// Alignments other than 32: the data section and offsets follow general.alignment.
TEST(GgufMetadata, OtherAlignments) {
    for (uint32_t align : {1u, 8u, 64u, 4096u}) {
        SCOPED_TRACE(align);
        Bytes b;
        b.header(3, 2, 1);
        b.key("general.alignment", t::kTU32).u32(align);
        b.tensor("x", {3}, 0, 0);                                // 12 bytes
        const uint64_t y_off = (12 + align - 1) / align * align;  // next aligned offset
        b.tensor("y", {2}, 0, y_off);
        const size_t header_end = b.size();
        b.pad_to(align);
        const size_t data_offset = b.size();
        b.f32(1).f32(2).f32(3);
        b.zeros(y_off - 12);
        b.f32(4).f32(5);
        auto f = parse_ok(b);
        ASSERT_NE(f, nullptr);
        EXPECT_EQ(f->alignment(), align);
        EXPECT_EQ(f->data_offset(), data_offset);
        EXPECT_GE(f->data_offset(), header_end);
        float y[2];  // alignment 1 leaves the data unaligned for float loads
        std::memcpy(y, f->find_tensor("y")->view.data, sizeof(y));
        EXPECT_EQ(y[0], 4.0f);
        EXPECT_EQ(y[1], 5.0f);
    }
    // With alignment 64, an offset that is only 32-aligned is refused.
    Bytes b;
    b.header(3, 1, 1).key("general.alignment", t::kTU32).u32(64);
    b.tensor("x", {4}, 0, 32).pad_to(64).zeros(64);
    auto r = GgufFile::parse(b.data(), b.size(), "test.gguf");
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("not aligned to 64"), std::string::npos);
}

TEST(GgufMetadata, IntegerAndFloatTensorTypesReportedAsIs) {
    struct Case { uint32_t id; DType type; int64_t bytes; };
    const Case cases[] = {{24, DType::kI8, 1},  {25, DType::kI16, 2}, {26, DType::kI32, 4},
                          {27, DType::kI64, 8}, {28, DType::kF64, 8}, {30, DType::kBF16, 2},
                          {1, DType::kF16, 2}};
    Bytes b;
    b.header(3, std::size(cases), 0);
    for (size_t k = 0; k < std::size(cases); ++k) {
        const char name[2] = {'t', static_cast<char>('0' + k)};
        b.tensor(std::string_view(name, 2), {4}, cases[k].id, 32 * k);
    }
    b.pad_to(32).zeros(32 * std::size(cases));
    auto f = parse_ok(b);
    ASSERT_NE(f, nullptr);
    for (size_t k = 0; k < std::size(cases); ++k) {
        const GgufTensorInfo& ti = f->tensors()[k];
        EXPECT_EQ(ti.view.type, cases[k].type);
        EXPECT_EQ(ti.view.nbytes, 4 * cases[k].bytes);
    }
}

TEST(GgufMetadata, ShapesOutermostFirst) {
    Bytes b;
    b.header(3, 2, 0);
    b.tensor("w4", {32, 3, 2, 5}, 8, 0);  // Q8_0: 30 rows of one 34-byte block
    b.tensor("s", {}, 0, 1024);           // n_dims 0: a scalar
    b.pad_to(32).zeros(1024 + 4);
    auto f = parse_ok(b);
    ASSERT_NE(f, nullptr);
    const TensorView& v = f->find_tensor("w4")->view;
    EXPECT_EQ(v.n_dims, 4);
    EXPECT_EQ(v.shape, (std::array<int64_t, 4>{5, 2, 3, 32}));
    EXPECT_EQ(v.nbytes, 30 * 34);
    EXPECT_EQ(v.rows(), 30);
    EXPECT_EQ(v.cols(), 32);
    const TensorView& s = f->find_tensor("s")->view;
    EXPECT_EQ(s.n_dims, 0);
    EXPECT_EQ(s.n_elements(), 1);
    EXPECT_EQ(s.nbytes, 4);
}

TEST(GgufMetadata, VocabOnlyFileMayEndBeforeAlignment) {
    Bytes b;
    b.header(3, 0, 1).key("tokenizer.ggml.model", t::kTString).str("gpt2");
    auto f = parse_ok(b);  // no padding after the metadata
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->tensors().empty());
}

}  // namespace
}  // namespace tk::formats

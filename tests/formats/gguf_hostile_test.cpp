// Hostile GGUF inputs built byte by byte: each must be refused with the right ErrorCode
// and a message that starts with the file name and names the fault; none may crash.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "formats/gguf.h"
#include "formats/gguf_bytes.h"

namespace tk::formats {
namespace {

using testing::Bytes;
namespace t = testing;

constexpr const char* kName = "hostile.gguf";
constexpr uint32_t kF32 = 0, kQ4_0 = 2;

// Parses an exact-size heap copy (so a sanitizer build catches any read past the end)
// and returns only the status: a parsed file would point into the copy.
Status parse_status(const uint8_t* p, size_t n) {
    std::vector<uint8_t> copy(p, p + n);
    auto r = GgufFile::parse(copy.data(), copy.size(), kName);
    if (r.is_ok()) return Status::ok();
    EXPECT_EQ(r.status().message().rfind(std::string(kName) + ": ", 0), 0u)
        << r.status().message();
    return r.status();
}

void expect_error(const Bytes& b, ErrorCode code, const std::string& needle) {
    std::vector<uint8_t> copy(b.data(), b.data() + b.size());
    auto r = GgufFile::parse(copy.data(), copy.size(), kName);
    ASSERT_FALSE(r.is_ok()) << "accepted a file with: " << needle;
    EXPECT_EQ(r.status().code(), code) << r.status().message();
    const std::string& msg = r.status().message();
    EXPECT_EQ(msg.rfind(std::string(kName) + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
}

// A small valid v3 file: two kvs, an F32 [2,4] tensor and a Q4_0 [1,32] tensor; the
// file ends exactly where the last tensor's data ends.
Bytes valid_file() {
    Bytes b;
    b.header(3, 2, 2);
    b.key("general.architecture", t::kTString).str("llama");
    b.key("general.alignment", t::kTU32).u32(32);
    b.tensor("a", {4, 2}, kF32, 0);
    b.tensor("b", {32, 1}, kQ4_0, 32);
    b.pad_to(32);
    for (int k = 0; k < 8; ++k) b.f32(static_cast<float>(k));
    b.zeros(18);
    return b;
}

// One tensor described by the caller, data section of `data_bytes` zeros.
Bytes one_tensor(const std::vector<int64_t>& ne, uint32_t type, uint64_t offset,
                 size_t data_bytes) {
    Bytes b;
    b.header(3, 1, 0);
    b.tensor("t", ne, type, offset);
    b.pad_to(32);
    b.zeros(data_bytes);
    return b;
}

TEST(GgufHostile, ValidBaseFileParses) {
    Bytes b = valid_file();
    auto r = GgufFile::parse(b.data(), b.size(), kName);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r.value()->tensors().size(), 2u);
    EXPECT_EQ(r.value()->find_tensor("b")->view.nbytes, 18);
}

TEST(GgufHostile, EmptyAndNull) {
    expect_error(Bytes(), ErrorCode::kCorruptFile, "truncated file: magic");
    auto r = GgufFile::parse(nullptr, 100, kName);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);
}

TEST(GgufHostile, BadMagic) {
    Bytes b;
    b.raw("GGML").u32(3).u64(0).u64(0);
    expect_error(b, ErrorCode::kCorruptFile, "bad magic");
}

TEST(GgufHostile, Version1Unsupported) {
    Bytes b;
    b.header(1, 0, 0);
    expect_error(b, ErrorCode::kUnsupported, "version 1 is not supported");
}

TEST(GgufHostile, UnknownVersion) {
    Bytes b;
    b.header(4, 0, 0);
    expect_error(b, ErrorCode::kUnsupported, "unknown GGUF version 4");
    Bytes z;
    z.header(0, 0, 0);
    expect_error(z, ErrorCode::kUnsupported, "unknown GGUF version 0");
}

TEST(GgufHostile, BigEndian) {
    Bytes b;
    b.raw("GGUF").u32(0x03000000u).u64(0).u64(0);
    expect_error(b, ErrorCode::kUnsupported, "big-endian");
}

// Every strict prefix of a valid file is refused (it ends exactly at the last tensor).
TEST(GgufHostile, TruncatedAnywhere) {
    Bytes b = valid_file();
    for (size_t n = 0; n < b.size(); ++n) {
        SCOPED_TRACE(n);
        const Status st = parse_status(b.data(), n);
        ASSERT_FALSE(st.is_ok());
        EXPECT_EQ(st.code(), ErrorCode::kCorruptFile);
        const std::string& msg = st.message();
        const bool named = msg.find("truncated") != std::string::npos ||
                           msg.find("remain") != std::string::npos ||
                           msg.find("past the end") != std::string::npos ||
                           msg.find("larger than the file") != std::string::npos;
        EXPECT_TRUE(named) << msg;
    }
}

TEST(GgufHostile, KeyLengthPastEnd) {
    Bytes b;
    b.header(3, 0, 1).u64(uint64_t{1} << 62).raw("general.x").u32(t::kTU8).u8(0);
    expect_error(b, ErrorCode::kCorruptFile, "key of metadata entry 0 has length");
}

TEST(GgufHostile, StringValueLengthPastEnd) {
    Bytes b;
    b.header(3, 0, 1).key("general.name", t::kTString).u64(1000).raw("short");
    expect_error(b, ErrorCode::kCorruptFile, "value of key 'general.name' has length 1000");
}

TEST(GgufHostile, NumericArrayCountPastEnd) {
    Bytes b;
    b.header(3, 0, 1).key("a", t::kTArray).u32(t::kTF32).u64(uint64_t{1} << 61);
    b.zeros(64);
    expect_error(b, ErrorCode::kCorruptFile, "claims 2305843009213693952 elements");
}

TEST(GgufHostile, StringArrayCountPastEnd) {
    Bytes b;
    b.header(3, 0, 1).key("tokenizer.ggml.tokens", t::kTArray).u32(t::kTString);
    b.u64(~uint64_t{0}).str("a").str("b");
    expect_error(b, ErrorCode::kCorruptFile, "claims 18446744073709551615 strings");
}

TEST(GgufHostile, StringArrayElementLengthPastEnd) {
    Bytes b;
    b.header(3, 0, 1).key("tokens", t::kTArray).u32(t::kTString).u64(2);
    b.str("ok").u64(99).raw("x");
    expect_error(b, ErrorCode::kCorruptFile, "value of key 'tokens' element 1 has length 99");
}

TEST(GgufHostile, MetadataCountTooLarge) {
    Bytes b;
    b.header(3, 0, uint64_t{1} << 60).zeros(64);
    expect_error(b, ErrorCode::kCorruptFile, "metadata count");
}

TEST(GgufHostile, TensorCountTooLarge) {
    Bytes b;
    b.header(3, ~uint64_t{0}, 0).zeros(64);
    expect_error(b, ErrorCode::kCorruptFile, "tensor count");
}

TEST(GgufHostile, UnknownMetadataType) {
    Bytes b;
    b.header(3, 0, 1).key("x", 13).u64(0);
    expect_error(b, ErrorCode::kCorruptFile, "key 'x' has unknown metadata type 13");
}

TEST(GgufHostile, UnknownArrayElementType) {
    Bytes b;
    b.header(3, 0, 1).key("x", t::kTArray).u32(77).u64(0);
    expect_error(b, ErrorCode::kCorruptFile, "array of unknown metadata type 77");
}

TEST(GgufHostile, NestedArrayRefused) {
    Bytes b;
    b.header(3, 0, 1).key("x", t::kTArray).u32(t::kTArray).u64(1);
    b.u32(t::kTU8).u64(1).u8(7);
    expect_error(b, ErrorCode::kUnsupported, "nested array");
}

TEST(GgufHostile, DuplicateMetadataKey) {
    Bytes b;
    b.header(3, 0, 2).key("general.name", t::kTString).str("a");
    b.key("general.name", t::kTString).str("b");
    expect_error(b, ErrorCode::kCorruptFile, "duplicate metadata key 'general.name'");
}

TEST(GgufHostile, InvalidAlignment) {
    for (uint32_t a : {0u, 3u, 48u}) {
        SCOPED_TRACE(a);
        Bytes b;
        b.header(3, 0, 1).key("general.alignment", t::kTU32).u32(a);
        expect_error(b, ErrorCode::kCorruptFile, "invalid general.alignment");
    }
    Bytes f;
    f.header(3, 0, 1).key("general.alignment", t::kTF32).f32(32.0f);
    expect_error(f, ErrorCode::kCorruptFile, "invalid general.alignment");
    Bytes s;
    s.header(3, 0, 1).key("general.alignment", t::kTString).str("32");
    expect_error(s, ErrorCode::kCorruptFile, "invalid general.alignment");
    Bytes big;
    big.header(3, 0, 1).key("general.alignment", t::kTU64).u64(uint64_t{1} << 40);
    expect_error(big, ErrorCode::kCorruptFile, "invalid general.alignment");
}

TEST(GgufHostile, TooManyDims) {
    Bytes b;
    b.header(3, 1, 0).str("t").u32(5);
    for (int k = 0; k < 5; ++k) b.i64(1);
    b.u32(kF32).u64(0).pad_to(32).zeros(4);
    expect_error(b, ErrorCode::kCorruptFile, "tensor 't' has n_dims 5 (max 4)");
    Bytes huge;
    huge.header(3, 1, 0).str("t").u32(0xffffffffu).zeros(64);
    expect_error(huge, ErrorCode::kCorruptFile, "n_dims 4294967295");
}

TEST(GgufHostile, ZeroDimension) {
    expect_error(one_tensor({4, 0}, kF32, 0, 64), ErrorCode::kCorruptFile,
                 "invalid dimension ne[1] = 0");
}

TEST(GgufHostile, NegativeDimension) {
    expect_error(one_tensor({-4, 2}, kF32, 0, 64), ErrorCode::kCorruptFile,
                 "invalid dimension ne[0] = -4");
}

TEST(GgufHostile, ElementCountOverflow) {
    const int64_t big = int64_t{1} << 32;
    expect_error(one_tensor({big, big, big}, kF32, 0, 64), ErrorCode::kCorruptFile,
                 "element count overflows");
}

TEST(GgufHostile, ByteSizeOverflow) {
    // 2^62 F32 elements fit int64 but their 2^64 bytes do not.
    expect_error(one_tensor({int64_t{1} << 31, int64_t{1} << 31}, kF32, 0, 64),
                 ErrorCode::kCorruptFile, "byte size overflows");
}

TEST(GgufHostile, UnknownTensorType) {
    expect_error(one_tensor({4}, 99, 0, 64), ErrorCode::kUnsupported,
                 "tensor 't' has unknown ggml type id 99");
    // Ids 4 and 5 (Q4_2, Q4_3) were removed from ggml.
    expect_error(one_tensor({32}, 4, 0, 64), ErrorCode::kUnsupported, "unknown ggml type id 4");
}

TEST(GgufHostile, RowNotMultipleOfBlock) {
    expect_error(one_tensor({48, 2}, kQ4_0, 0, 128), ErrorCode::kCorruptFile,
                 "row length 48 is not a multiple of the Q4_0 block size 32");
}

TEST(GgufHostile, UnalignedTensorOffset) {
    expect_error(one_tensor({4}, kF32, 4, 64), ErrorCode::kCorruptFile,
                 "data offset 4 is not aligned to 32");
}

TEST(GgufHostile, TensorDataPastEnd) {
    expect_error(one_tensor({64}, kF32, 0, 255), ErrorCode::kCorruptFile,
                 "tensor 't' data (offset 0, 256 bytes) runs past the end");
    // An offset beyond the file, and one so large that offset + size wraps around.
    expect_error(one_tensor({4}, kF32, 1 << 20, 64), ErrorCode::kCorruptFile, "past the end");
    expect_error(one_tensor({4}, kF32, ~uint64_t{31}, 64), ErrorCode::kCorruptFile,
                 "past the end");
}

TEST(GgufHostile, OverlappingTensors) {
    Bytes b;
    b.header(3, 2, 0);
    b.tensor("x", {16}, kF32, 32);  // [32, 96)
    b.tensor("y", {16}, kF32, 64);  // [64, 128)
    b.pad_to(32).zeros(128);
    expect_error(b, ErrorCode::kCorruptFile, "tensor 'x' and tensor 'y' overlap");
}

TEST(GgufHostile, DuplicateTensorName) {
    Bytes b;
    b.header(3, 2, 0);
    b.tensor("w", {8}, kF32, 0);
    b.tensor("w", {8}, kF32, 32);
    b.pad_to(32).zeros(64);
    expect_error(b, ErrorCode::kCorruptFile, "duplicate tensor name 'w'");
}

TEST(GgufHostile, TensorNameLengthPastEnd) {
    Bytes b;
    b.header(3, 1, 0).u64(uint64_t{1} << 40).raw("name").zeros(32);
    expect_error(b, ErrorCode::kCorruptFile, "name of tensor info 0 has length");
}

TEST(GgufHostile, NonUtf8IsAccepted) {
    Bytes b;
    b.header(3, 1, 1).key("k\xff\xfe", t::kTString).str("\xc3\x28 bad");
    b.tensor("t\x80", {4}, kF32, 0).pad_to(32).zeros(16);
    auto r = GgufFile::parse(b.data(), b.size(), kName);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r.value()->get_string("k\xff\xfe"), "\xc3\x28 bad");
    EXPECT_NE(r.value()->find_tensor("t\x80"), nullptr);
}

// Flip every byte of the valid file to a few values: never a crash; errors are named.
TEST(GgufHostile, SingleByteCorruptionNeverCrashes) {
    const Bytes b = valid_file();
    for (size_t i = 0; i < b.size(); ++i) {
        for (uint8_t v : {uint8_t{0}, uint8_t{0x7f}, uint8_t{0xff}}) {
            std::vector<uint8_t> copy(b.data(), b.data() + b.size());
            copy[i] = v;
            const Status st = parse_status(copy.data(), copy.size());
            if (!st.is_ok()) {
                const ErrorCode c = st.code();
                EXPECT_TRUE(c == ErrorCode::kCorruptFile || c == ErrorCode::kUnsupported)
                    << st.message();
            }
        }
    }
}

}  // namespace
}  // namespace tk::formats

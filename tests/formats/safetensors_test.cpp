// SafetensorsFile on the real stories260K checkpoints and on hostile headers.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "formats/safetensors.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

// u64 header length + header text + `data_bytes` bytes of data.
std::vector<uint8_t> st_bytes(const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> b(8 + header.size() + data_bytes, 0);
    const uint64_t n = header.size();
    std::memcpy(b.data(), &n, 8);
    std::memcpy(b.data() + 8, header.data(), header.size());
    return b;
}

Status parse_status(const std::vector<uint8_t>& b) {
    auto r = SafetensorsFile::parse(b.data(), b.size(), "test.safetensors");
    return r.is_ok() ? Status::ok() : r.status();
}

void expect_error(const std::vector<uint8_t>& b, ErrorCode code, const std::string& needle) {
    const Status s = parse_status(b);
    ASSERT_FALSE(s.is_ok()) << "expected an error containing: " << needle;
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_NE(s.message().find("test.safetensors"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(Safetensors, Stories260K) {
    auto r = SafetensorsFile::open(testing::shared_path("models/hf/stories260K/model.safetensors"));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const SafetensorsFile& f = **r;
    EXPECT_EQ(f.tensors().size(), 2u + 5u * 9u);  // embed, norm, 9 per layer; tied lm_head
    const SafetensorsTensor* e = f.find("model.embed_tokens.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dtype, "F32");
    EXPECT_TRUE(e->has_type);
    EXPECT_EQ(e->type, DType::kF32);
    EXPECT_EQ(e->shape, (std::vector<int64_t>{512, 64}));
    EXPECT_EQ(e->nbytes, 512u * 64u * 4u);
    const SafetensorsTensor* k = f.find("model.layers.4.self_attn.k_proj.weight");
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->shape, (std::vector<int64_t>{32, 64}));
    const uint8_t* base = f.mapping()->data();
    EXPECT_GE(k->data, base);
    EXPECT_LE(k->data + k->nbytes, base + f.file_size());
    EXPECT_EQ(f.find("lm_head.weight"), nullptr);

    auto bf = SafetensorsFile::open(testing::shared_path("models/hf/stories260K-bf16/model.safetensors"));
    ASSERT_TRUE(bf.is_ok()) << bf.status().to_string();
    EXPECT_EQ((*bf)->find("model.norm.weight")->type, DType::kBF16);
    EXPECT_EQ((*bf)->find("model.norm.weight")->nbytes, 128u);
}

TEST(Safetensors, MetadataScalarsAndOtherDtypes) {
    const std::string h =
        R"({"__metadata__":{"format":"pt"},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
        R"("i":{"dtype":"I64","shape":[2],"data_offsets":[4,20]},)"
        R"("z":{"dtype":"F16","shape":[0,3],"data_offsets":[20,20]}})";
    const auto b = st_bytes(h, 20);
    auto r = SafetensorsFile::parse(b.data(), b.size(), "m.safetensors");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ((*r)->metadata().at("format"), "pt");
    EXPECT_TRUE((*r)->find("s")->shape.empty());
    EXPECT_FALSE((*r)->find("i")->has_type);
    EXPECT_EQ((*r)->find("z")->nbytes, 0u);
}

TEST(Safetensors, HostileInputs) {
    const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
    EXPECT_TRUE(parse_status(st_bytes("{" + ok_entry + "}", 16)).is_ok());

    expect_error(std::vector<uint8_t>{1, 2, 3}, ErrorCode::kCorruptFile, "no header length");
    {
        auto b = st_bytes("{" + ok_entry + "}", 16);
        const uint64_t huge = 1ull << 40;
        std::memcpy(b.data(), &huge, 8);
        expect_error(b, ErrorCode::kCorruptFile, "runs past the end");
    }
    {
        // Header cut short: the length says more than the file holds.
        auto b = st_bytes("{" + ok_entry + "}", 0);
        b.resize(30);
        expect_error(b, ErrorCode::kCorruptFile, "truncated");
    }
    expect_error(st_bytes("{\"t\": {\"dtype\": ", 0), ErrorCode::kCorruptFile, "not a JSON object");
    expect_error(st_bytes("[1,2]", 0), ErrorCode::kCorruptFile, "not a JSON object");
    expect_error(st_bytes(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4), ErrorCode::kCorruptFile,
                 "dtype");
    expect_error(st_bytes(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 8),
                 ErrorCode::kCorruptFile, "outside the data section");
    expect_error(st_bytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,4]}})", 16),
                 ErrorCode::kCorruptFile, "outside the data section");
    expect_error(st_bytes(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 16),
                 ErrorCode::kCorruptFile, "needs 3 x 4");
    expect_error(st_bytes(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 16),
                 ErrorCode::kCorruptFile, "negative");
    expect_error(st_bytes(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}})", 16),
                 ErrorCode::kCorruptFile, "data_offsets");
    expect_error(st_bytes(R"({"t":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})", 16),
                 ErrorCode::kUnsupported, "unknown dtype 'Q9'");
    expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          16),
                 ErrorCode::kCorruptFile, "overlap");
    expect_error(st_bytes(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],)"
                          R"("data_offsets":[0,4]}})",
                          16),
                 ErrorCode::kCorruptFile, "overflows");
    expect_error(st_bytes(R"({"__metadata__":{"a":1}})", 0), ErrorCode::kCorruptFile, "not a string");
}

}  // namespace
}  // namespace tk::formats

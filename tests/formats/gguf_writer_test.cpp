// GgufWriter: write -> GgufFile -> same metadata (order, types, values) and same bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "formats/gguf.h"

namespace tk::formats {
namespace {

namespace fs = std::filesystem;
const std::string kShared = TK_SHARED_DIR;

class GgufWriterTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("tk_gguf_writer_" + std::to_string(::getpid()) + "_" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    fs::path dir_;
};

std::vector<uint8_t> read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::unique_ptr<GgufFile> open_ok(const std::string& path) {
    auto r = GgufFile::open(path);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    if (!r.is_ok()) return nullptr;
    return std::move(r).value();
}

TEST_F(GgufWriterTest, RoundTripAllSettersAndTensors) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u8("u8", 250);
    w.set_u32("u32", 4000000000u);
    w.set_i32("i32", -7);
    w.set_u64("u64", uint64_t{1} << 40);
    w.set_f32("f32", 0.125f);
    w.set_bool("bool", true);
    w.set_string_array("strs", {"<s>", "", "h\xc3\xa9"});
    w.set_f32_array("f32s", {1.5f, -0.25f});
    w.set_i32_array("i32s", {3, -4, 5});
    w.set_alignment(64);

    std::vector<float> a(6 * 8);
    for (size_t k = 0; k < a.size(); ++k) a[k] = static_cast<float>(k) - 3.0f;
    w.add_tensor("a", DType::kF32, {6, 8}, a.data());
    // Q4_0 [3, 64]: 3 rows of 2 blocks, produced at write time.
    w.add_tensor("q", DType::kQ4_0, {3, 64}, [](uint8_t* dst, size_t n) {
        for (size_t k = 0; k < n; ++k) dst[k] = static_cast<uint8_t>(k * 7 + 1);
        return Status::ok();
    });
    std::vector<uint16_t> h(5, 0x3c00);
    w.add_tensor("h", DType::kF16, {5}, h.data());

    std::vector<std::pair<size_t, size_t>> calls;
    const std::string p = path("rt.gguf");
    Status st = w.write(p, [&](size_t done, size_t total) { calls.emplace_back(done, total); });
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    EXPECT_FALSE(fs::exists(p + ".tmp"));
    EXPECT_EQ(calls, (std::vector<std::pair<size_t, size_t>>{{1, 3}, {2, 3}, {3, 3}}));

    auto f = open_ok(p);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->data_offset() % 64, 0u);
    const std::vector<std::string> keys = {"general.architecture", "u8", "u32", "i32", "u64",
                                           "f32", "bool", "strs", "f32s", "i32s",
                                           "general.alignment"};
    ASSERT_EQ(f->metadata().size(), keys.size());
    for (size_t k = 0; k < keys.size(); ++k) EXPECT_EQ(f->metadata()[k].key, keys[k]);
    EXPECT_EQ(f->get_string("general.architecture"), "llama");
    EXPECT_EQ(f->find("u8")->type, GgufType::kU8);
    EXPECT_EQ(f->get_int("u8"), 250);
    EXPECT_EQ(f->find("u32")->type, GgufType::kU32);
    EXPECT_EQ(f->get_int("u32"), 4000000000LL);
    EXPECT_EQ(f->get_int("i32"), -7);
    EXPECT_EQ(f->find("u64")->type, GgufType::kU64);
    EXPECT_EQ(f->get_int("u64"), int64_t{1} << 40);
    EXPECT_EQ(f->get_float("f32"), 0.125);
    EXPECT_EQ(f->get_bool("bool"), true);
    const auto* strs = f->get_string_array("strs");
    ASSERT_NE(strs, nullptr);
    EXPECT_EQ(*strs, (std::vector<std::string_view>{"<s>", "", "h\xc3\xa9"}));
    EXPECT_EQ(f->get_f32_array("f32s"), (std::vector<float>{1.5f, -0.25f}));
    EXPECT_EQ(f->get_int_array("i32s"), (std::vector<int64_t>{3, -4, 5}));
    EXPECT_EQ(f->find("general.alignment")->type, GgufType::kU32);

    ASSERT_EQ(f->tensors().size(), 3u);
    const GgufTensorInfo& ta = f->tensors()[0];
    EXPECT_EQ(ta.name, "a");
    EXPECT_EQ(ta.view.shape[0], 6);
    EXPECT_EQ(ta.view.shape[1], 8);
    ASSERT_EQ(ta.view.nbytes, static_cast<int64_t>(a.size() * 4));
    EXPECT_EQ(std::memcmp(ta.view.data, a.data(), a.size() * 4), 0);
    const GgufTensorInfo& tq = f->tensors()[1];
    EXPECT_EQ(tq.view.type, DType::kQ4_0);
    EXPECT_EQ(tq.view.shape[0], 3);
    EXPECT_EQ(tq.view.shape[1], 64);
    ASSERT_EQ(tq.view.nbytes, 3 * 2 * 18);
    EXPECT_EQ(tq.offset % 64, 0u);
    const uint8_t* qd = static_cast<const uint8_t*>(tq.view.data);
    for (int k = 0; k < 108; ++k) ASSERT_EQ(qd[k], static_cast<uint8_t>(k * 7 + 1));
    const GgufTensorInfo& th = f->tensors()[2];
    EXPECT_EQ(th.view.n_dims, 1);
    EXPECT_EQ(std::memcmp(th.view.data, h.data(), 10), 0);
    // Each tensor is padded to the alignment, the last one included.
    EXPECT_EQ(f->file_size(), f->data_offset() + th.offset + 64);
}

TEST_F(GgufWriterTest, ReplaceKeepsPositionAndRemove) {
    GgufWriter w;
    w.set_u32("a", 1);
    w.set_u32("b", 2);
    w.set_u32("c", 3);
    w.set_string("a", "now a string");
    w.remove("b");
    w.remove("missing");
    ASSERT_TRUE(w.write(path("r.gguf")).is_ok());
    auto f = open_ok(path("r.gguf"));
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->metadata().size(), 2u);
    EXPECT_EQ(f->metadata()[0].key, "a");
    EXPECT_EQ(f->get_string("a"), "now a string");
    EXPECT_EQ(f->metadata()[1].key, "c");
}

// Copying stories260K through set_value + add_tensor(data) reproduces its bytes exactly:
// gguf-py wrote it with the same layout (alignment 32, every tensor padded).
TEST_F(GgufWriterTest, CopyOfStories260KIsByteIdentical) {
    const std::string src = kShared + "/models/gguf/stories260K.gguf";
    auto in = open_ok(src);
    ASSERT_NE(in, nullptr);
    GgufWriter w;
    for (const GgufKV& kv : in->metadata()) w.set_value(kv.key, kv.value);
    for (const GgufTensorInfo& t : in->tensors()) {
        std::vector<int64_t> shape(t.view.shape.begin(), t.view.shape.begin() + t.view.n_dims);
        w.add_tensor(t.name, t.view.type, shape, t.view.data);
    }
    const std::string out = path("copy.gguf");
    ASSERT_TRUE(w.write(out).is_ok());
    EXPECT_EQ(read_all(out), read_all(src));
}

// set_value on every value kind of a byte-built file (all scalar and array types).
TEST_F(GgufWriterTest, SetValueCopiesEveryKind) {
    GgufWriter w0;
    w0.set_u8("u8", 9);
    w0.set_i32("i32", -9);
    w0.set_u64("u64", ~uint64_t{0});
    w0.set_f32("f32", -1.25f);
    w0.set_bool("b", false);
    w0.set_string("s", "x");
    w0.set_string_array("sa", {"p", "q"});
    w0.set_f32_array("fa", {2.0f});
    w0.set_i32_array("ia", {});
    ASSERT_TRUE(w0.write(path("src.gguf")).is_ok());
    auto a = open_ok(path("src.gguf"));
    ASSERT_NE(a, nullptr);

    GgufWriter w1;
    for (const GgufKV& kv : a->metadata()) w1.set_value(kv.key, kv.value);
    ASSERT_TRUE(w1.write(path("dst.gguf")).is_ok());
    EXPECT_EQ(read_all(path("src.gguf")), read_all(path("dst.gguf")));
    auto b = open_ok(path("dst.gguf"));
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->find("u64")->u, ~uint64_t{0});
    EXPECT_EQ(b->get_bool("b"), false);
    EXPECT_EQ(b->get_int_array("ia"), std::vector<int64_t>{});
}

TEST_F(GgufWriterTest, SetValueOfAlignmentChangesPadding) {
    GgufValue v;
    v.type = GgufType::kU32;
    v.u = 128;
    v.i = 128;
    GgufWriter w;
    w.set_value("general.alignment", v);
    std::vector<float> x(3, 1.0f);
    w.add_tensor("x", DType::kF32, {3}, x.data());
    w.add_tensor("y", DType::kF32, {3}, x.data());
    ASSERT_TRUE(w.write(path("a.gguf")).is_ok());
    auto f = open_ok(path("a.gguf"));
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->alignment(), 128u);
    EXPECT_EQ(f->find_tensor("y")->offset, 128u);
}

TEST_F(GgufWriterTest, FailingFillLeavesNoFile) {
    const std::string p = path("fail.gguf");
    {
        std::ofstream old(p);  // an older file under the final name must survive
        old << "old";
    }
    GgufWriter w;
    std::vector<float> x(32, 0.0f);
    w.add_tensor("ok", DType::kF32, {32}, x.data());
    w.add_tensor("bad", DType::kQ8_0, {32}, [](uint8_t*, size_t) {
        return make_error(ErrorCode::kInternal, "quantizer exploded");
    });
    Status st = w.write(p);
    ASSERT_FALSE(st.is_ok());
    EXPECT_EQ(st.code(), ErrorCode::kInternal);
    EXPECT_NE(st.message().find("tensor 'bad': quantizer exploded"), std::string::npos);
    EXPECT_FALSE(fs::exists(p + ".tmp"));
    EXPECT_EQ(read_all(p), (std::vector<uint8_t>{'o', 'l', 'd'}));
}

TEST_F(GgufWriterTest, InvalidTensorsRefusedBeforeWriting) {
    std::vector<uint8_t> buf(1024);
    auto expect_invalid = [&](GgufWriter& w, const std::string& needle) {
        const std::string p = path("bad.gguf");
        Status st = w.write(p);
        ASSERT_FALSE(st.is_ok());
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
        EXPECT_FALSE(fs::exists(p));
        EXPECT_FALSE(fs::exists(p + ".tmp"));
    };
    {
        GgufWriter w;
        w.add_tensor("q", DType::kQ4_K, {2, 128}, buf.data());
        expect_invalid(w, "row length 128 is not a multiple of the Q4_K block size 256");
    }
    {
        GgufWriter w;
        w.add_tensor("d", DType::kF32, {2}, buf.data());
        w.add_tensor("d", DType::kF32, {2}, buf.data());
        expect_invalid(w, "duplicate tensor 'd'");
    }
    {
        GgufWriter w;
        w.add_tensor("z", DType::kF32, {0, 2}, buf.data());
        expect_invalid(w, "non-positive dimension");
    }
    {
        GgufWriter w;
        w.add_tensor("five", DType::kF32, {1, 1, 1, 1, 1}, buf.data());
        expect_invalid(w, "more than 4 dimensions");
    }
    {
        GgufWriter w;
        w.add_tensor(std::string(64, 'n'), DType::kF32, {1}, buf.data());
        expect_invalid(w, "longer than 63 bytes");
    }
    {
        GgufWriter w;
        w.add_tensor("none", DType::kF32, {1}, static_cast<const void*>(nullptr));
        expect_invalid(w, "neither data nor fill");
    }
}

TEST_F(GgufWriterTest, UnwritableDirectoryIsIoError) {
    GgufWriter w;
    Status st = w.write(path("no/such/dir/x.gguf"));
    ASSERT_FALSE(st.is_ok());
    EXPECT_EQ(st.code(), ErrorCode::kIo);
    EXPECT_NE(st.message().find("x.gguf.tmp"), std::string::npos);
}

TEST_F(GgufWriterTest, EmptyFileRoundTrips) {
    GgufWriter w;
    ASSERT_TRUE(w.write(path("e.gguf")).is_ok());
    auto f = open_ok(path("e.gguf"));
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->metadata().empty());
    EXPECT_TRUE(f->tensors().empty());
}

}  // namespace
}  // namespace tk::formats

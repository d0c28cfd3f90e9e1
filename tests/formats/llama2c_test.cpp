// llama2.c checkpoints and tokenizer.bin: stories260K.bin + tok512.bin must equal the ggml-org
// stories260K.gguf tensor for tensor and token for token; broken headers give clear errors.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "formats/model_file.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

std::string shared(const std::string& rel) { return testing::shared_path(rel); }

void write_file(const std::string& path, const std::vector<uint8_t>& b) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<uint8_t> header(std::vector<int32_t> h, size_t extra_bytes = 0) {
    std::vector<uint8_t> b(h.size() * 4 + extra_bytes, 0);
    std::memcpy(b.data(), h.data(), h.size() * 4);
    return b;
}

TEST(Llama2c, Stories260KEqualsTheGguf) {
    OpenModelOptions o;
    o.tokenizer_path = shared("models/llama2c/tok512.bin");
    auto r = open_model(shared("models/llama2c/stories260K.bin"), o);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& m = **r;
    auto g = GgufFile::open(shared("models/gguf/stories260K.gguf"));
    ASSERT_TRUE(g.is_ok());
    const GgufFile& ref = **g;

    EXPECT_EQ(m.format(), "llama2.c");
    EXPECT_EQ(m.get_string("general.architecture"), "llama");
    for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                            "llama.attention.head_count", "llama.attention.head_count_kv",
                            "llama.rope.dimension_count", "tokenizer.ggml.bos_token_id",
                            "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"}) {
        EXPECT_EQ(m.get_int(key), ref.get_int(key)) << key;
    }
    EXPECT_EQ(m.get_int("llama.context_length"), 512);  // seq_len (the GGUF says 2048)
    EXPECT_EQ(m.get_float("llama.attention.layer_norm_rms_epsilon"),
              ref.get_float("llama.attention.layer_norm_rms_epsilon"));
    EXPECT_EQ(m.get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(*m.get_string_array("tokenizer.ggml.tokens"), *ref.get_string_array("tokenizer.ggml.tokens"));
    EXPECT_EQ(m.get_f32_array("tokenizer.ggml.scores"), ref.get_f32_array("tokenizer.ggml.scores"));
    EXPECT_EQ(m.get_int_array("tokenizer.ggml.token_type"), ref.get_int_array("tokenizer.ggml.token_type"));

    // Shared classifier: no output.weight (the GGUF carries an explicit copy of token_embd).
    EXPECT_EQ(m.find_tensor("output.weight"), nullptr);
    EXPECT_EQ(m.tensors().size(), ref.tensors().size() - 1);
    for (const GgufTensorInfo& t : m.tensors()) {
        const GgufTensorInfo* u = ref.find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        EXPECT_EQ(shape_to_string(t.view), shape_to_string(u->view)) << t.name;
        ASSERT_EQ(t.view.nbytes, u->view.nbytes) << t.name;
        EXPECT_EQ(std::memcmp(t.view.data, u->view.data, static_cast<size_t>(t.view.nbytes)), 0) << t.name;
    }
    EXPECT_EQ(std::memcmp(ref.find_tensor("output.weight")->view.data,
                          m.find_tensor("token_embd.weight")->view.data, 512 * 64 * 4),
              0);
}

TEST(Llama2c, OtherCheckpointsLoad) {
    OpenModelOptions o;
    o.tokenizer_path = shared("models/llama2c/tok512.bin");
    auto xs = open_model(shared("models/llama2c/llama2xs-stories-d64.bin"), o);
    ASSERT_TRUE(xs.is_ok()) << xs.status().to_string();
    EXPECT_EQ((*xs)->get_int("llama.feed_forward_length"), 192);
    EXPECT_EQ((*xs)->get_int("llama.context_length"), 256);
    o.tokenizer_path = shared("models/llama2c/aidreams_tok512.bin");
    auto ai = open_model(shared("models/llama2c/aidreams260K.bin"), o);
    ASSERT_TRUE(ai.is_ok()) << ai.status().to_string();
    EXPECT_EQ((*ai)->get_int("llama.attention.head_count_kv"), 4);
    // A GGUF can provide the vocabulary too.
    o.tokenizer_path = shared("models/gguf/stories260K.gguf");
    auto g = open_model(shared("models/llama2c/stories260K.bin"), o);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    EXPECT_EQ((*g)->get_string_array("tokenizer.ggml.tokens")->size(), 512u);
}

TEST(Llama2c, DetectsTheFormat) {
    auto f = detect_model_format(shared("models/llama2c/stories260K.bin"));
    ASSERT_TRUE(f.is_ok());
    EXPECT_EQ(*f, ModelFormat::kLlama2c);
    auto bytes = testing::read_file_bytes(shared("models/llama2c/stories260K.bin"));
    EXPECT_TRUE(looks_like_llama2c(bytes.data(), bytes.size()));
    EXPECT_FALSE(looks_like_llama2c(bytes.data(), bytes.size() - 4));
}

TEST(Llama2c, TokenizerIsRequiredAndMustMatch) {
    auto none = open_model(shared("models/llama2c/stories260K.bin"));
    ASSERT_FALSE(none.is_ok());
    EXPECT_EQ(none.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(none.status().message().find("--tokenizer"), std::string::npos);

    OpenModelOptions o;
    o.tokenizer_path = shared("models/tokenizers/llama2/tokenizer.bin");  // 32000 tokens
    auto big = open_model(shared("models/llama2c/stories260K.bin"), o);
    ASSERT_FALSE(big.is_ok());
    EXPECT_NE(big.status().message().find("wrong tokenizer"), std::string::npos)
        << big.status().message();

    testing::TempDir dir;
    auto tok = testing::read_file_bytes(shared("models/llama2c/tok512.bin"));
    tok.resize(tok.size() - 3);
    write_file(dir.file("cut.bin"), tok);
    o.tokenizer_path = dir.file("cut.bin");
    auto cut = open_model(shared("models/llama2c/stories260K.bin"), o);
    ASSERT_FALSE(cut.is_ok());
    EXPECT_NE(cut.status().message().find("cut.bin"), std::string::npos);

    // A token length beyond max_token_length.
    auto bad = testing::read_file_bytes(shared("models/llama2c/tok512.bin"));
    const int32_t huge = 1 << 30;
    std::memcpy(bad.data() + 4 + 4, &huge, 4);
    write_file(dir.file("bad.bin"), bad);
    o.tokenizer_path = dir.file("bad.bin");
    auto b = open_model(shared("models/llama2c/stories260K.bin"), o);
    ASSERT_FALSE(b.is_ok());
    EXPECT_NE(b.status().message().find("token 0 has length"), std::string::npos) << b.status().message();

    // Read to the end when no count is known.
    auto vocab = open_tokenizer(shared("models/tokenizers/llama2/tokenizer.bin"));
    ASSERT_TRUE(vocab.is_ok()) << vocab.status().to_string();
    EXPECT_EQ((*vocab)->get_string_array("tokenizer.ggml.tokens")->size(), 32000u);
}

TEST(Llama2c, HostileHeaders) {
    testing::TempDir dir;
    OpenModelOptions o;
    o.tokenizer_path = shared("models/llama2c/tok512.bin");
    auto expect = [&](const std::vector<uint8_t>& bytes, ErrorCode code, const std::string& needle) {
        write_file(dir.file("m.bin"), bytes);
        auto r = open_model(dir.file("m.bin"), o);
        ASSERT_FALSE(r.is_ok()) << needle;
        EXPECT_EQ(r.status().code(), code) << r.status().to_string();
        EXPECT_NE(r.status().message().find("m.bin"), std::string::npos) << r.status().message();
        EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
    };
    expect(header({1 << 30, 1 << 30, 1 << 20, 8, 4, 512, 1 << 30}), ErrorCode::kCorruptFile,
           "implausibly large");
    expect(header({64, 172, 5, 8, 4, -(1 << 30), 512}), ErrorCode::kCorruptFile, "implausibly large");
    expect(header({64, 172, 5, 0, 4, 512, 512}), ErrorCode::kCorruptFile, "zero or negative");
    expect(header({64, 172, 5, 7, 4, 512, 512}), ErrorCode::kCorruptFile, "do not divide");
    expect(header({64, 172, 5, 8, 4, 512, 512}, 100), ErrorCode::kCorruptFile, "needs 1056540 bytes");
    expect({1, 2, 3}, ErrorCode::kCorruptFile, "truncated");
    expect(header({0x616b3432, 1, 64, 172, 5, 8, 4}), ErrorCode::kUnsupported, "versions 1/2");
    // The real file with its last float cut off.
    auto cut = testing::read_file_bytes(shared("models/llama2c/stories260K.bin"));
    cut.resize(cut.size() - 4);
    expect(cut, ErrorCode::kCorruptFile, "the file has 1056536");
}

}  // namespace
}  // namespace tk::formats

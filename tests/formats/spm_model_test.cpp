// SentencePiece tokenizer.model (ModelProto) -> GGUF vocabulary: the Llama-2 model gives exactly
// llama.cpp's ggml-vocab-llama-spm.gguf (tokens, scores, types, special ids); Mistral's v1 model
// the same pieces as its tokenizer.json; v3 its control tokens; damaged bytes give errors that
// name the file, the message and the byte offset.
#include "formats/spm_model.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "formats/gguf.h"
#include "formats/model_file.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

std::string shared(const std::string& rel) { return testing::shared_path(rel); }

std::vector<float> f32_array(const GgufFile& f, const char* key) {
    const GgufValue* v = f.find(key);
    std::vector<float> out(v ? v->array_len : 0);
    if (v) std::memcpy(out.data(), v->array_data, out.size() * sizeof(float));
    return out;
}

std::vector<int32_t> i32_array(const GgufFile& f, const char* key) {
    const GgufValue* v = f.find(key);
    std::vector<int32_t> out(v ? v->array_len : 0);
    if (v) std::memcpy(out.data(), v->array_data, out.size() * sizeof(int32_t));
    return out;
}

TEST(SpmModelTest, Llama2MatchesLlamaCppVocab) {
    auto ours = open_tokenizer(shared("models/tokenizers/llama2/tokenizer.model"));
    ASSERT_TRUE(ours.is_ok()) << ours.status().to_string();
    auto ref = GgufFile::open(shared("models/vocab/ggml-vocab-llama-spm.gguf"));
    ASSERT_TRUE(ref.is_ok()) << ref.status().to_string();
    const GgufFile& a = **ours;
    const GgufFile& b = **ref;
    const GgufValue* ta = a.find("tokenizer.ggml.tokens");
    const GgufValue* tb = b.find("tokenizer.ggml.tokens");
    ASSERT_NE(ta, nullptr);
    ASSERT_EQ(ta->strings.size(), 32000u);
    ASSERT_EQ(ta->strings.size(), tb->strings.size());
    size_t differ = 0;
    for (size_t i = 0; i < ta->strings.size(); ++i) differ += ta->strings[i] != tb->strings[i];
    EXPECT_EQ(differ, 0u);
    EXPECT_EQ(f32_array(a, "tokenizer.ggml.scores"), f32_array(b, "tokenizer.ggml.scores"));
    EXPECT_EQ(i32_array(a, "tokenizer.ggml.token_type"), i32_array(b, "tokenizer.ggml.token_type"));
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                            "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                            "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"}) {
        EXPECT_EQ(a.get_int(key), b.get_int(key)) << key;
    }
    EXPECT_EQ(a.get_string("tokenizer.ggml.model"), b.get_string("tokenizer.ggml.model"));
}

TEST(SpmModelTest, MistralV1PiecesEqualItsTokenizerJson) {
    auto spm = open_tokenizer(shared("models/tokenizers/mistral/tokenizer.model.v1"));
    ASSERT_TRUE(spm.is_ok()) << spm.status().to_string();
    auto json = open_tokenizer(shared("models/tokenizers/mistral/tokenizer.json"));
    ASSERT_TRUE(json.is_ok()) << json.status().to_string();
    const GgufValue* ta = (*spm)->find("tokenizer.ggml.tokens");
    const GgufValue* tb = (*json)->find("tokenizer.ggml.tokens");
    ASSERT_EQ(ta->strings.size(), 32000u);
    ASSERT_EQ(tb->strings.size(), 32000u);
    for (size_t i = 0; i < ta->strings.size(); ++i) ASSERT_EQ(ta->strings[i], tb->strings[i]) << i;
    EXPECT_EQ(i32_array(**spm, "tokenizer.ggml.token_type"),
              i32_array(**json, "tokenizer.ggml.token_type"));
}

TEST(SpmModelTest, MistralV3ControlTokens) {
    const auto bytes =
        testing::read_file_bytes(shared("models/tokenizers/mistral/tokenizer.model.v3"));
    ASSERT_TRUE(looks_like_spm_model(bytes.data(), bytes.size()));
    auto m = parse_spm_model(bytes.data(), bytes.size(), "v3");
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    ASSERT_EQ(m->pieces.size(), 32768u);
    EXPECT_EQ(m->model_type, 2);
    EXPECT_TRUE(m->byte_fallback);
    EXPECT_EQ(m->unk_id, 0);
    EXPECT_EQ(m->bos_id, 1);
    EXPECT_EQ(m->eos_id, 2);
    EXPECT_EQ(m->pad_id, -1);
    EXPECT_TRUE(m->add_dummy_prefix);
    EXPECT_EQ(m->pieces[3].piece, "[INST]");
    EXPECT_EQ(m->pieces[3].type, 3);
    EXPECT_EQ(m->pieces[4].piece, "[/INST]");
}

TEST(SpmModelTest, Llama2cTokenizerIsNotTakenForOne) {
    for (const char* f : {"models/llama2c/tok512.bin", "models/llama2c/aidreams_tok512.bin",
                          "models/tokenizers/llama2/tokenizer.bin"}) {
        const auto bytes = testing::read_file_bytes(shared(f));
        EXPECT_FALSE(looks_like_spm_model(bytes.data(), bytes.size())) << f;
    }
}

TEST(SpmModelTest, DamagedBytesAreReportedNotCrashedOn) {
    const auto good = testing::read_file_bytes(shared("models/tokenizers/llama2/tokenizer.model"));
    // Every truncation point in the first 4 KiB and some later ones: an error or (on a
    // message boundary) a shorter model, never a crash.
    for (size_t n = 0; n < good.size(); n += n < 4096 ? 1 : 9973) {
        auto r = parse_spm_model(good.data(), n, "cut.model");
        if (!r.is_ok()) {
            EXPECT_NE(r.status().message().find("cut.model"), std::string::npos);
        }
    }
    auto cut = parse_spm_model(good.data(), 1000, "cut.model");
    ASSERT_FALSE(cut.is_ok());
    EXPECT_EQ(cut.status().code(), ErrorCode::kCorruptFile);
    EXPECT_NE(cut.status().message().find("cut.model: ModelProto at byte"), std::string::npos)
        << cut.status().message();
    // A length that points past the end.
    std::vector<uint8_t> bad = {0x0a, 0xff, 0xff, 0x03, 0x0a, 0x01, 'a'};
    auto r = parse_spm_model(bad.data(), bad.size(), "bad.model");
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("runs past the end"), std::string::npos)
        << r.status().message();
    // A varint that never ends.
    std::vector<uint8_t> endless(20, 0xff);
    EXPECT_FALSE(parse_spm_model(endless.data(), endless.size(), "x").is_ok());
    // Field types checked: a piece type out of range.
    std::vector<uint8_t> typ = {0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x09, 0x12, 0x00};
    auto t = parse_spm_model(typ.data(), typ.size(), "t.model");
    ASSERT_FALSE(t.is_ok());
    EXPECT_NE(t.status().message().find("piece type 9"), std::string::npos) << t.status().message();
    // No trainer_spec / no pieces.
    std::vector<uint8_t> only_piece = {0x0a, 0x03, 0x0a, 0x01, 'a'};
    EXPECT_FALSE(parse_spm_model(only_piece.data(), only_piece.size(), "p").is_ok());
    // Special ids outside the vocabulary.
    // trainer_spec { bos_id (field 41, tag 0x148 = c8 02) = 7 }
    std::vector<uint8_t> bos = {0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x03, 0xc8, 0x02, 0x07};
    auto b = parse_spm_model(bos.data(), bos.size(), "b.model");
    ASSERT_FALSE(b.is_ok());
    EXPECT_NE(b.status().message().find("trainer_spec.bos_id 7"), std::string::npos)
        << b.status().message();
}

TEST(SpmModelTest, FolderWithOnlyTokenizerModel) {
    testing::TempDir dir;
    std::filesystem::copy_file(shared("models/tokenizers/llama2/tokenizer.model"),
                               dir.file("tokenizer.model"));
    std::ofstream(dir.file("tokenizer_config.json"))
        << R"({"add_bos_token": true, "add_eos_token": false, "chat_template": "{{ x }}",
              "added_tokens_decoder": {"32000": {"content": "<|end|>", "special": true},
                                       "32001": {"content": "<|user|>", "special": false}}})";
    auto f = open_tokenizer(dir.path());
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    const GgufValue* t = (*f)->find("tokenizer.ggml.tokens");
    ASSERT_EQ(t->strings.size(), 32002u);
    EXPECT_EQ(t->strings[32000], "<|end|>");
    const auto types = i32_array(**f, "tokenizer.ggml.token_type");
    EXPECT_EQ(types[32000], 3);
    EXPECT_EQ(types[32001], 4);
    EXPECT_EQ((*f)->get_string("tokenizer.chat_template"), "{{ x }}");
}

}  // namespace
}  // namespace tk::formats

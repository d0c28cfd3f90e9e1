// tokenizer.json -> tokenizer.ggml.* metadata on the real Llama 3, Qwen3, TinyLlama and Mistral
// tokenizers. (Tokenization itself is checked against llama.cpp's vectors in
// tests/model/formats_model_test.cpp, where the tokenizer module may be linked.)
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/hf_tokenizer.h"
#include "formats/model_file.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

std::string shared(const std::string& rel) { return testing::shared_path(rel); }

std::unique_ptr<GgufFile> vocab(const std::string& path, int64_t vocab_size = 0) {
    GgufBuilder b;
    HfTokenizerOptions o;
    o.vocab_size = vocab_size;
    const Status s = add_hf_tokenizer_files(path, o, b);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    if (!s.is_ok()) return nullptr;
    auto r = b.build(path, "tokenizer", 0);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::move(r).value() : nullptr;
}

int64_t type_of(const GgufFile& f, size_t id) { return f.get_int_array("tokenizer.ggml.token_type")->at(id); }

TEST(HfTokenizer, Llama3ByteLevelBpe) {
    auto f = vocab(shared("models/tokenizers/llama3"));
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), "llama-bpe");
    const auto* toks = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_EQ(toks->size(), 128256u);
    EXPECT_EQ((*toks)[128000], "<|begin_of_text|>");
    EXPECT_EQ(type_of(*f, 128000), 3);  // CONTROL
    EXPECT_EQ(type_of(*f, 128255), 3);
    EXPECT_EQ(type_of(*f, 1000), 1);  // NORMAL
    EXPECT_EQ(f->get_string_array("tokenizer.ggml.merges")->size(), 280147u);
    EXPECT_EQ(f->get_string_array("tokenizer.ggml.merges")->at(0), "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
    EXPECT_EQ(f->find("tokenizer.ggml.scores"), nullptr);
    EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 128000);
    EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), 128001);
    ASSERT_TRUE(f->get_string("tokenizer.chat_template").has_value());
    EXPECT_NE(f->get_string("tokenizer.chat_template")->find("start_header_id"), std::string::npos);
}

TEST(HfTokenizer, Qwen3PaddedToTheModelVocab) {
    auto f = vocab(shared("models/tokenizers/qwen3/tokenizer.json"), 151936);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), "qwen2");
    const auto* toks = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_EQ(toks->size(), 151936u);
    EXPECT_EQ((*toks)[151645], "<|im_end|>");
    EXPECT_EQ((*toks)[151935], "[PAD151935]");
    EXPECT_EQ(type_of(*f, 151935), 5);  // UNUSED
    EXPECT_EQ(type_of(*f, 151663), 3);  // "<|repo_name|>": not flagged special, but looks it
    EXPECT_EQ(type_of(*f, 151667), 4);  // "<think>": USER_DEFINED
    EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), 151645);
    EXPECT_EQ(f->get_int("tokenizer.ggml.padding_token_id"), 151643);
    EXPECT_EQ(f->find("tokenizer.ggml.bos_token_id"), nullptr);
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), false);

    GgufBuilder b;
    HfTokenizerOptions small;
    small.vocab_size = 1000;
    const Status s = add_hf_tokenizer_files(shared("models/tokenizers/qwen3"), small, b);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("vocab_size 1000"), std::string::npos) << s.message();
}

// The SentencePiece-derived tokenizer.json of TinyLlama holds the Llama-2 vocabulary: tokens and
// types must equal llama.cpp's GGUF made from tokenizer.model.
TEST(HfTokenizer, TinyLlamaMatchesTheLlamaSpmGguf) {
    auto f = vocab(shared("models/tokenizers/tinyllama"));
    ASSERT_NE(f, nullptr);
    auto g = GgufFile::open(shared("models/vocab/ggml-vocab-llama-spm.gguf"));
    ASSERT_TRUE(g.is_ok());
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f->find("tokenizer.ggml.merges"), nullptr);
    // Four pieces hold U+00A0 in tokenizer.model but a plain space in tokenizer.json (HF's
    // converter normalised them); every other token is identical.
    const auto& hf_toks = *f->get_string_array("tokenizer.ggml.tokens");
    const auto& spm_toks = *(*g)->get_string_array("tokenizer.ggml.tokens");
    ASSERT_EQ(hf_toks.size(), spm_toks.size());
    int nbsp = 0;
    for (size_t i = 0; i < hf_toks.size(); ++i) {
        if (hf_toks[i] == spm_toks[i]) continue;
        std::string fixed;
        const std::string_view t = spm_toks[i];
        for (size_t p = 0; p < t.size(); ++p) {
            const bool nbsp = t.compare(p, 2, "\xC2\xA0") == 0;
            fixed += nbsp ? ' ' : t[p];
            p += nbsp ? 1 : 0;
        }
        EXPECT_EQ(hf_toks[i], fixed) << "token " << i;
        ++nbsp;
    }
    EXPECT_EQ(nbsp, 4);
    EXPECT_EQ(f->get_int_array("tokenizer.ggml.token_type"), (*g)->get_int_array("tokenizer.ggml.token_type"));
    EXPECT_EQ(f->get_int("tokenizer.ggml.unknown_token_id"), 0);
    EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
    EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), 2);
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_space_prefix"), true);
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), true);  // TemplateProcessing "<s> $A"
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_eos_token"), false);
    // Merge priority and SentencePiece score agree on order for merged pieces.
    const auto ours = *f->get_f32_array("tokenizer.ggml.scores");
    const auto ref = *(*g)->get_f32_array("tokenizer.ggml.scores");
    const auto& toks = *f->get_string_array("tokenizer.ggml.tokens");
    auto id = [&](std::string_view t) {
        return static_cast<size_t>(std::find(toks.begin(), toks.end(), t) - toks.begin());
    };
    for (auto [hi, lo] : {std::pair{"\xE2\x96\x81t", "er"}, {"er", "\xE2\x96\x81the"},
                          {"\xE2\x96\x81the", "\xE2\x96\x81Hello"}}) {
        EXPECT_GT(ours[id(hi)], ours[id(lo)]) << hi << " vs " << lo;
        EXPECT_GT(ref[id(hi)], ref[id(lo)]) << hi << " vs " << lo;
    }
}

TEST(HfTokenizer, MistralSpm) {
    auto f = vocab(shared("models/tokenizers/mistral"));
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens")->size(), 32000u);
    EXPECT_EQ(type_of(*f, 0), 2);  // <unk>
    EXPECT_EQ(type_of(*f, 1), 3);
    EXPECT_EQ(type_of(*f, 3), 6);  // <0x00>
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), true);
}

TEST(HfTokenizer, RefusesWhatItCannotMap) {
    auto expect = [](const std::string& json, ErrorCode code, const std::string& needle) {
        GgufBuilder b;
        const Status s = add_hf_tokenizer_json(json, "", "tok.json", {}, b);
        ASSERT_FALSE(s.is_ok()) << needle;
        EXPECT_EQ(s.code(), code) << s.to_string();
        EXPECT_NE(s.message().find("tok.json"), std::string::npos);
        EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
    };
    expect("{", ErrorCode::kCorruptFile, "not a JSON object");
    expect(R"({"model":{"type":"WordPiece","vocab":{}}})", ErrorCode::kUnsupported, "WordPiece");
    expect(R"({"model":{"type":"BPE","vocab":{"a":0}},
               "pre_tokenizer":{"type":"Sequence","pretokenizers":[
                 {"type":"Split","pattern":{"Regex":"\\d+"}},{"type":"ByteLevel","use_regex":false}]}})",
           ErrorCode::kUnsupported, "unknown pre-tokenizer");
    expect(R"({"model":{"type":"BPE","vocab":{"a":0}}})", ErrorCode::kUnsupported, "neither");
    expect(R"({"model":{"type":"BPE","vocab":{"a":-4}},"pre_tokenizer":{"type":"ByteLevel"}})",
           ErrorCode::kCorruptFile, "negative");
    expect(R"({"model":{"type":"BPE","vocab":{"a":99999999}},"pre_tokenizer":{"type":"ByteLevel"}})",
           ErrorCode::kCorruptFile, "too large");
    expect(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[3]},"pre_tokenizer":{"type":"ByteLevel"}})",
           ErrorCode::kCorruptFile, "merges");
    expect(R"({"model":{"type":"Unigram","vocab":[["a"]]}})", ErrorCode::kCorruptFile, "[piece, score]");
}

TEST(HfTokenizer, UnigramKeepsScores) {
    GgufBuilder b;
    const Status s = add_hf_tokenizer_json(
        R"({"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0.0],["\u2581a",-1.5],["<0x41>",0.0]]},
            "pre_tokenizer":{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"never"}})",
        "", "u.json", {}, b);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    auto f = b.build("u", "tokenizer", 0);
    ASSERT_TRUE(f.is_ok());
    EXPECT_EQ((*f)->get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ((*f)->get_f32_array("tokenizer.ggml.scores"), (std::vector<float>{0.0f, -1.5f, 0.0f}));
    EXPECT_EQ((*f)->get_int_array("tokenizer.ggml.token_type"), (std::vector<int64_t>{2, 1, 6}));
    EXPECT_EQ((*f)->get_bool("tokenizer.ggml.add_space_prefix"), false);
}

TEST(HfTokenizer, OpenTokenizerReadsEveryKind) {
    auto hf = open_tokenizer(shared("models/tokenizers/llama3/tokenizer.json"));
    ASSERT_TRUE(hf.is_ok()) << hf.status().to_string();
    EXPECT_EQ((*hf)->get_string("tokenizer.ggml.pre"), "llama-bpe");
    auto l2c = open_tokenizer(shared("models/llama2c/tok512.bin"));
    ASSERT_TRUE(l2c.is_ok()) << l2c.status().to_string();
    EXPECT_EQ((*l2c)->get_string_array("tokenizer.ggml.tokens")->size(), 512u);
    auto gguf = open_tokenizer(shared("models/vocab/ggml-vocab-llama-spm.gguf"));
    ASSERT_TRUE(gguf.is_ok());
    auto missing = open_tokenizer(shared("models/tokenizers/nope.json"));
    ASSERT_FALSE(missing.is_ok());
    EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tk::formats

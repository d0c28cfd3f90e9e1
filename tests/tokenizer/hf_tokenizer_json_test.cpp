// tokenizer.json loading: the Llama-3 and Qwen3 tokenizer.json files must reproduce llama.cpp's
// llama-bpe, qwen2 and deepseek-r1-qwen test vectors (whose vocab GGUFs are not shipped).
#include "tokenizer/hf_tokenizer_json.h"

#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace tk::tokenizer::test {
namespace {

std::unique_ptr<Tokenizer> load_hf(const std::string& rel) {
    auto v = vocab_from_hf_file(testing::shared_path(rel));
    EXPECT_TRUE(v.is_ok()) << v.status().to_string();
    if (!v.is_ok()) return nullptr;
    auto tok = Tokenizer::create(std::move(v).value());
    EXPECT_TRUE(tok.is_ok()) << tok.status().to_string();
    if (!tok.is_ok()) return nullptr;
    return std::move(tok).value();
}

void check_vectors(const Tokenizer& tok, const std::string& vocab_name) {
    const auto cases =
        read_vocab_cases(testing::shared_path("models/vocab/ggml-vocab-" + vocab_name + ".gguf"));
    ASSERT_EQ(cases.size(), 46u);
    for (const VocabCase& c : cases) {
        EXPECT_EQ(tok.encode(c.text, false, false), c.ids)
            << vocab_name << " input: '" << c.text << "'";
    }
}

TEST(HfTokenizerJson, Llama3MatchesLlamaBpeVectors) {
    auto tok = load_hf("models/tokenizers/llama3/tokenizer.json");
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->pre(), "llama-bpe");
    EXPECT_EQ(tok->n_vocab(), 128256);
    EXPECT_EQ(tok->token_text(tok->bos()), "<|begin_of_text|>");
    EXPECT_EQ(tok->token_text(tok->eos()), "<|end_of_text|>");
    EXPECT_TRUE(tok->add_bos());
    EXPECT_TRUE(tok->is_eog(tok->token_id("<|eot_id|>")));
    check_vectors(*tok, "llama-bpe");
    EXPECT_EQ(tok->encode("<|start_header_id|>user<|end_header_id|>", true, true),
              (std::vector<int32_t>{128000, 128006, 882, 128007}));
}

TEST(HfTokenizerJson, Qwen3MatchesQwen2Vectors) {
    auto tok = load_hf("models/tokenizers/qwen3/tokenizer.json");
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->pre(), "qwen2");
    EXPECT_FALSE(tok->add_bos());
    EXPECT_EQ(tok->token_text(tok->eos()), "<|im_end|>");
    check_vectors(*tok, "qwen2");
    check_vectors(*tok, "deepseek-r1-qwen");
    // <think> is a non-special added token: user-defined, matched even without parse_special.
    const int32_t think = tok->token_id("<think>");
    ASSERT_GE(think, 0);
    EXPECT_TRUE(tok->token_attr(think) & kAttrUserDefined);
    const std::vector<int32_t> ids = tok->encode("<think>hi", false, false);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids[0], think);
    EXPECT_EQ(tok->detokenize(ids, false, false), "<think>hi");
}

TEST(HfTokenizerJson, RejectsWhatItCannotRead) {
    EXPECT_EQ(vocab_from_hf_json("{not json", "", "x").status().code(), ErrorCode::kCorruptFile);
    EXPECT_EQ(vocab_from_hf_json(R"({"model": {"type": "Unigram"}})", "", "x").status().code(),
              ErrorCode::kUnsupported);
    // SentencePiece-style BPE (no ByteLevel step) is not handled here.
    auto spm =
        vocab_from_hf_file(testing::shared_path("models/tokenizers/tinyllama/tokenizer.json"));
    ASSERT_FALSE(spm.is_ok());
    EXPECT_EQ(spm.status().code(), ErrorCode::kUnsupported);
    EXPECT_EQ(vocab_from_hf_json(R"({"model": {"type": "BPE", "vocab": {"a": -3}},
                                    "pre_tokenizer": {"type": "ByteLevel"}})",
                                 "", "x")
                  .status()
                  .code(),
              ErrorCode::kCorruptFile);
    EXPECT_EQ(vocab_from_hf_file("/nonexistent/tokenizer.json").status().code(),
              ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tk::tokenizer::test

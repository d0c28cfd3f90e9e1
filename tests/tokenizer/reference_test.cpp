// shared/reference/tokenize/*.json: llama.cpp's llama_tokenize / llama_token_to_piece /
// llama_detokenize on 32 tricky strings, for the stories260K vocab and the Llama-2 SPM vocab.
#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace tk::tokenizer::test {
namespace {

std::string hex_of(const std::string& s) {
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
    return out;
}

void check_reference(const std::string& json_rel, const std::string& vocab_rel) {
    const nlohmann::json ref = testing::read_json(testing::shared_path(json_rel));
    auto tok = load_gguf_tokenizer(vocab_rel);
    ASSERT_NE(tok, nullptr);
    ASSERT_EQ(ref.at("cases").size(), 32u);
    for (const auto& c : ref.at("cases")) {
        const std::string text = c.at("string");
        SCOPED_TRACE("input: '" + text + "'");
        const auto ids = c.at("ids").get<std::vector<int32_t>>();
        const auto ids_no_bos = c.at("ids_no_bos").get<std::vector<int32_t>>();
        EXPECT_EQ(tok->encode(text, true, false), ids);
        EXPECT_EQ(tok->encode(text, false, false), ids_no_bos);
        EXPECT_EQ(tok->encode(text, true, true),
                  c.at("ids_parse_special").get<std::vector<int32_t>>());

        const auto& hex = c.at("pieces_hex");
        ASSERT_EQ(hex.size(), ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
            EXPECT_EQ(hex_of(tok->token_to_piece(ids[i], true)), hex[i].get<std::string>())
                << "token " << ids[i];
        }
        EXPECT_EQ(tok->detokenize(ids, true, false),
                  c.at("detok_remove_special").get<std::string>());
        EXPECT_EQ(tok->detokenize(ids, false, true), c.at("detok_keep_special").get<std::string>());
        EXPECT_EQ(tok->detokenize(ids_no_bos, false, false),
                  c.at("detok_no_bos_ids").get<std::string>());
    }
}

TEST(Reference, Stories260K) {
    check_reference("reference/tokenize/stories260K.json", "models/gguf/stories260K.gguf");
}

TEST(Reference, LlamaSpm) {
    check_reference("reference/tokenize/ggml-vocab-llama-spm.json",
                    "models/vocab/ggml-vocab-llama-spm.gguf");
}

TEST(Reference, OnceUponATime) {
    auto tok = load_gguf_tokenizer("models/gguf/stories260K.gguf");
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->encode("Once upon a time", true, false),
              (std::vector<int32_t>{1, 403, 407, 261, 378}));
    EXPECT_EQ(tok->n_vocab(), 512);
    EXPECT_EQ(tok->bos(), 1);
    EXPECT_EQ(tok->eos(), 2);
    EXPECT_TRUE(tok->add_bos());
    EXPECT_FALSE(tok->add_eos());
    EXPECT_TRUE(tok->is_eog(2));
    EXPECT_FALSE(tok->is_eog(1));
    EXPECT_EQ(tok->type(), VocabType::kSpm);
}

// The 37-token prompt of shared/reference/logits (add_special = true, parse_special = false).
TEST(Reference, LogitsPrompt) {
    const nlohmann::json ref =
        testing::read_json(testing::shared_path("reference/logits/stories260K.json"));
    auto tok = load_gguf_tokenizer("models/gguf/stories260K.gguf");
    ASSERT_NE(tok, nullptr);
    const std::string prompt = ref.at("prompt");
    const auto ids = ref.at("tokens").get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(prompt, true, false), ids);
    const auto& greedy = ref.at("greedy");
    const auto gen = greedy.at("tokens").get<std::vector<int32_t>>();
    EXPECT_EQ(tok->detokenize(gen, false, false),
              greedy.at("text_llama_detokenize").get<std::string>());
}

}  // namespace
}  // namespace tk::tokenizer::test

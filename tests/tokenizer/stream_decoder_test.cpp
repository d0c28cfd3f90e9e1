// StreamDecoder: pushing ids one at a time yields valid UTF-8 chunks whose concatenation equals
// detokenize(ids, false, false).
#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace tk::tokenizer::test {
namespace {

void check_stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool unparse_special) {
    StreamDecoder dec(tok, unparse_special);
    std::string all;
    for (int32_t id : ids) {
        const std::string chunk = dec.push(id);
        EXPECT_TRUE(is_valid_utf8(chunk)) << "chunk after token " << id;
        all += chunk;
    }
    const std::string last = dec.flush();
    EXPECT_TRUE(is_valid_utf8(last));
    all += last;
    EXPECT_EQ(all, tok.detokenize(ids, false, unparse_special));
}

class StreamVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(StreamVectors, ChunksConcatenateToDetokenize) {
    const std::string rel = std::string("models/vocab/ggml-vocab-") + GetParam() + ".gguf";
    auto tok = load_gguf_tokenizer(rel);
    ASSERT_NE(tok, nullptr);
    for (const VocabCase& c : read_vocab_cases(testing::shared_path(rel))) {
        SCOPED_TRACE("input: '" + c.text + "'");
        for (bool special : {false, true}) {
            check_stream(*tok, c.ids, special);
            check_stream(*tok, tok->encode(c.text, true, true), special);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Gguf, StreamVectors,
                         ::testing::Values("llama-spm", "gpt-2", "falcon", "deepseek-llm",
                                           "bert-bge"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& ch : n) {
                                 if (ch == '-') ch = '_';
                             }
                             return n;
                         });

TEST(StreamDecoder, Stories260KReferenceStrings) {
    auto tok = load_gguf_tokenizer("models/gguf/stories260K.gguf");
    ASSERT_NE(tok, nullptr);
    const nlohmann::json ref =
        testing::read_json(testing::shared_path("reference/tokenize/stories260K.json"));
    for (const auto& c : ref.at("cases")) {
        SCOPED_TRACE(c.at("string").get<std::string>());
        check_stream(*tok, c.at("ids").get<std::vector<int32_t>>(), false);
        check_stream(*tok, c.at("ids_no_bos").get<std::vector<int32_t>>(), true);
    }
}

TEST(StreamDecoder, HoldsBackPartialByteSequences) {
    // "é" as two byte-fallback tokens <0xC3> <0xA9>.
    auto tok = load_gguf_tokenizer("models/gguf/stories260K.gguf");
    ASSERT_NE(tok, nullptr);
    std::vector<int32_t> ids = tok->encode("caf", false, false);
    const int32_t c3 = tok->token_id("<0xC3>");
    const int32_t a9 = tok->token_id("<0xA9>");
    ASSERT_GE(c3, 0);
    ASSERT_GE(a9, 0);
    ids.push_back(c3);
    StreamDecoder dec(*tok);
    std::string out;
    for (int32_t id : ids) out += dec.push(id);
    EXPECT_EQ(out, "caf");  // the lone 0xC3 waits
    EXPECT_EQ(dec.push(a9), "\xC3\xA9");
    EXPECT_EQ(dec.flush(), "");
    ids.push_back(a9);
    EXPECT_EQ(tok->detokenize(ids, false, false), "caf\xC3\xA9");
}

TEST(StreamDecoder, FlushReplacesIncompleteBytes) {
    auto tok = load_gguf_tokenizer("models/gguf/stories260K.gguf");
    ASSERT_NE(tok, nullptr);
    const int32_t e2 = tok->token_id("<0xE2>");
    const int32_t x41 = tok->token_id("<0x41>");
    ASSERT_GE(e2, 0);
    StreamDecoder dec(*tok);
    EXPECT_EQ(dec.push(e2), "");
    EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
    // A byte that can never be completed comes out as U+FFFD at once.
    dec.reset();
    EXPECT_EQ(dec.push(e2), "");
    EXPECT_EQ(dec.push(x41),
              "\xEF\xBF\xBD"
              "A");
}

TEST(StreamDecoder, CleanUpSpacesAcrossChunks) {
    // GPT-2 detokenization removes the space in " ," and " 's"; streamed output must agree even
    // when the pieces arrive one by one.
    auto tok = load_gguf_tokenizer("models/vocab/ggml-vocab-gpt-2.gguf");
    ASSERT_NE(tok, nullptr);
    ASSERT_TRUE(tok->clean_spaces());
    for (const char* text : {"Hello , world . It ' s ok , isn 't it ? I 'm sure they 're here",
                             "a ' b ' c '' d ' ' e 're 've 'll 'd 't 'm 's ' s", "x ' ", "' "}) {
        SCOPED_TRACE(text);
        check_stream(*tok, tok->encode(text, false, false), false);
    }
}

}  // namespace
}  // namespace tk::tokenizer::test

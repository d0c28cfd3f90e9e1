// Tokenizer::create on hand-made vocabularies: defaults per model type, errors, special-token
// parsing rules, hostile input.
#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace tk::tokenizer::test {
namespace {

// A tiny SPM vocabulary: <unk> <s> </s>, 256 byte tokens, then a few pieces.
VocabData tiny_spm() {
    VocabData d;
    d.model = "llama";
    d.tokens = {"<unk>", "<s>", "</s>"};
    d.token_types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
        d.tokens.push_back(buf);
        d.token_types.push_back(6);
    }
    for (const char* t : {"\xE2\x96\x81", "a", "b",
                          "\xE2\x96\x81"
                          "a",
                          "ab",
                          "\xE2\x96\x81"
                          "ab"}) {
        d.tokens.push_back(t);
        d.token_types.push_back(1);
    }
    d.scores.assign(d.tokens.size(), 0.0f);
    d.scores[d.tokens.size() - 3] = -1.0f;  // ▁a
    d.scores[d.tokens.size() - 2] = -2.0f;  // ab
    d.scores[d.tokens.size() - 1] = -0.5f;  // ▁ab
    return d;
}

int32_t id_of(const Tokenizer& t, std::string_view text) {
    const int32_t id = t.token_id(text);
    EXPECT_GE(id, 0) << text;
    return id;
}

TEST(TokenizerCreate, RejectsBadInput) {
    VocabData d = tiny_spm();
    d.model = "wordpiece-ish";
    EXPECT_EQ(Tokenizer::create(d).status().code(), ErrorCode::kUnsupported);

    d = tiny_spm();
    d.scores.pop_back();
    EXPECT_EQ(Tokenizer::create(d).status().code(), ErrorCode::kCorruptFile);

    d = tiny_spm();
    d.token_types.push_back(1);
    EXPECT_EQ(Tokenizer::create(d).status().code(), ErrorCode::kCorruptFile);

    d = tiny_spm();
    d.tokens.clear();
    d.scores.clear();
    d.token_types.clear();
    EXPECT_EQ(Tokenizer::create(d).status().code(), ErrorCode::kCorruptFile);

    VocabData b;
    b.model = "gpt2";
    b.pre = "no-such-pre";
    b.tokens = {"a", "b"};
    auto r = Tokenizer::create(b);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(r.status().message().find("no-such-pre"), std::string::npos);
}

TEST(TokenizerCreate, SpmDefaultsAndMerging) {
    auto r = Tokenizer::create(tiny_spm());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const Tokenizer& t = **r;
    EXPECT_EQ(t.bos(), 1);
    EXPECT_EQ(t.eos(), 2);
    EXPECT_EQ(t.unk(), 0);
    EXPECT_TRUE(t.add_bos());
    EXPECT_FALSE(t.add_eos());
    EXPECT_TRUE(t.add_space_prefix());
    // "▁ab" (score -0.5) cannot form directly: "▁a" (-1) merges before "ab" (-2), then "▁ab".
    EXPECT_EQ(t.encode("ab", false, false), (std::vector<int32_t>{id_of(t,
                                                                        "\xE2\x96\x81"
                                                                        "ab")}));
    // "c" is not a piece: byte fallback.
    EXPECT_EQ(t.encode("c", true, false),
              (std::vector<int32_t>{1, id_of(t, "\xE2\x96\x81"), id_of(t, "<0x63>")}));
    EXPECT_EQ(t.detokenize(t.encode("ab c", true, false), true, false), " ab c");
    EXPECT_EQ(t.detokenize(t.encode("ab c", false, false), false, false), "ab c");
}

TEST(TokenizerCreate, SpecialTokenParsing) {
    VocabData d = tiny_spm();
    d.tokens.push_back("<|user|>");
    d.token_types.push_back(4);  // user-defined: matched even without parse_special
    d.scores.push_back(0.0f);
    auto r = Tokenizer::create(d);
    ASSERT_TRUE(r.is_ok());
    const Tokenizer& t = **r;
    const int32_t user = id_of(t, "<|user|>");
    const int32_t sp = id_of(t, "\xE2\x96\x81");
    const int32_t a = id_of(t,
                            "\xE2\x96\x81"
                            "a");
    // After a special token, the next raw fragment gets the dummy-prefix space again.
    EXPECT_EQ(t.encode("<|user|>a", false, false), (std::vector<int32_t>{user, a}));
    EXPECT_EQ(t.encode("a<|user|>a", false, false), (std::vector<int32_t>{a, user, a}));
    // Control tokens only with parse_special.
    const std::vector<int32_t> plain = t.encode("</s>", false, false);
    EXPECT_EQ(plain.size(), 5u);  // ▁ < / s > as byte tokens and pieces
    EXPECT_EQ(plain[0], sp);
    EXPECT_EQ(t.encode("</s>", false, true), (std::vector<int32_t>{2}));
    EXPECT_EQ(t.encode(" </s>", false, true), (std::vector<int32_t>{sp, sp, 2}));
    // Pieces: control tokens are empty unless asked for.
    EXPECT_EQ(t.token_to_piece(2, false), "");
    EXPECT_EQ(t.token_to_piece(2, true), "</s>");
    EXPECT_EQ(t.token_to_piece(user, false), "<|user|>");
    EXPECT_TRUE(t.is_eog(2));
}

TEST(TokenizerCreate, Phi3StripsSpacesAroundSpecialTokens) {
    VocabData d = tiny_spm();
    d.name = "Phi3";
    d.tokens.push_back("<|end|>");
    d.token_types.push_back(4);
    d.scores.push_back(0.0f);
    auto r = Tokenizer::create(d);
    ASSERT_TRUE(r.is_ok());
    const Tokenizer& t = **r;
    const int32_t end = id_of(t, "<|end|>");
    EXPECT_TRUE(t.is_eog(end));      // found by its text
    EXPECT_TRUE(t.is_control(end));  // and forced to control, as llama.cpp does
    EXPECT_TRUE(t.token_attr(end) & kAttrRstrip);
    const int32_t a = id_of(t,
                            "\xE2\x96\x81"
                            "a");
    // RSTRIP eats the spaces after the token.
    EXPECT_EQ(t.encode("<|end|>   a", false, true), (std::vector<int32_t>{end, a}));
}

TEST(TokenizerCreate, BpeDefaults) {
    VocabData d;
    d.model = "gpt2";
    d.pre = "gpt-2";
    for (int b = 0; b < 256; ++b) {
        std::string s;
        append_utf8(s, byte_to_bpe_cp(static_cast<uint8_t>(b)));
        d.tokens.push_back(s);
    }
    d.tokens.push_back("<|endoftext|>");
    d.tokens.push_back("ab");
    d.merges = {"a b"};
    auto r = Tokenizer::create(d);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const Tokenizer& t = **r;
    EXPECT_FALSE(t.add_bos());
    EXPECT_FALSE(t.add_space_prefix());
    EXPECT_EQ(t.bos(), 11);  // llama.cpp's gpt2 default
    const int32_t eot = id_of(t, "<|endoftext|>");
    EXPECT_TRUE(t.is_eog(eot));
    EXPECT_TRUE(t.is_control(eot));
    EXPECT_EQ(t.encode("ab", true, false), (std::vector<int32_t>{257}));
    EXPECT_EQ(t.encode("x<|endoftext|>", false, true), (std::vector<int32_t>{id_of(t, "x"), eot}));
    EXPECT_EQ(t.detokenize({id_of(t, "a"), id_of(t, "\xC4\xA0"), id_of(t, ",")}, false, false),
              "a,");  // clean-up spaces: " ," -> ","

    d.pre = "llama-bpe";
    auto r3 = Tokenizer::create(d);
    ASSERT_TRUE(r3.is_ok());
    EXPECT_TRUE((*r3)->add_bos());
}

TEST(TokenizerCreate, HostileInputDoesNotCrash) {
    auto spm = load_gguf_tokenizer("models/gguf/stories260K.gguf");
    auto bpe = load_gguf_tokenizer("models/vocab/ggml-vocab-gpt-2.gguf");
    auto qwn = load_gguf_tokenizer("models/vocab/ggml-vocab-deepseek-llm.gguf");
    ASSERT_TRUE(spm && bpe && qwn);
    const std::string bad = std::string("a\xFF\xC3(\xE2\x82 \xF0\x9F\x98") + '\0' + "z\x80";
    for (const Tokenizer* t : {spm.get(), bpe.get(), qwn.get()}) {
        const std::vector<int32_t> ids = t->encode(bad, true, true);
        EXPECT_FALSE(ids.empty());
        EXPECT_EQ(t->detokenize({-5, t->n_vocab(), 1 << 30}, false, true), "");
        EXPECT_EQ(t->token_to_piece(-1, true), "");
    }
    EXPECT_EQ(spm->detokenize(spm->encode(bad, false, false), false, false), bad);
    // GPT-2's byte-level vocabulary round-trips any bytes. (DeepSeek-LLM does not: some of its
    // byte characters are user-defined tokens, whose pieces are their UTF-8 text.)
    EXPECT_EQ(bpe->detokenize(bpe->encode(bad, false, false), false, false), bad);
}

}  // namespace
}  // namespace tk::tokenizer::test

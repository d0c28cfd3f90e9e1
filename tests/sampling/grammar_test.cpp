#include "sampling/grammar.h"

#include <gtest/gtest.h>

#include <random>

#include "sampling/sampler.h"

namespace tk::sampling {
namespace {

// A toy vocabulary: single bytes, a few multi-character tokens, a multi-byte character split over
// two tokens, a control token (empty) and EOS.
std::shared_ptr<const GrammarVocab> toy_vocab() {
    std::vector<std::string> v = {"", "a", "b", "c", "ab", "abc", "\"", "{", "}", "1", "12",
                                  "\xC3", "\xA9", "\xC3\xA9", "x\xC3", " ", "ba"};
    return GrammarVocab::create(v, {0});
}
constexpr int32_t kEos = 0;

std::shared_ptr<const Grammar> compile(const std::string& g) {
    auto r = Grammar::compile(g, toy_vocab());
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : nullptr;
}

bool matches(const std::string& g, const std::string& text) {
    auto gr = compile(g);
    if (gr == nullptr) return false;
    GrammarState st(gr);
    return st.accept_bytes(text) && st.is_complete();
}

TEST(Grammar, LiteralsAlternationAndGroups) {
    const std::string g = "root ::= \"a\" (\"b\" | \"c\")* \"!\"?";
    EXPECT_TRUE(matches(g, "a"));
    EXPECT_TRUE(matches(g, "abcb"));
    EXPECT_TRUE(matches(g, "acc!"));
    EXPECT_FALSE(matches(g, "ad"));
    EXPECT_FALSE(matches(g, "b"));
    EXPECT_FALSE(matches(g, "a!!"));
}

TEST(Grammar, RepetitionBounds) {
    const std::string g = "root ::= [0-9]{2,4} x\nx ::= \"-\"{1,}";
    EXPECT_FALSE(matches(g, "1-"));
    EXPECT_TRUE(matches(g, "12-"));
    EXPECT_TRUE(matches(g, "1234---"));
    EXPECT_FALSE(matches(g, "12345-"));
    EXPECT_FALSE(matches(g, "123"));
    EXPECT_TRUE(matches("root ::= \"ab\"{3}", "ababab"));
    EXPECT_FALSE(matches("root ::= \"ab\"{3}", "abab"));
    EXPECT_TRUE(matches("root ::= \"ab\"+", "abab"));
}

TEST(Grammar, CharacterClassesAndUtf8) {
    const std::string g = "root ::= [^\"\\\\a-c]+ | [\\u00e9-\\u00ff] | .";
    EXPECT_TRUE(matches(g, "xyz"));
    EXPECT_FALSE(matches(g, "xaz"));
    EXPECT_TRUE(matches(g, "\xC3\xA9"));      // é, as one code point
    EXPECT_TRUE(matches(g, "\xE2\x82\xAC"));  // € through '.' or the negated class
    EXPECT_FALSE(matches(g, "\xC3"));         // incomplete character is not complete
    EXPECT_TRUE(matches("root ::= [\\x41-\\x43] \"\\n\"", "B\n"));
}

TEST(Grammar, ErrorsNameTheFault) {
    auto v = toy_vocab();
    auto e1 = Grammar::compile("root ::= foo", v);
    ASSERT_FALSE(e1.is_ok());
    EXPECT_NE(e1.status().message().find("'foo'"), std::string::npos);
    auto e2 = Grammar::compile("root ::= root \"a\" | \"b\"", v);
    ASSERT_FALSE(e2.is_ok());
    EXPECT_NE(e2.status().message().find("left-recursive"), std::string::npos);
    auto e3 = Grammar::compile("root ::= \"a\nb\"", v);
    ASSERT_FALSE(e3.is_ok());
    EXPECT_NE(e3.status().message().find("line 1"), std::string::npos);
    auto e4 = Grammar::compile("x ::= \"a\"", v);
    ASSERT_FALSE(e4.is_ok());
    EXPECT_NE(e4.status().message().find("'root'"), std::string::npos);
    EXPECT_FALSE(Grammar::compile("root ::= [a-", v).is_ok());
    EXPECT_FALSE(Grammar::compile("root ::= (\"a\"", v).is_ok());
    EXPECT_FALSE(Grammar::compile("root ::= \"a\"{5,2}", v).is_ok());
    EXPECT_FALSE(Grammar::compile("root ::= \"a\"{99999}", v).is_ok());
}

TEST(Grammar, MultiLineRulesAndComments) {
    const std::string g =
        "# a comment\n"
        "root ::= item\n"
        "  (\",\" item)*   # trailing comment\n"
        "item ::=\n"
        "  \"a\"\n"
        "  | \"b\"\n";
    EXPECT_TRUE(matches(g, "a,b,a"));
    EXPECT_FALSE(matches(g, "a,"));
}

TEST(Grammar, TokenMaskSpansSymbolsAndPartialUtf8) {
    auto gr = compile("root ::= \"ab\" [c\\u00e9] \"}\"");
    GrammarState st(gr);
    std::vector<uint8_t> allowed;
    st.allowed_tokens(allowed);
    const auto& v = gr->vocab();
    auto allowed_set = [&](std::vector<uint8_t>& a) {
        std::vector<std::string> out;
        for (int32_t i = 0; i < v.n_vocab(); ++i)
            if (a[static_cast<size_t>(i)]) out.push_back(i == kEos ? "<eos>" : v.bytes(i));
        std::sort(out.begin(), out.end());
        return out;
    };
    EXPECT_EQ(allowed_set(allowed), (std::vector<std::string>{"a", "ab", "abc"}));
    ASSERT_TRUE(st.accept(1));  // "a"
    st.allowed_tokens(allowed);
    EXPECT_EQ(allowed_set(allowed), (std::vector<std::string>{"b"}));
    ASSERT_TRUE(st.accept(2));  // "b"
    st.allowed_tokens(allowed);
    // "c", "é" whole, or its first byte alone ("\xC3"); not the lone continuation byte.
    EXPECT_EQ(allowed_set(allowed), (std::vector<std::string>{"c", "\xC3", "\xC3\xA9"}));
    EXPECT_FALSE(st.accept(12));  // "\xA9" cannot start a character
    ASSERT_TRUE(st.accept(11));
    st.allowed_tokens(allowed);
    EXPECT_EQ(allowed_set(allowed), (std::vector<std::string>{"\xA9"}));
    ASSERT_TRUE(st.accept(12));
    EXPECT_FALSE(st.is_complete());
    EXPECT_FALSE(st.allows(kEos));
    ASSERT_TRUE(st.accept(8));  // "}"
    EXPECT_TRUE(st.is_complete());
    EXPECT_TRUE(st.is_finished());
    st.allowed_tokens(allowed);
    EXPECT_EQ(allowed_set(allowed), (std::vector<std::string>{"<eos>"}));
}

TEST(Grammar, SamplerFollowsGrammarGreedyAndRandom) {
    auto gr = compile("root ::= \"{\" [abc]{1,6} \"}\"");
    for (float temp : {0.0f, 1.0f}) {
        SamplerParams p;
        p.temperature = temp;
        p.top_k = 0;
        p.top_p = 1.0f;
        p.min_p = 0.0f;
        p.grammar = gr;
        Sampler s(p);
        std::mt19937 rng(7);
        std::normal_distribution<float> nd(0.0f, 3.0f);
        std::string out;
        for (int i = 0; i < 20; ++i) {
            std::vector<float> logits(static_cast<size_t>(gr->vocab().n_vocab()));
            for (float& l : logits) l = nd(rng);
            const int32_t id = s.sample(logits, {});
            if (id == kEos) break;
            out += gr->vocab().bytes(id);
        }
        EXPECT_TRUE(matches("root ::= \"{\" [abc]{1,6} \"}\"", out)) << out;
    }
}

}  // namespace
}  // namespace tk::sampling

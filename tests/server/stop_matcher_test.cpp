#include "server/openai/stop_matcher.h"

#include <gtest/gtest.h>

#include "server/http/http_types.h"

namespace tk::server::openai {
namespace {

// Feeds pieces; returns emitted text and whether a stop string hit.
std::pair<std::string, bool> feed(StopMatcher& m, const std::vector<std::string>& pieces) {
    std::string out;
    for (const std::string& p : pieces) {
        bool stopped = false;
        out += m.push(p, &stopped);
        if (stopped) return {out, true};
    }
    return {out + m.flush(), false};
}

TEST(StopMatcher, HoldsBackPossibleStartsAndCutsBeforeTheStop) {
    StopMatcher m({"END"});
    bool stopped = false;
    EXPECT_EQ(m.push("abc E", &stopped), "abc ");  // "E" may start "END"
    EXPECT_FALSE(stopped);
    EXPECT_EQ(m.push("N", &stopped), "");
    EXPECT_EQ(m.push("Dx", &stopped), "");
    EXPECT_TRUE(stopped);
}

TEST(StopMatcher, FalseStartIsReleased) {
    StopMatcher m({"END"});
    auto [text, hit] = feed(m, {"E", "N", "d of", " story"});
    EXPECT_EQ(text, "ENd of story");
    EXPECT_FALSE(hit);
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
    StopMatcher m({"world", "lo w"});
    auto [text, hit] = feed(m, {"hel", "lo wor", "ld"});
    EXPECT_EQ(text, "hel");
    EXPECT_TRUE(hit);
}

TEST(StopMatcher, MultiByteTextIsNotSplit) {
    StopMatcher m({"\xC3\xA9t\xC3\xA9"});  // "été"
    auto [text, hit] = feed(m, {"caf\xC3\xA9", " \xC3\xA9", "t\xC3\xA9!"});
    EXPECT_EQ(text, "caf\xC3\xA9 ");
    EXPECT_TRUE(hit);
}

TEST(StopMatcher, NoStopsPassesThrough) {
    StopMatcher m({});
    auto [text, hit] = feed(m, {"a", "b"});
    EXPECT_EQ(text, "ab");
    EXPECT_FALSE(hit);
}

TEST(ConstantTimeEqual, Basics) {
    EXPECT_TRUE(http::constant_time_equal("abc", "abc"));
    EXPECT_FALSE(http::constant_time_equal("abc", "abd"));
    EXPECT_FALSE(http::constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(http::constant_time_equal("", "a"));
    EXPECT_TRUE(http::constant_time_equal("", ""));
}

}  // namespace
}  // namespace tk::server::openai

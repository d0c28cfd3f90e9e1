#pragma once
// Helpers shared by the tokenizer tests: loading vocab GGUFs and llama.cpp test-tokenizer-0
// vector files.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer::test {

inline std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& rel) {
    auto file = formats::GgufFile::open(testing::shared_path(rel));
    EXPECT_TRUE(file.is_ok()) << file.status().to_string();
    if (!file.is_ok()) return nullptr;
    auto tok = Tokenizer::from_gguf(**file);
    EXPECT_TRUE(tok.is_ok()) << tok.status().to_string();
    if (!tok.is_ok()) return nullptr;
    return std::move(tok).value();
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

// Reads <base>.inp / <base>.out as llama.cpp's test-tokenizer-0 does: inputs separated by
// "\n__ggml_vocab_test__\n", one line of space-separated ids per input.
inline std::vector<VocabCase> read_vocab_cases(const std::string& base) {
    const std::string inp = read_text(base + ".inp");
    const std::string out = read_text(base + ".out");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    for (size_t pos = 0; pos < inp.size();) {
        const size_t next = inp.find(sep, pos);
        if (next == std::string::npos) {
            texts.push_back(inp.substr(pos));
            break;
        }
        texts.push_back(inp.substr(pos, next - pos));
        pos = next + sep.size();
    }
    std::vector<VocabCase> cases;
    std::istringstream lines(out);
    std::string line;
    size_t i = 0;
    while (std::getline(lines, line) && i < texts.size()) {
        VocabCase c{texts[i++], {}};
        std::istringstream ids(line);
        int32_t id;
        while (ids >> id) c.ids.push_back(id);
        cases.push_back(std::move(c));
    }
    EXPECT_EQ(cases.size(), texts.size()) << base;
    return cases;
}

inline bool is_valid_utf8(const std::string& s) { return valid_utf8_prefix(s) == s.size(); }

}  // namespace tk::tokenizer::test

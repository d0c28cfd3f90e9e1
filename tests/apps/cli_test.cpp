// End-to-end tests of the tokamak binary, as a user runs it.
#include <gtest/gtest.h>

#include <fstream>

#include "testutil/testutil.h"

namespace tk {
namespace {

using testing::run_command;
using testing::shared_path;
using testing::tokamak_binary;

std::string quote(const std::string& s) { return "'" + s + "'"; }

TEST(Cli, RunReproducesStories260KGreedyReference) {
    std::string out;
    const std::string cmd = tokamak_binary() + " run -m " + quote(shared_path("models/gguf/stories260K.gguf")) +
                            " -p 'Once upon a time' -n 60 --temp 0 -t 2 2>/dev/null";
    ASSERT_EQ(run_command(cmd, &out), 0);
    // shared/models/reference/stories260K-greedy-once-upon-a-time.txt: all 60 generated tokens.
    const std::string expected =
        ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
        "big, red ball. She wanted to play with it, but it was too high.\nLily\n";
    EXPECT_EQ(out, expected);
}

TEST(Cli, RunEchoPrintsPrompt) {
    std::string out;
    const std::string cmd = tokamak_binary() + " run -m " + quote(shared_path("models/gguf/stories260K.gguf")) +
                            " -p 'Once upon a time' -n 5 --temp 0 --echo 2>/dev/null";
    ASSERT_EQ(run_command(cmd, &out), 0);
    EXPECT_EQ(out.rfind("Once upon a time, there was", 0), 0u) << out;
}

TEST(Cli, SameSeedSameText) {
    const std::string cmd = tokamak_binary() + " run -m " + quote(shared_path("models/gguf/stories260K.gguf")) +
                            " -p 'Once upon a time' -n 30 --temp 1.0 --seed 1234 2>/dev/null";
    std::string a, b;
    ASSERT_EQ(run_command(cmd, &a), 0);
    ASSERT_EQ(run_command(cmd, &b), 0);
    EXPECT_EQ(a, b);
    EXPECT_GT(a.size(), 20u);
}

TEST(Cli, TokenizeAndDetokenize) {
    std::string out;
    const std::string model = quote(shared_path("models/gguf/stories260K.gguf"));
    ASSERT_EQ(run_command(tokamak_binary() + " tokenize -m " + model + " --text 'Once upon a time'", &out), 0);
    EXPECT_EQ(out, "[1,403,407,261,378]\n");
    out.clear();
    ASSERT_EQ(run_command(tokamak_binary() + " tokenize -m " + model + " --ids 403,407,261,378", &out), 0);
    EXPECT_EQ(out, "Once upon a time\n");
}

TEST(Cli, LogitsMatchOracleFile) {
    testing::TempDir dir;
    const nlohmann::json ref = testing::read_json(shared_path("reference/logits/stories260K.kvf32.json"));
    std::string ids;
    for (int t : ref["tokens"]) {
        if (!ids.empty()) ids += ',';
        ids += std::to_string(t);
    }
    const std::string cmd = tokamak_binary() + " logits -m " + quote(shared_path("models/gguf/stories260K.gguf")) +
                            " --kv-type f32 --tokens " + ids + " -o " + quote(dir.file("l.json"));
    ASSERT_EQ(run_command(cmd), 0);
    const nlohmann::json ours = testing::read_json(dir.file("l.json"));
    ASSERT_EQ(ours["logits_shape"], ref["logits_shape"]);
    double max_d = 0;
    for (size_t i = 0; i < ref["logits"].size(); ++i)
        for (size_t j = 0; j < ref["logits"][i].size(); ++j)
            max_d = std::max(max_d, std::abs(ours["logits"][i][j].get<double>() - ref["logits"][i][j].get<double>()));
    EXPECT_LT(max_d, 1e-3);
}

TEST(Cli, InfoDescribesModel) {
    std::string out;
    ASSERT_EQ(run_command(tokamak_binary() + " info " + quote(shared_path("reference/models/tiny-llama-Q4_K_M.gguf")), &out), 0);
    EXPECT_NE(out.find("architecture:    llama"), std::string::npos) << out;
    EXPECT_NE(out.find("Q4_K"), std::string::npos) << out;
    EXPECT_NE(out.find("layers:          2"), std::string::npos) << out;
}

TEST(Cli, TruncatedModelGivesOneClearLine) {
    testing::TempDir dir;
    const auto bytes = testing::read_file_bytes(shared_path("models/gguf/stories260K.gguf"));
    const std::string path = dir.file("truncated.gguf");
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 100000);
    std::string out;
    const int rc = run_command(tokamak_binary() + " run -m " + quote(path) + " -p hi 2>&1", &out);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("truncated.gguf"), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST(Cli, MissingModelFails) {
    std::string out;
    const int rc = run_command(tokamak_binary() + " run -m /nonexistent/model.gguf -p hi 2>&1", &out);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("/nonexistent/model.gguf"), std::string::npos) << out;
}

TEST(Cli, SynthWritesLoadableModel) {
    testing::TempDir dir;
    const std::string path = dir.file("synth.gguf");
    const std::string cmd = tokamak_binary() + " synth --vocab-from " + quote(shared_path("models/gguf/stories260K.gguf")) +
                            " -o " + quote(path) + " --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 128 --type Q8_0";
    ASSERT_EQ(run_command(cmd), 0);
    std::string out;
    ASSERT_EQ(run_command(tokamak_binary() + " run -m " + quote(path) + " -p hello -n 8 --temp 0 2>/dev/null", &out), 0);
    EXPECT_FALSE(out.empty());
}

}  // namespace
}  // namespace tk

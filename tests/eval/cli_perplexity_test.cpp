// `tokamak perplexity` as a user runs it: text and JSON output, the KL-divergence round trip and
// the error exit codes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testutil/testutil.h"

namespace tk {
namespace {

using testing::run_command;
using testing::shared_path;

std::string quote(const std::string& s) { return "'" + s + "'"; }

class PerplexityCli : public ::testing::Test {
protected:
    void SetUp() override {
        // The binary is built by the default target (CI builds everything before ctest).
        if (!std::filesystem::exists(testing::tokamak_binary()))
            GTEST_SKIP() << "tokamak binary not built";
    }
    static std::string cmd(const std::string& model, const std::string& args) {
        return testing::tokamak_binary() + " perplexity -m " +
               quote(shared_path("models/gguf/" + model)) + " -t 1 " + args;
    }
    static std::string text() { return quote(shared_path("reference/perplexity-input.txt")); }
};

TEST_F(PerplexityCli, PrintsRunningValuesAndFinalEstimate) {
    std::string out;
    ASSERT_EQ(run_command(
                  cmd("stories260K.gguf", "-f " + text() + " -c 128 --chunks 3 2>/dev/null"), &out),
              0);
    // llama-perplexity's running values for this file: [1]3.5356,[2]4.0839,[3]4.0439 (ctx 128).
    EXPECT_EQ(out.rfind("[1]3.535", 0), 0u) << out;
    EXPECT_NE(out.find(",[2]4.08"), std::string::npos) << out;
    EXPECT_NE(out.find(",[3]4.04"), std::string::npos) << out;
    EXPECT_NE(out.find("\nFinal estimate: PPL = 4.04"), std::string::npos) << out;
    EXPECT_NE(out.find(" +/- "), std::string::npos) << out;
}

TEST_F(PerplexityCli, JsonIsOneObject) {
    std::string out;
    ASSERT_EQ(run_command(cmd("stories260K.gguf",
                              "-f " + text() + " -c 128 --chunks 5 -b 32 --json 2>/dev/null"),
                          &out),
              0);
    const nlohmann::json j = nlohmann::json::parse(out);
    for (const char* key : {"ppl", "ppl_stderr", "n_chunks", "n_ctx", "n_tokens_scored", "mean_nll",
                            "running", "seconds", "tokens_per_second"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["n_chunks"], 5);
    EXPECT_EQ(j["n_ctx"], 128);
    EXPECT_EQ(j["n_batch"], 32);
    EXPECT_EQ(j["n_tokens_scored"], 5 * 63);
    EXPECT_EQ(j["running"].size(), 5u);
    EXPECT_DOUBLE_EQ(j["running"].back().get<double>(), j["ppl"].get<double>());
    EXPECT_GT(j["tokens_per_second"].get<double>(), 0.0);
}

TEST_F(PerplexityCli, KlDivergenceRoundTrip) {
    testing::TempDir dir;
    const std::string base = quote(dir.file("base.tkkl"));
    std::string out;
    ASSERT_EQ(run_command(cmd("stories260K.gguf", "-f " + text() + " -c 128 --chunks 8 --kl-base " +
                                                      base + " 2>/dev/null"),
                          &out),
              0);
    out.clear();
    ASSERT_EQ(
        run_command(cmd("stories260K-Q4_0.gguf", "--kl-divergence " + base + " 2>/dev/null"), &out),
        0);
    EXPECT_NE(out.find("====== KL divergence statistics ======"), std::string::npos) << out;
    EXPECT_NE(out.find("Mean    KLD:"), std::string::npos) << out;
    EXPECT_NE(out.find("99.9%   KLD:"), std::string::npos) << out;
    EXPECT_NE(out.find("Same top p:"), std::string::npos) << out;
    EXPECT_NE(out.find("Mean PPL(Q)/PPL(base)"), std::string::npos) << out;
    out.clear();
    ASSERT_EQ(run_command(cmd("stories260K-Q4_0.gguf",
                              "-f " + text() + " --kl-divergence " + base + " --json 2>/dev/null"),
                          &out),
              0);
    const nlohmann::json j = nlohmann::json::parse(out);
    EXPECT_EQ(j["n_chunks"], 8);
    EXPECT_GT(j["kld"]["mean"].get<double>(), 0.0);
    EXPECT_GE(j["kld"]["max"].get<double>(), j["kld"]["p99"].get<double>());
    EXPECT_TRUE(j["kld"].contains("median"));
    EXPECT_GT(j["same_top"]["value"].get<double>(), 0.5);
    EXPECT_GT(j["ppl"]["value"].get<double>(), j["ppl_base"]["value"].get<double>());
    EXPECT_TRUE(j["delta_p"].contains("rms"));

    // A different context size is refused with a message naming the right one.
    out.clear();
    EXPECT_NE(
        run_command(cmd("stories260K-Q4_0.gguf", "--kl-divergence " + base + " -c 256 2>&1"), &out),
        0);
    EXPECT_NE(out.find("use -c 128"), std::string::npos) << out;
}

TEST_F(PerplexityCli, ShortTextIsAClearError) {
    testing::TempDir dir;
    {
        std::ofstream f(dir.file("short.txt"));
        f << "Once upon a time there was a little girl named Lily.\n";
    }
    std::string out;
    EXPECT_NE(
        run_command(cmd("stories260K.gguf", "-f " + quote(dir.file("short.txt")) + " -c 128 2>&1"),
                    &out),
        0);
    EXPECT_NE(out.find("short.txt: the text tokenizes to only"), std::string::npos) << out;
    EXPECT_NE(out.find("needs at least 256"), std::string::npos) << out;
}

}  // namespace
}  // namespace tk

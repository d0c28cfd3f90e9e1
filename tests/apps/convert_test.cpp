// `tokamak convert`: every input format to GGUF, checked by loading the output and comparing
// logits with stories260K.gguf, and quantized output against llama.cpp's own encodings.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "formats/gguf.h"
#include "formats/test_zip.h"
#include "model/model.h"
#include "model/session.h"
#include "testutil/testutil.h"

namespace tk {
namespace {

using testing::run_command;
using testing::shared_path;
using testing::tokamak_binary;

std::string quote(const std::string& s) { return "'" + s + "'"; }

const std::vector<int32_t> kTokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};

std::vector<float> logits_of(const std::string& path) {
    model::LoadOptions lo;
    lo.n_threads = 2;
    auto m = model::Model::load(path, lo);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    if (!m.is_ok()) return {};
    model::Session s(**m, 64, model::KvType::kF32);
    std::vector<float> out;
    EXPECT_TRUE(s.decode(kTokens.data(), static_cast<int64_t>(kTokens.size()), true, out).is_ok());
    return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.empty() || a.size() != b.size()) return 1e9;
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    return d;
}

double stddev(const std::vector<float>& v) {
    double mean = 0, sq = 0;
    for (float x : v) mean += x;
    mean /= static_cast<double>(v.size());
    for (float x : v) sq += (x - mean) * (x - mean);
    return std::sqrt(sq / static_cast<double>(v.size()));
}

class Convert : public ::testing::Test {
protected:
    // Runs `tokamak convert IN OUT args`; returns the exit status, output in *out.
    int convert(const std::string& in, const std::string& out, const std::string& args,
                std::string* text = nullptr) {
        return run_command(tokamak_binary() + " convert " + quote(in) + " " + quote(out) + " " + args +
                               " 2>&1",
                           text);
    }
    std::vector<float> reference() { return logits_of(shared_path("models/gguf/stories260K.gguf")); }
    testing::TempDir dir_;
};

TEST_F(Convert, EveryFormatGivesTheSameLogits) {
    const std::vector<float> ref = reference();
    const std::string gguf = shared_path("models/gguf/stories260K.gguf");
    const std::string tok = shared_path("models/llama2c/tok512.bin");
    formats::testing::write_bytes(dir_.file("s.llamafile"),
                                  formats::testing::make_llamafile(testing::read_file_bytes(gguf)));
    struct Case {
        std::string name, input, args;
    };
    const std::vector<Case> cases = {
        {"gguf", gguf, ""},
        {"llamafile", dir_.file("s.llamafile"), ""},
        {"llama2c", shared_path("models/llama2c/stories260K.bin"), "--tokenizer " + quote(tok)},
        {"hf", shared_path("models/hf/stories260K"), "--tokenizer " + quote(tok)},
        {"hf-gguf-vocab", shared_path("models/hf/stories260K"), "--tokenizer " + quote(gguf)},
    };
    for (const Case& c : cases) {
        const std::string out = dir_.file(c.name + ".gguf");
        std::string text;
        ASSERT_EQ(convert(c.input, out, c.args + " -t 2", &text), 0) << c.name << ": " << text;
        EXPECT_NE(text.find("wrote"), std::string::npos) << text;
        auto f = formats::GgufFile::open(out);
        ASSERT_TRUE(f.is_ok()) << f.status().to_string();
        EXPECT_EQ((*f)->get_int("general.file_type"), 0) << c.name;
        EXPECT_LT(max_abs_diff(logits_of(out), ref), 1e-4) << c.name;
    }
}

TEST_F(Convert, Bf16FolderKeepsBf16MatricesAndF32Norms) {
    const std::string out = dir_.file("bf16.gguf");
    std::string text;
    ASSERT_EQ(convert(shared_path("models/hf/stories260K-bf16"), out,
                      "--tokenizer " + quote(shared_path("models/gguf/stories260K.gguf")), &text),
              0)
        << text;
    auto f = formats::GgufFile::open(out);
    ASSERT_TRUE(f.is_ok());
    EXPECT_EQ((*f)->get_int("general.file_type"), 32);
    EXPECT_EQ((*f)->find_tensor("blk.0.attn_q.weight")->view.type, DType::kBF16);
    EXPECT_EQ((*f)->find_tensor("blk.0.attn_norm.weight")->view.type, DType::kF32);
    const std::vector<float> ref = reference();
    EXPECT_LT(max_abs_diff(logits_of(out), ref) / stddev(ref), 4e-2);
}

// Quantizing reproduces llama.cpp's Q8_0 file byte for byte where both quantize; ffn_down rows
// (172) do not split into 32-blocks and fall back to F16 here (llama.cpp's file keeps F32).
TEST_F(Convert, Q8_0MatchesLlamaCppEncoding) {
    const std::string out = dir_.file("q8.gguf");
    std::string text;
    ASSERT_EQ(convert(shared_path("models/llama2c/stories260K.bin"), out,
                      "--type q8_0 --tokenizer " + quote(shared_path("models/llama2c/tok512.bin")), &text),
              0)
        << text;
    auto f = formats::GgufFile::open(out);
    auto ref = formats::GgufFile::open(shared_path("models/gguf/stories260K-Q8_0.gguf"));
    ASSERT_TRUE(f.is_ok() && ref.is_ok());
    EXPECT_EQ((*f)->get_int("general.file_type"), 7);
    EXPECT_EQ((*f)->get_int("general.quantization_version"), 2);
    int n_q8 = 0;
    for (const formats::GgufTensorInfo& t : (*f)->tensors()) {
        const formats::GgufTensorInfo* u = (*ref)->find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        if (t.view.n_dims == 1) {
            EXPECT_EQ(t.view.type, DType::kF32) << t.name;
        } else if (t.name.find("ffn_down") != std::string::npos) {
            EXPECT_EQ(t.view.type, DType::kF16) << t.name;
        } else {
            ASSERT_EQ(t.view.type, DType::kQ8_0) << t.name;
            ASSERT_EQ(u->view.type, DType::kQ8_0) << t.name;
            ASSERT_EQ(t.view.nbytes, u->view.nbytes);
            EXPECT_EQ(std::memcmp(t.view.data, u->view.data, static_cast<size_t>(t.view.nbytes)), 0) << t.name;
            ++n_q8;
        }
    }
    EXPECT_EQ(n_q8, 1 + 5 * 6);  // token_embd and six matrices per layer
    const std::vector<float> r = reference();
    EXPECT_LT(max_abs_diff(logits_of(out), r) / stddev(r), 5e-2);
}

TEST_F(Convert, F16FromHfMatchesLlamaCppF16) {
    const std::string out = dir_.file("f16.gguf");
    std::string text;
    ASSERT_EQ(convert(shared_path("models/hf/stories260K"), out,
                      "--type F16 --tokenizer " + quote(shared_path("models/llama2c/tok512.bin")), &text),
              0)
        << text;
    auto f = formats::GgufFile::open(out);
    auto ref = formats::GgufFile::open(shared_path("models/gguf/stories260K-F16.gguf"));
    ASSERT_TRUE(f.is_ok() && ref.is_ok());
    EXPECT_EQ((*f)->get_int("general.file_type"), 1);
    for (const formats::GgufTensorInfo& t : (*f)->tensors()) {
        const formats::GgufTensorInfo* u = (*ref)->find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        ASSERT_EQ(t.view.type, u->view.type) << t.name;
        ASSERT_EQ(t.view.nbytes, u->view.nbytes) << t.name;
        EXPECT_EQ(std::memcmp(t.view.data, u->view.data, static_cast<size_t>(t.view.nbytes)), 0) << t.name;
    }
}

TEST_F(Convert, ConvertedModelRunsTheGreedyStory) {
    const std::string out = dir_.file("l2c.gguf");
    ASSERT_EQ(convert(shared_path("models/llama2c/stories260K.bin"), out,
                      "--tokenizer " + quote(shared_path("models/llama2c/tok512.bin"))),
              0);
    std::string text;
    ASSERT_EQ(run_command(tokamak_binary() + " run -m " + quote(out) +
                              " -p 'Once upon a time' -n 30 --temp 0 -t 2 2>/dev/null",
                          &text),
              0);
    EXPECT_EQ(text.rfind(", there was a little girl named Lily. She loved to play outside", 0), 0u) << text;
}

TEST_F(Convert, Errors) {
    std::string text;
    EXPECT_NE(convert(shared_path("models/llama2c/stories260K.bin"), dir_.file("x.gguf"), "", &text), 0);
    EXPECT_NE(text.find("--tokenizer"), std::string::npos) << text;
    text.clear();
    EXPECT_NE(convert(shared_path("models/gguf/stories260K.gguf"), dir_.file("x.gguf"), "--type Q8_K", &text), 0);
    EXPECT_NE(text.find("--type Q8_K"), std::string::npos) << text;
    text.clear();
    EXPECT_NE(convert(dir_.file("missing.bin"), dir_.file("x.gguf"), "", &text), 0);
    EXPECT_NE(text.find("missing.bin"), std::string::npos) << text;
    EXPECT_FALSE(std::filesystem::exists(dir_.file("x.gguf")));
}

// `-m hf://...` / --hf-repo: the CLI downloads from a local stand-in for the hub
// (tests/formats/hub_server.py), runs the model, and later works from the cache alone.
TEST(HubCli, DownloadRunThenOffline) {
    if (run_command("/usr/bin/python3 -c 'import http.server' 2>/dev/null") != 0) {
        GTEST_SKIP() << "needs /usr/bin/python3";
    }
    testing::TempDir dir;
    const std::string root = dir.file("root");
    std::filesystem::create_directories(root + "/acme/stories/main");
    std::filesystem::create_symlink(shared_path("models/gguf/stories260K.gguf"),
                                    root + "/acme/stories/main/stories260K.gguf");
    const std::string server = (std::filesystem::path(__FILE__).parent_path().parent_path() /
                                "formats" / "hub_server.py")
                                   .string();
    FILE* pipe = popen(("/usr/bin/python3 " + quote(server) + " " + quote(root) + " --log " +
                        quote(dir.file("log")))
                           .c_str(),
                       "r");
    ASSERT_NE(pipe, nullptr);
    char line[64] = {0};
    ASSERT_NE(std::fgets(line, sizeof(line), pipe), nullptr);
    int port = 0, pid = 0;
    ASSERT_EQ(std::sscanf(line, "%d %d", &port, &pid), 2);
    const std::string env = "NO_PROXY=127.0.0.1 HF_ENDPOINT=http://127.0.0.1:" +
                            std::to_string(port) + " TOKAMAK_CACHE=" + quote(dir.file("cache")) +
                            " ";
    std::string out;
    const int rc = run_command(env + tokamak_binary() +
                                   " run -m hf://acme/stories/stories260K.gguf -p 'Once upon a "
                                   "time' -n 12 --temp 0 2>&1",
                               &out);
    kill(pid, SIGTERM);
    pclose(pipe);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(", there was a little girl named Lily"), std::string::npos) << out;
    EXPECT_TRUE(std::filesystem::exists(dir.file("cache") +
                                        "/hub/acme--stories/main/stories260K.gguf"));
    // The hub is gone: --offline (and the unreachable-hub fallback) use the cache.
    ASSERT_EQ(run_command(env + tokamak_binary() +
                              " info --hf-repo acme/stories --hf-file stories260K.gguf --offline "
                              "2>&1",
                          &out),
              0)
        << out;
    EXPECT_NE(out.find("downloaded from: hf://acme/stories@main/stories260K.gguf"),
              std::string::npos)
        << out;
    EXPECT_EQ(run_command(env + tokamak_binary() +
                              " run -m hf://acme/stories/stories260K.gguf -p hi -n 2 2>&1",
                          &out),
              0)
        << out;
    EXPECT_NE(out.find("using the cached copy"), std::string::npos) << out;
    // Not cached and offline: a clear error, non-zero exit.
    EXPECT_NE(run_command(env + tokamak_binary() +
                              " run -m hf://acme/stories/other.gguf --offline -p hi 2>&1",
                          &out),
              0);
    EXPECT_NE(out.find("not in the cache"), std::string::npos) << out;
}

}  // namespace
}  // namespace tk

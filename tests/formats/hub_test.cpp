// hf:// downloads against a local stand-in for the hub (hub_server.py on 127.0.0.1): the hub's
// URL layout and headers, resume after a dropped connection, sha256 and size checks, HF_TOKEN,
// HF_ENDPOINT / TOKAMAK_CACHE, and use of the cache when offline. Also SHA-256 test vectors.
#include "formats/hub.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "formats/sha256.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

TEST(Sha256Test, KnownVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // Streaming in odd pieces gives the same digest as one call.
    std::string million(1000000, 'a');
    Sha256 h;
    for (size_t at = 0; at < million.size();) {
        const size_t n = std::min<size_t>(million.size() - at, 1 + at % 131);
        h.update(million.data() + at, n);
        at += n;
    }
    EXPECT_EQ(h.finish_hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, FileMatchesSharedReadme) {
    auto sha = sha256_file_hex(testing::shared_path("models/gguf/stories260K.gguf"));
    ASSERT_TRUE(sha.is_ok()) << sha.status().to_string();
    EXPECT_EQ(*sha, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
    EXPECT_FALSE(sha256_file_hex("/nonexistent/file").is_ok());
}

TEST(HubUriTest, Parses) {
    auto f = parse_hub_uri("hf://ggml-org/models/tinyllamas/stories260K.gguf");
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    EXPECT_EQ(f->repo, "ggml-org/models");
    EXPECT_EQ(f->file, "tinyllamas/stories260K.gguf");
    EXPECT_EQ(f->revision, "main");
    auto r = parse_hub_uri("hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF@v1.0/qwen2.5-0.5b-q8_0.gguf");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->revision, "v1.0");
    EXPECT_EQ(r->file, "qwen2.5-0.5b-q8_0.gguf");
    HubOptions o;
    o.endpoint = "https://example.org/";
    EXPECT_EQ(hub_file_url(*r, o),
              "https://example.org/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/v1.0/"
              "qwen2.5-0.5b-q8_0.gguf");
    auto spaced = make_hub_file("a/b", "dir/my file+1.gguf");
    ASSERT_TRUE(spaced.is_ok());
    EXPECT_EQ(hub_file_url(*spaced, o),
              "https://example.org/a/b/resolve/main/dir/my%20file%2B1.gguf");
}

TEST(HubUriTest, RejectsBadUris) {
    for (const char* bad :
         {"hf://owner", "hf://owner/repo", "hf://owner/repo/", "hf:///repo/f.gguf",
          "hf://owner/repo/../x.gguf", "hf://owner/repo/a//b.gguf", "hf://ow ner/repo/f.gguf",
          "hf://owner/repo@/f.gguf", "hf://owner/repo@../f.gguf", "http://owner/repo/f.gguf"}) {
        auto f = parse_hub_uri(bad);
        EXPECT_FALSE(f.is_ok()) << bad;
        if (!f.is_ok()) {
            EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument) << bad;
        }
    }
    EXPECT_FALSE(make_hub_file("noslash", "f.gguf").is_ok());
    EXPECT_FALSE(make_hub_file("a/b/c", "f.gguf").is_ok());
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& v) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size()));
}

std::vector<uint8_t> read_bytes(const std::string& p) { return testing::read_file_bytes(p); }

// Starts hub_server.py over <tmp>/root and stops it at the end of the test.
class HubServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (std::system((std::string(kPython) + " -c 'import http.server' 2>/dev/null").c_str()) !=
            0) {
            GTEST_SKIP() << "needs " << kPython;
        }
        // A proxy from the environment must not see requests for 127.0.0.1.
        setenv("NO_PROXY", "127.0.0.1,localhost", 1);
        unsetenv("HF_TOKEN");
        unsetenv("HF_ENDPOINT");
        unsetenv("HF_HUB_OFFLINE");
        unsetenv("TOKAMAK_CACHE");
        root_ = dir_.file("root");
        fs::create_directories(root_);
        log_ = dir_.file("requests.log");
        config_ = dir_.file("config.json");
        set_config(nlohmann::json::object());
        const std::string script = (fs::path(__FILE__).parent_path() / "hub_server.py").string();
        const std::string cmd = std::string(kPython) + " " + script + " " + root_ + " --log " +
                                log_ + " --config " + config_;
        pipe_ = popen(cmd.c_str(), "r");
        ASSERT_NE(pipe_, nullptr);
        char line[64] = {0};
        ASSERT_NE(std::fgets(line, sizeof(line), pipe_), nullptr) << "hub_server.py did not start";
        int port = 0;
        ASSERT_EQ(std::sscanf(line, "%d %d", &port, &pid_), 2) << line;
        opts_.endpoint = "http://127.0.0.1:" + std::to_string(port);
        opts_.cache_dir = dir_.file("cache");
        opts_.progress = false;
    }
    void TearDown() override {
        if (pid_ > 0) kill(pid_, SIGTERM);
        if (pipe_ != nullptr) pclose(pipe_);
    }
    void set_config(const nlohmann::json& j) { std::ofstream(config_) << j.dump(); }
    // Puts a file on the "hub" and returns its bytes.
    std::vector<uint8_t> publish(const std::string& repo, const std::string& file, size_t n,
                                 uint32_t seed, const std::string& rev = "main") {
        std::vector<uint8_t> v = random_bytes(n, seed);
        write_bytes(fs::path(root_) / repo / rev / file, v);
        return v;
    }
    std::vector<nlohmann::json> requests() const {
        std::vector<nlohmann::json> out;
        std::ifstream in(log_);
        for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
        return out;
    }
    size_t count(const std::string& method, const std::string& path_prefix) const {
        size_t n = 0;
        for (const auto& r : requests()) {
            n += r["method"] == method && r["path"].get<std::string>().starts_with(path_prefix);
        }
        return n;
    }

    testing::TempDir dir_;
    std::string root_, log_, config_;
    FILE* pipe_ = nullptr;
    int pid_ = 0;
    HubOptions opts_;
};

TEST_F(HubServerTest, DownloadsThenUsesTheCache) {
    const auto data = publish("acme/tiny-GGUF", "sub/model-Q8_0.gguf", 300000, 1);
    auto f = parse_hub_uri("hf://acme/tiny-GGUF/sub/model-Q8_0.gguf");
    ASSERT_TRUE(f.is_ok());
    auto path = hub_download(*f, opts_);
    ASSERT_TRUE(path.is_ok()) << path.status().to_string();
    EXPECT_EQ(*path, hub_cache_path(*f, opts_));
    EXPECT_EQ(read_bytes(*path), data);
    EXPECT_EQ(count("HEAD", "/acme/tiny-GGUF/resolve/main/sub/model-Q8_0.gguf"), 1u);
    EXPECT_EQ(count("GET", "/cdn/acme/tiny-GGUF/main/sub/model-Q8_0.gguf"), 1u);

    // Same etag on the hub: no second transfer.
    auto again = hub_download(*f, opts_);
    ASSERT_TRUE(again.is_ok()) << again.status().to_string();
    EXPECT_EQ(count("GET", "/cdn/"), 1u);
    EXPECT_EQ(count("HEAD", "/acme/"), 2u);

    // Offline: from the cache without a request; an unreachable hub falls back to it too.
    HubOptions off = opts_;
    off.offline = true;
    const size_t before = requests().size();
    auto cached = hub_download(*f, off);
    ASSERT_TRUE(cached.is_ok()) << cached.status().to_string();
    EXPECT_EQ(requests().size(), before);
    HubOptions down = opts_;
    down.endpoint = "http://127.0.0.1:1";
    auto fallback = hub_download(*f, down);
    ASSERT_TRUE(fallback.is_ok()) << fallback.status().to_string();
    EXPECT_EQ(*fallback, *path);
    // Not cached and offline: a clear error.
    auto other = make_hub_file("acme/tiny-GGUF", "missing.gguf");
    auto miss = hub_download(*other, off);
    ASSERT_FALSE(miss.is_ok());
    EXPECT_EQ(miss.status().code(), ErrorCode::kNotFound);
    EXPECT_NE(miss.status().message().find("not in the cache"), std::string::npos);
    auto unreachable = hub_download(*other, down);
    ASSERT_FALSE(unreachable.is_ok());
    EXPECT_NE(unreachable.status().message().find("cannot reach the hub"), std::string::npos)
        << unreachable.status().message();

    // A new version on the hub (new etag) is fetched again.
    const auto v2 = publish("acme/tiny-GGUF", "sub/model-Q8_0.gguf", 1000, 2);
    auto updated = hub_download(*f, opts_);
    ASSERT_TRUE(updated.is_ok()) << updated.status().to_string();
    EXPECT_EQ(read_bytes(*updated), v2);
}

TEST_F(HubServerTest, InterruptedTransferResumesOnTheNextRun) {
    const auto data = publish("acme/tiny-GGUF", "model.gguf", 250000, 3);
    set_config({{"drop_once", {{"acme/tiny-GGUF/main/model.gguf", 70000}}}});
    auto f = make_hub_file("acme/tiny-GGUF", "model.gguf");
    HubOptions once = opts_;
    once.max_retries = 0;
    auto first = hub_download(*f, once);
    ASSERT_FALSE(first.is_ok());
    EXPECT_EQ(first.status().code(), ErrorCode::kIo);
    EXPECT_NE(first.status().message().find("70000 of 250000 bytes kept"), std::string::npos)
        << first.status().message();
    EXPECT_NE(first.status().message().find("run again to resume"), std::string::npos);
    EXPECT_FALSE(fs::exists(hub_cache_path(*f, opts_)));

    auto second = hub_download(*f, once);
    ASSERT_TRUE(second.is_ok()) << second.status().to_string();
    EXPECT_EQ(read_bytes(*second), data);
    const auto reqs = requests();
    ASSERT_FALSE(reqs.empty());
    const auto& last = reqs.back();
    EXPECT_EQ(last["method"], "GET");
    EXPECT_EQ(last["range"], "bytes=70000-");
}

TEST_F(HubServerTest, DroppedConnectionIsRetriedWithinOneRun) {
    const auto data = publish("acme/tiny-GGUF", "model.gguf", 200000, 4);
    set_config({{"drop_once", {{"acme/tiny-GGUF/main/model.gguf", 12345}}}});
    auto f = make_hub_file("acme/tiny-GGUF", "model.gguf");
    auto path = hub_download(*f, opts_);
    ASSERT_TRUE(path.is_ok()) << path.status().to_string();
    EXPECT_EQ(read_bytes(*path), data);
    EXPECT_EQ(count("GET", "/cdn/"), 2u);
    EXPECT_EQ(requests().back()["range"], "bytes=12345-");
}

TEST_F(HubServerTest, ServerIgnoringRangeRestartsCleanly) {
    const auto data = publish("acme/tiny-GGUF", "model.gguf", 100000, 5);
    set_config({{"drop_once", {{"acme/tiny-GGUF/main/model.gguf", 5000}}},
                {"ignore_range", {"acme/tiny-GGUF/main/model.gguf"}}});
    auto f = make_hub_file("acme/tiny-GGUF", "model.gguf");
    auto path = hub_download(*f, opts_);
    ASSERT_TRUE(path.is_ok()) << path.status().to_string();
    EXPECT_EQ(read_bytes(*path), data);
}

TEST_F(HubServerTest, WrongChecksumIsAnErrorAndNothingIsKept) {
    publish("acme/tiny-GGUF", "model.gguf", 50000, 6);
    const std::string fake(64, 'a');
    set_config({{"bad_sha", {{"acme/tiny-GGUF/main/model.gguf", fake}}}});
    auto f = make_hub_file("acme/tiny-GGUF", "model.gguf");
    auto r = hub_download(*f, opts_);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);
    EXPECT_NE(r.status().message().find("sha256 mismatch (hub: " + fake), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("deleted"), std::string::npos);
    const fs::path cached = hub_cache_path(*f, opts_);
    EXPECT_FALSE(fs::exists(cached));
    EXPECT_FALSE(fs::exists(cached.parent_path() / ".tokamak" / "model.gguf.part"));
    // Offline afterwards: the bad file is not offered as valid.
    HubOptions off = opts_;
    off.offline = true;
    EXPECT_FALSE(hub_download(*f, off).is_ok());
    // Once the hub announces the right hash the same call succeeds.
    set_config(nlohmann::json::object());
    EXPECT_TRUE(hub_download(*f, opts_).is_ok());
}

TEST_F(HubServerTest, NotFoundAndPrivateRepos) {
    auto missing = make_hub_file("acme/none", "x.gguf");
    auto r = hub_download(*missing, opts_);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
    EXPECT_NE(r.status().message().find("HTTP 404"), std::string::npos) << r.status().message();

    const auto data = publish("acme/secret", "model.gguf", 40000, 7);
    set_config({{"private", {{"acme/secret", "hf_abc123"}}}});
    auto f = make_hub_file("acme/secret", "model.gguf");
    auto denied = hub_download(*f, opts_);
    ASSERT_FALSE(denied.is_ok());
    EXPECT_EQ(denied.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(denied.status().message().find("HF_TOKEN"), std::string::npos)
        << denied.status().message();

    setenv("HF_TOKEN", "hf_abc123", 1);
    auto ok = hub_download(*f, opts_);
    unsetenv("HF_TOKEN");
    ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
    EXPECT_EQ(read_bytes(*ok), data);
    bool saw_bearer = false;
    for (const auto& q : requests()) {
        if (q["method"] == "HEAD" && q["auth"] == "Bearer hf_abc123") saw_bearer = true;
    }
    EXPECT_TRUE(saw_bearer);
}

TEST_F(HubServerTest, EnvironmentPicksEndpointAndCache) {
    const auto data = publish("acme/tiny", "config.json", 777, 8, "dev");
    setenv("HF_ENDPOINT", opts_.endpoint.c_str(), 1);
    setenv("TOKAMAK_CACHE", dir_.file("envcache").c_str(), 1);
    HubOptions o;
    o.progress = false;
    auto f = parse_hub_uri("hf://acme/tiny@dev/config.json");
    ASSERT_TRUE(f.is_ok());
    auto path = hub_download(*f, o);
    unsetenv("HF_ENDPOINT");
    unsetenv("TOKAMAK_CACHE");
    ASSERT_TRUE(path.is_ok()) << path.status().to_string();
    EXPECT_EQ(*path, dir_.file("envcache") + "/hub/acme--tiny/dev/config.json");
    EXPECT_EQ(read_bytes(*path), data);
    // A small (non-LFS) file: answered directly, no CDN hop.
    EXPECT_EQ(count("GET", "/acme/tiny/resolve/dev/config.json"), 1u);
    EXPECT_EQ(count("GET", "/cdn/"), 0u);
}

TEST_F(HubServerTest, ConcurrentDownloadsOfOneFileShareIt) {
    const auto data = publish("acme/tiny-GGUF", "model.gguf", 400000, 9);
    auto f = make_hub_file("acme/tiny-GGUF", "model.gguf");
    Result<std::string> r1 = make_error(ErrorCode::kInternal, "not run");
    Result<std::string> r2 = r1;
    std::thread t1([&] { r1 = hub_download(*f, opts_); });
    std::thread t2([&] { r2 = hub_download(*f, opts_); });
    t1.join();
    t2.join();
    ASSERT_TRUE(r1.is_ok()) << r1.status().to_string();
    ASSERT_TRUE(r2.is_ok()) << r2.status().to_string();
    EXPECT_EQ(read_bytes(*r1), data);
    EXPECT_EQ(count("GET", "/cdn/"), 1u);
}

}  // namespace
}  // namespace tk::formats

// Write backpressure (a client that stops reading holds its request, not server memory, and is
// dropped after the write timeout with its KV blocks freed) and the request log (one JSON line
// per request with every field, prompt text only with log_prompts, agreeing with /metrics).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>

#include "harness.h"
#include "http_client.h"

namespace tk::server {
namespace {

using json = nlohmann::json;
using testing::Client;
using testing::Harness;
using testing::post;
using testing::Reply;
using testing::request;

// A stream big enough to fill every buffer on the way: 400 tokens with 5 alternatives each
// (~300 bytes per chunk) against 16 KiB of write buffer and ~8 KiB kernel buffers each side.
const json kBigStream = {{"prompt", "Once upon a time"}, {"max_tokens", 400}, {"ignore_eos", true},
                         {"logprobs", 5},                {"temperature", 0},  {"stream", true}};

http::ServerConfig small_buffers(std::chrono::milliseconds write_timeout) {
    http::ServerConfig hc;
    hc.write_buffer_bytes = 16u << 10;
    hc.send_buffer_bytes = 4096;
    hc.write_timeout = write_timeout;
    return hc;
}

// Value of an unlabelled metric line "name value"; -1 if absent.
double metric(const std::string& body, const std::string& name) {
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    }
    return -1;
}

std::vector<json> read_log(const std::string& path) {
    std::vector<json> out;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) out.push_back(json::parse(line));
    return out;
}

TEST(Backpressure, StuckReaderHoldsItsRequestNotServerMemoryThenResumes) {
    openai::ApiConfig ac;
    ac.metrics = true;
    Harness h(small_buffers(std::chrono::seconds(60)), ac);
    Client c(h.port, 60, 4096);
    ASSERT_TRUE(c.send("POST", "/v1/completions", kBigStream.dump()));
    // The engine runs the request to its end; the server stops turning its events into bytes
    // once the client's buffers are full, so the request stays in flight.
    ASSERT_TRUE(h.wait_stats([](const engine::EngineStats& s) {
        return s.generated_tokens == 400 && s.running == 0 && s.waiting == 0;
    }));
    Reply m = request(h.port, "GET", "/metrics");
    EXPECT_EQ(metric(m.body, "tokamak_requests_in_flight"), 1) << m.body;
    const double delivered = metric(m.body, "tokamak_generation_tokens_total");
    EXPECT_GT(delivered, 0);
    EXPECT_LT(delivered, 400);  // the rest waits in the engine's stream, not in a byte buffer
    // Reading again drains it: the whole stream arrives, nothing lost.
    Reply r = c.read_reply();
    ASSERT_EQ(r.status, 200);
    const auto ev = r.events();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back(), "[DONE]");
    int tokens = 0;
    for (const std::string& e : ev) {
        if (e == "[DONE]") continue;
        const json j = json::parse(e);
        const json& lp = j["choices"][0]["logprobs"];
        if (lp.is_object()) tokens += static_cast<int>(lp["tokens"].size());
    }
    EXPECT_EQ(tokens, 400);
    m = request(h.port, "GET", "/metrics");
    EXPECT_EQ(metric(m.body, "tokamak_requests_in_flight"), 0);
    EXPECT_EQ(metric(m.body, "tokamak_generation_tokens_total"), 400);
    EXPECT_EQ(metric(m.body, "tokamak_kv_blocks_used"), 0);
}

TEST(Backpressure, StuckReaderIsDroppedAfterWriteTimeoutAndItsBlocksFreed) {
    tk::testing::TempDir dir;
    openai::ApiConfig ac;
    ac.metrics = true;
    ac.request_log = dir.file("requests.jsonl");
    Harness h(small_buffers(std::chrono::milliseconds(200)), ac);
    // Prefill and 199 tokens (more than the buffers hold), then the engine waits at the gate
    // with the request's KV blocks in use.
    h.gate->allow(200);
    Client c(h.port, 60, 4096);
    ASSERT_TRUE(c.send("POST", "/v1/completions", kBigStream.dump()));
    ASSERT_TRUE(h.wait_stats([](const engine::EngineStats& s) { return s.generated_tokens >= 199; }));
    // Never reads. Once the buffers are full no write makes progress and the server gives up.
    ASSERT_TRUE(h.wait_connections(0));
    h.gate->allow(-1);
    EXPECT_TRUE(h.wait_stats([](const engine::EngineStats& s) {
        return s.running == 0 && s.waiting == 0 && s.kv.used == 0;
    }));
    Reply m = request(h.port, "GET", "/metrics");
    EXPECT_EQ(metric(m.body, "tokamak_requests_in_flight"), 0);
    EXPECT_EQ(metric(m.body, "tokamak_requests_cancelled_by_client_total"), 1);
    EXPECT_NE(m.body.find("tokamak_requests_total{endpoint=\"/v1/completions\",status=\"499\"} 1"),
              std::string::npos)
        << m.body;
    const auto log = read_log(ac.request_log);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0]["status"], 499);
    EXPECT_EQ(log[0]["finish_reason"], "cancelled");
    EXPECT_LT(log[0]["completion_tokens"].get<int>(), 400);
}

TEST(RequestLog, EveryRequestHasOneLineWithEveryFieldAndMatchesMetrics) {
    tk::testing::TempDir dir;
    openai::ApiConfig ac;
    ac.metrics = true;
    ac.request_log = dir.file("requests.jsonl");
    http::ServerConfig hc;
    hc.api_keys = {"sekret"};
    hc.max_body_bytes = 4096;
    Harness h(hc, ac);
    const std::vector<std::pair<std::string, std::string>> auth = {
        {"Authorization", "Bearer sekret"}};
    EXPECT_EQ(post(h.port, "/v1/completions",
                   {{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"user", "u1"}}, auth)
                  .status,
              200);
    EXPECT_EQ(post(h.port, "/v1/chat/completions",
                   {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                    {"max_tokens", 3},
                    {"stream", true}},
                   auth)
                  .status,
              200);
    EXPECT_EQ(post(h.port, "/v1/completions", {{"prompt", "x"}, {"temperature", "hot"}}, auth)
                  .status,
              400);
    EXPECT_EQ(post(h.port, "/v1/completions", {{"prompt", "x"}}).status, 401);
    EXPECT_EQ(post(h.port, "/v1/completions", {{"prompt", std::string(5000, 'a')}}, auth).status,
              413);
    // Scraped first: the I/O thread has then finished (and logged) every earlier exchange.
    Reply m = request(h.port, "GET", "/metrics", "", auth);
    ASSERT_EQ(m.status, 200);
    const auto log = read_log(ac.request_log);
    ASSERT_EQ(log.size(), 5u);
    std::map<std::pair<std::string, int>, int> by_status;
    for (const json& l : log) {
        for (const char* k : {"id", "time", "endpoint", "status", "prompt_tokens",
                              "completion_tokens", "queue_ms", "ttft_ms", "total_ms",
                              "finish_reason"})
            EXPECT_TRUE(l.contains(k)) << k << " missing in " << l.dump();
        EXPECT_FALSE(l.contains("prompt")) << "prompt text without log_prompts";
        ++by_status[{l["endpoint"].get<std::string>(), l["status"].get<int>()}];
    }
    EXPECT_EQ(log[0]["endpoint"], "/v1/completions");
    EXPECT_EQ(log[0]["prompt_tokens"], 5);
    EXPECT_EQ(log[0]["completion_tokens"], 6);
    EXPECT_EQ(log[0]["finish_reason"], "length");
    EXPECT_EQ(log[0]["user"], "u1");
    EXPECT_GT(log[0]["ttft_ms"].get<double>(), 0);
    EXPECT_GE(log[0]["total_ms"].get<double>(), log[0]["ttft_ms"].get<double>());
    EXPECT_NE(log[0]["id"], log[1]["id"]);
    EXPECT_EQ(log[1]["endpoint"], "/v1/chat/completions");
    EXPECT_EQ(log[1]["completion_tokens"], 3);
    EXPECT_EQ(log[2]["status"], 400);
    EXPECT_EQ(log[3]["status"], 401);
    EXPECT_EQ(log[4]["status"], 413);

    // /metrics counts the same requests by endpoint and status, and the same tokens.
    const std::regex line(R"re(tokamak_requests_total\{endpoint="([^"]+)",status="(\d+)"\} (\d+))re");
    std::map<std::pair<std::string, int>, int> metrics;
    for (std::sregex_iterator it(m.body.begin(), m.body.end(), line), end; it != end; ++it) {
        const std::string ep = (*it)[1];
        if (ep == "/v1/completions" || ep == "/v1/chat/completions")
            metrics[{ep, std::stoi((*it)[2])}] = std::stoi((*it)[3]);
    }
    EXPECT_EQ(metrics, by_status) << m.body;
    int64_t pt = 0, ct = 0;
    for (const json& l : log) {
        pt += l["prompt_tokens"].get<int64_t>();
        ct += l["completion_tokens"].get<int64_t>();
    }
    EXPECT_EQ(metric(m.body, "tokamak_prompt_tokens_total"), pt);
    EXPECT_EQ(metric(m.body, "tokamak_generation_tokens_total"), ct);
}

TEST(RequestLog, PromptTextOnlyWithLogPrompts) {
    tk::testing::TempDir dir;
    openai::ApiConfig ac;
    ac.request_log = dir.file("requests.jsonl");
    ac.log_prompts = true;
    Harness h({}, ac);
    EXPECT_EQ(post(h.port, "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 2}})
                  .status,
              200);
    const auto log = read_log(ac.request_log);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0]["prompt"], "Once upon a time");
}

}  // namespace
}  // namespace tk::server

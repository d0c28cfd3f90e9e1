// The server in-process over the real stories260K model on 127.0.0.1 with an ephemeral port:
// endpoints, OpenAI semantics (greedy text against the llama2.c oracle, stream == non-stream,
// stop strings, include_usage, n), errors (400, 401, 413, 503) and cancellation on disconnect.
// A gated runner lets a test hold the engine inside a step, so overload and disconnect-during-
// prefill are reproduced without timing luck.
#include "server/server.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/engine.h"
#include "engine/runner.h"
#include "harness.h"
#include "http_client.h"
#include "model/model.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace tk::server {
namespace {

using json = nlohmann::json;
using testing::Client;
using testing::Reply;
using testing::request;
using testing::Harness;
using testing::post;
using testing::stories;


// Concatenated text of a completions or chat SSE stream; checks the framing on the way.
std::string stream_text(const Reply& r, bool chat, std::string* finish = nullptr,
                        json* usage = nullptr) {
    const auto ev = r.events();
    EXPECT_FALSE(ev.empty());
    if (ev.empty()) return "";
    EXPECT_EQ(ev.back(), "[DONE]");
    std::string text;
    for (size_t i = 0; i + 1 < ev.size(); ++i) {
        json j = json::parse(ev[i]);
        EXPECT_EQ(j["object"], chat ? "chat.completion.chunk" : "text_completion");
        if (j["choices"].empty()) {
            if (usage) *usage = j["usage"];
            continue;
        }
        const json& c = j["choices"][0];
        if (chat) {
            if (i == 0) {
                EXPECT_EQ(c["delta"]["role"], "assistant");
            }
            if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
        } else {
            text += c["text"].get<std::string>();
        }
        if (!c["finish_reason"].is_null() && finish) *finish = c["finish_reason"];
    }
    return text;
}

// Greedy continuation of "Once upon a time" by the llama2.c oracle (argmax per position).
std::string oracle_text(int n_tokens) {
    std::ifstream f(
        tk::testing::shared_path("models/reference/stories260K-greedy-once-upon-a-time.txt"));
    std::string line;
    std::vector<int32_t> prompt, all;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ss(line);
        int pos = 0, in = 0, argmax = 0;
        ss >> pos >> in >> argmax;
        if (pos < 5) prompt.push_back(in);  // BOS + "Once upon a time"
        // The argmax at the last prompt position and after is the greedy continuation.
        if (pos >= 4 && static_cast<int>(all.size()) < n_tokens) all.push_back(argmax);
    }
    all.insert(all.begin(), prompt.begin(), prompt.end());
    const auto& tok = stories().tokenizer();
    const std::string pre = tok.detokenize(prompt, false, false);
    const std::string full = tok.detokenize(all, false, false);
    EXPECT_EQ(full.rfind(pre, 0), 0u);
    return full.substr(pre.size());
}

TEST(Server, HealthAndModels) {
    Harness h;
    Reply r = request(h.port, "GET", "/health");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.json()["status"], "ok");
    r = request(h.port, "GET", "/v1/models");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.json()["object"], "list");
    EXPECT_EQ(r.json()["data"][0]["id"], "stories");
    EXPECT_EQ(request(h.port, "GET", "/nope").status, 404);
    EXPECT_EQ(request(h.port, "GET", "/v1/completions").status, 405);
}

TEST(Server, HealthIsLoadingBeforeAttach) {
    http::ServerConfig hc;
    hc.port = 0;
    Server srv(hc, {});
    ASSERT_TRUE(srv.listen().is_ok());
    std::thread io([&] { srv.run(); });
    Reply r = request(srv.port(), "GET", "/health");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.json()["status"], "loading");
    EXPECT_EQ(post(srv.port(), "/v1/completions", {{"prompt", "x"}}).status, 503);
    srv.shutdown(std::chrono::milliseconds(0));
    io.join();
}

TEST(Server, CompletionMatchesOracleStreamAndNot) {
    Harness h;
    const int n = 20;
    json body = {{"prompt", "Once upon a time"},
                 {"max_tokens", n},
                 {"temperature", 0},
                 {"model", "stories"}};
    Reply r = post(h.port, "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.json();
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["model"], "stories");
    EXPECT_TRUE(j["id"].is_string());
    EXPECT_TRUE(j["created"].is_number_integer());
    EXPECT_TRUE(j["system_fingerprint"].is_string());
    const std::string text = j["choices"][0]["text"];
    EXPECT_EQ(text, oracle_text(n));
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
    EXPECT_EQ(j["usage"]["completion_tokens"], n);

    body["stream"] = true;
    Reply s = post(h.port, "/v1/completions", body);
    ASSERT_EQ(s.status, 200);
    EXPECT_EQ(s.headers["content-type"], "text/event-stream");
    std::string finish;
    EXPECT_EQ(stream_text(s, false, &finish), text);
    EXPECT_EQ(finish, "length");
}

TEST(Server, ChatFallbackTemplate) {
    Harness h;
    json body = {
        {"messages",
         {{{"role", "system"}, {"content", "Be brief."}},
          {{"role", "user"},
           {"content",
            {{{"type", "text"}, {"text", "Tell"}}, {{"type", "text"}, {"text", "a story"}}}}}}},
        {"max_tokens", 12},
        {"temperature", 0}};
    Reply r = post(h.port, "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.json();
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
    // The prompt is the ChatML-like fallback, content parts joined by newlines.
    const std::string expect_prompt =
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nTell\na "
        "story<|im_end|>\n<|im_start|>assistant\n";
    Reply t = post(h.port, "/tokenize", {{"content", expect_prompt}});
    ASSERT_EQ(t.status, 200);
    EXPECT_EQ(j["usage"]["prompt_tokens"], t.json()["tokens"].size());

    body["stream"] = true;
    Reply s = post(h.port, "/v1/chat/completions", body);
    ASSERT_EQ(s.status, 200);
    EXPECT_EQ(stream_text(s, true), j["choices"][0]["message"]["content"].get<std::string>());
}

TEST(Server, StopStringsNeverLeak) {
    Harness h;
    const std::string full = oracle_text(40);
    // A stop string from the middle of the greedy text, spanning token boundaries.
    const size_t at = full.find(' ', 20);
    ASSERT_NE(at, std::string::npos);
    const std::string stop = full.substr(at, 4);
    const std::string expect = full.substr(0, full.find(stop));
    json body = {{"prompt", "Once upon a time"},
                 {"max_tokens", 40},
                 {"temperature", 0},
                 {"stop", {"zzzz", stop}}};
    Reply r = post(h.port, "/v1/completions", body);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.json()["choices"][0]["text"], expect);
    EXPECT_EQ(r.json()["choices"][0]["finish_reason"], "stop");

    body["stream"] = true;
    Reply s = post(h.port, "/v1/completions", body);
    std::string finish;
    EXPECT_EQ(stream_text(s, false, &finish), expect);
    EXPECT_EQ(finish, "stop");
    EXPECT_EQ(s.body.find(stop), std::string::npos);
    // The stopped request's blocks are given back.
    EXPECT_TRUE(h.wait_stats(
        [](const engine::EngineStats& st) { return st.running == 0 && st.kv.used == 0; }));
}

TEST(Server, IncludeUsageAndN) {
    Harness h;
    json body = {{"prompt", "Once upon a time"},
                 {"max_tokens", 8},
                 {"temperature", 1.0},
                 {"seed", 42},
                 {"n", 2},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}}};
    Reply s = post(h.port, "/v1/completions", body);
    ASSERT_EQ(s.status, 200);
    const auto ev = s.events();
    ASSERT_GE(ev.size(), 3u);
    json last = json::parse(ev[ev.size() - 2]);
    EXPECT_TRUE(last["choices"].empty());
    EXPECT_EQ(last["usage"]["prompt_tokens"], 5);
    EXPECT_EQ(last["usage"]["completion_tokens"], 16);
    EXPECT_EQ(last["usage"]["total_tokens"], 21);
    std::string texts[2];
    for (size_t i = 0; i + 2 < ev.size(); ++i) {
        json j = json::parse(ev[i]);
        const int idx = j["choices"][0]["index"];
        ASSERT_TRUE(idx == 0 || idx == 1);
        texts[idx] += j["choices"][0]["text"].get<std::string>();
    }

    body["stream"] = false;
    Reply r = post(h.port, "/v1/completions", body);
    ASSERT_EQ(r.status, 200);
    json j = r.json();
    ASSERT_EQ(j["choices"].size(), 2u);
    // Same seed, same texts, streamed or not.
    EXPECT_EQ(j["choices"][0]["text"], texts[0]);
    EXPECT_EQ(j["choices"][1]["text"], texts[1]);
    EXPECT_EQ(j["usage"]["completion_tokens"], 16);
}

TEST(Server, BadRequests) {
    Harness h;
    auto check = [&](const std::string& path, const std::string& body, const std::string& param) {
        Reply r = request(h.port, "POST", path, body);
        EXPECT_EQ(r.status, 400) << body;
        json e = r.json()["error"];
        EXPECT_EQ(e["type"], "invalid_request_error") << body;
        EXPECT_TRUE(e["message"].is_string());
        if (param.empty()) {
            EXPECT_TRUE(e["param"].is_null());
        } else {
            EXPECT_EQ(e["param"], param) << body;
        }
        EXPECT_TRUE(e.contains("code"));
    };
    check("/v1/completions", "{not json", "");
    check("/v1/completions", "[]", "");
    check("/v1/completions", R"({"prompt":"x","temperature":"hot"})", "temperature");
    check("/v1/completions", R"({"prompt":"x","max_tokens":1.5})", "max_tokens");
    check("/v1/completions", R"({"prompt":"x","stop":[1]})", "stop");
    check("/v1/completions", R"({"prompt":"x","n":0})", "n");
    check("/v1/completions", R"({"prompt":{"a":1}})", "prompt");
    check("/v1/completions", R"({"prompt":[1,999999]})", "prompt");
    check("/v1/chat/completions", R"({"messages":[]})", "messages");
    check("/v1/chat/completions", R"({"messages":[{"role":"wizard","content":"x"}]})",
          "messages[0].role");
    check("/v1/chat/completions", R"({"messages":[{"role":"user","content":5}]})",
          "messages[0].content");
    check("/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})",
          "stream");
    // Unknown fields are ignored.
    EXPECT_EQ(request(h.port, "POST", "/v1/completions",
                      R"({"prompt":"x","max_tokens":2,"frobnicate":{"a":[1]}})")
                  .status,
              200);
    // A prompt longer than the context names the limit.
    std::string long_prompt;
    const int64_t n_ctx = h.engine->config().n_ctx;
    for (int64_t i = 0; i < n_ctx / 4 + 8; ++i) long_prompt += "Once upon a time ";
    Reply r = post(h.port, "/v1/completions", {{"prompt", long_prompt}});
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.json()["error"]["code"], "context_length_exceeded");
    EXPECT_NE(r.json()["error"]["message"].get<std::string>().find(std::to_string(n_ctx)),
              std::string::npos)
        << r.body;
}

TEST(Server, BodyLimit413) {
    http::ServerConfig hc;
    hc.max_body_bytes = 1024;
    Harness h(hc);
    Reply r = post(h.port, "/v1/completions", {{"prompt", std::string(4096, 'a')}});
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.json()["error"]["code"], "request_too_large");
    EXPECT_EQ(request(h.port, "GET", "/health").status, 200);
}

TEST(Server, ApiKey401) {
    http::ServerConfig hc;
    hc.api_keys = {"sekret"};
    Harness h(hc);
    EXPECT_EQ(request(h.port, "GET", "/health").status, 200);
    Reply r = request(h.port, "GET", "/v1/models");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.json()["error"]["type"], "authentication_error");
    EXPECT_EQ(request(h.port, "GET", "/v1/models", "", {{"Authorization", "Bearer sekreT"}}).status,
              401);
    EXPECT_EQ(
        request(h.port, "GET", "/v1/models", "", {{"Authorization", "Bearer sekret2"}}).status,
        401);
    EXPECT_EQ(request(h.port, "GET", "/v1/models", "", {{"Authorization", "Bearer sekret"}}).status,
              200);
}

TEST(Server, CorsOnlyForConfiguredOrigins) {
    http::ServerConfig hc;
    hc.cors_origins = {"http://good.example"};
    Harness h(hc);
    Reply r = request(h.port, "GET", "/v1/models", "", {{"Origin", "http://good.example"}});
    EXPECT_EQ(r.headers["access-control-allow-origin"], "http://good.example");
    r = request(h.port, "GET", "/v1/models", "", {{"Origin", "http://evil.example"}});
    EXPECT_EQ(r.headers.count("access-control-allow-origin"), 0u);
    r = request(h.port, "OPTIONS", "/v1/chat/completions", "",
                {{"Origin", "http://good.example"}, {"Access-Control-Request-Method", "POST"}});
    EXPECT_EQ(r.status, 204);
    EXPECT_NE(r.headers["access-control-allow-headers"].find("Authorization"), std::string::npos);
}

TEST(Server, KeepAliveServesManyRequestsOnOneConnection) {
    Harness h;
    Client c(h.port);
    ASSERT_TRUE(c.ok());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(
            c.send("POST", "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 3}}.dump()));
        EXPECT_EQ(c.read_reply().status, 200);
        ASSERT_TRUE(c.send("GET", "/health"));
        EXPECT_EQ(c.read_reply().status, 200);
    }
    EXPECT_EQ(h.srv->open_connections(), 1u);
}

TEST(Server, QueueFull503WithRetryAfter) {
    openai::ApiConfig ac;
    ac.max_queue = 0;
    Harness h({}, ac, /*max_seqs=*/1);
    h.gate->allow(0);  // the first request's prefill waits at the gate
    Client a(h.port);
    ASSERT_TRUE(
        a.send("POST", "/v1/completions",
               json{{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"stream", true}}.dump()));
    ASSERT_TRUE(h.gate->wait_blocked());
    Reply r = post(h.port, "/v1/completions", {{"prompt", "Hello"}, {"max_tokens", 4}});
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.headers["retry-after"], "1");
    EXPECT_EQ(r.json()["error"]["code"], "server_overloaded");
    h.gate->allow(-1);
    Reply ar = a.read_reply();
    EXPECT_EQ(ar.status, 200);
    EXPECT_EQ(ar.events().back(), "[DONE]");
    // Room again once it finished.
    EXPECT_EQ(post(h.port, "/v1/completions", {{"prompt", "Hello"}, {"max_tokens", 2}}).status,
              200);
}

TEST(Server, DisconnectDuringPrefillCancelsAndFreesBlocks) {
    Harness h;
    h.gate->allow(0);
    {
        Client a(h.port);
        ASSERT_TRUE(a.send("POST", "/v1/completions",
                           json{{"prompt", "Once upon a time"},
                                {"max_tokens", 400},
                                {"ignore_eos", true},
                                {"stream", true}}
                               .dump()));
        ASSERT_TRUE(h.gate->wait_blocked());
    }  // the client goes away while its prompt is being computed
    ASSERT_TRUE(h.wait_connections(0));
    h.gate->allow(-1);
    EXPECT_TRUE(h.wait_stats([](const engine::EngineStats& s) {
        return s.cancelled == 1 && s.running == 0 && s.waiting == 0 && s.kv.used == 0;
    }));
    EXPECT_LE(h.engine->stats().generated_tokens, 2);
}

TEST(Server, DisconnectMidStreamCancelsAndFreesBlocks) {
    Harness h;
    h.gate->allow(4);  // prefill and a few tokens, then the engine waits
    {
        Client a(h.port);
        ASSERT_TRUE(a.send("POST", "/v1/completions",
                           json{{"prompt", "Once upon a time"},
                                {"max_tokens", 400},
                                {"ignore_eos", true},
                                {"stream", true}}
                               .dump()));
        Reply head;
        ASSERT_TRUE(a.read_head(head));
        EXPECT_EQ(head.status, 200);
        EXPECT_NE(a.read_until("data: ").find("data: "), std::string::npos);
    }
    ASSERT_TRUE(h.wait_connections(0));
    h.gate->allow(-1);
    EXPECT_TRUE(h.wait_stats([](const engine::EngineStats& s) {
        return s.cancelled == 1 && s.running == 0 && s.kv.used == 0;
    }));
    EXPECT_LT(h.engine->stats().generated_tokens, 10);
}

TEST(Server, TokenizeDetokenizeAndMetrics) {
    openai::ApiConfig ac;
    ac.metrics = true;
    Harness h({}, ac);
    Reply t = post(h.port, "/tokenize", {{"content", "Once upon a time"}});
    ASSERT_EQ(t.status, 200);
    EXPECT_EQ(t.json()["tokens"], json({1, 403, 407, 261, 378}));
    Reply d = post(h.port, "/detokenize", {{"tokens", {403, 407, 261, 378}}});
    ASSERT_EQ(d.status, 200);
    EXPECT_EQ(d.json()["content"], "Once upon a time");
    EXPECT_EQ(
        post(h.port, "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 5}}).status,
        200);
    Reply m = request(h.port, "GET", "/metrics");
    ASSERT_EQ(m.status, 200);
    for (const char* ep : {"/tokenize", "/detokenize", "/v1/completions"}) {
        EXPECT_NE(m.body.find("tokamak_requests_total{endpoint=\"" + std::string(ep) +
                              "\",status=\"200\"} 1"),
                  std::string::npos)
            << m.body;
    }
    EXPECT_NE(m.body.find("tokamak_generation_tokens_total 5"), std::string::npos);
    EXPECT_NE(m.body.find("tokamak_prompt_tokens_total 5"), std::string::npos);
    EXPECT_NE(m.body.find("tokamak_time_to_first_token_seconds_count 1"), std::string::npos);
    EXPECT_NE(m.body.find("tokamak_kv_blocks_total 256"), std::string::npos);
}

}  // namespace
}  // namespace tk::server

// `tokamak serve` as a process: prints its port, serves, and exits 0 on SIGTERM after finishing
// the request in flight.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "http_client.h"
#include "testutil/testutil.h"

namespace tk::server {
namespace {

using json = nlohmann::json;
using testing::Client;
using testing::Reply;

class ServeProcess {
public:
    explicit ServeProcess(const std::vector<std::string>& extra) {
        int out[2];
        if (::pipe(out) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            ::close(out[0]);
            ::close(out[1]);
            std::vector<std::string> args = {
                tk::testing::tokamak_binary(),
                "serve",
                "-m",
                tk::testing::shared_path("models/gguf/stories260K.gguf"),
                "--port",
                "0",
                "-t",
                "1"};
            args.insert(args.end(), extra.begin(), extra.end());
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        out_ = ::fdopen(out[0], "r");
        char line[256];
        // The first line names the port; fgets blocks until the server prints it or dies.
        if (out_ != nullptr && std::fgets(line, sizeof line, out_) != nullptr) {
            const std::string s = line;
            const size_t colon = s.rfind(':');
            if (s.rfind("listening on http://127.0.0.1:", 0) == 0 && colon != std::string::npos)
                port_ = std::stoi(s.substr(colon + 1));
        }
    }
    ~ServeProcess() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ != nullptr) std::fclose(out_);
    }
    int port() const { return port_; }
    pid_t pid() const { return pid_; }

    // Polls until the process exits (bounded); its exit status, or -1 on timeout.
    int wait_exit() {
        std::mutex mu;
        std::condition_variable cv;
        for (int i = 0; i < 3000; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                reaped_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::unique_lock lock(mu);
            cv.wait_for(lock, std::chrono::milliseconds(10));
        }
        return -1;
    }
    bool wait_ready() {
        std::mutex mu;
        std::condition_variable cv;
        for (int i = 0; i < 3000; ++i) {
            if (testing::request(port_, "GET", "/health").status == 200) return true;
            std::unique_lock lock(mu);
            cv.wait_for(lock, std::chrono::milliseconds(10));
        }
        return false;
    }

private:
    pid_t pid_ = -1;
    FILE* out_ = nullptr;
    int port_ = 0;
    bool reaped_ = false;
};

TEST(ServeBinary, SigtermFinishesRunningStreamAndExitsZero) {
    ServeProcess p({"--metrics"});
    ASSERT_GT(p.port(), 0);
    ASSERT_TRUE(p.wait_ready());
    Client c(p.port());
    ASSERT_TRUE(c.send("POST", "/v1/completions",
                       json{{"prompt", "Once upon a time"},
                            {"max_tokens", 200},
                            {"ignore_eos", true},
                            {"temperature", 0},
                            {"stream", true}}
                           .dump()));
    Reply head;
    ASSERT_TRUE(c.read_head(head));
    ASSERT_EQ(head.status, 200);
    ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
    // The stream in flight still ends properly.
    const std::string rest = c.read_until("data: [DONE]");
    EXPECT_NE(rest.find("data: [DONE]"), std::string::npos);
    EXPECT_NE(rest.find("\"finish_reason\":\"length\""), std::string::npos);
    EXPECT_EQ(p.wait_exit(), 0);
}

TEST(ServeBinary, SigintIdleExitsZero) {
    ServeProcess p({});
    ASSERT_GT(p.port(), 0);
    ASSERT_TRUE(p.wait_ready());
    ASSERT_EQ(::kill(p.pid(), SIGINT), 0);
    EXPECT_EQ(p.wait_exit(), 0);
}

}  // namespace
}  // namespace tk::server

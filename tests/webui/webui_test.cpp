// The chat page as the HTTP server serves it: content types, cache validators, no API key
// needed for the page itself, the embedded bytes equal the source files, and --no-webui.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "server/http_client.h"
#include "server/server.h"
#include "server/webui/webui.h"
#include "testutil/testutil.h"

namespace tk::server {
namespace {

using testing::Client;
using testing::Reply;
using testing::request;

std::string source_file(const std::string& name) {
    // Tests run from the source root (CMake's WORKING_DIRECTORY).
    std::ifstream f("src/server/webui/" + name, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

// A server without a model: the page needs none, and the API answers 401/503 meanwhile.
class PageServer {
public:
    explicit PageServer(bool webui) : srv_(config(), {}, webui) {
        EXPECT_TRUE(srv_.listen().is_ok());
        io_ = std::thread([this] { srv_.run(); });
    }
    ~PageServer() {
        srv_.shutdown(std::chrono::milliseconds(0));
        io_.join();
    }
    int port() const { return srv_.port(); }

private:
    static http::ServerConfig config() {
        http::ServerConfig hc;
        hc.port = 0;
        hc.api_keys = {"secret"};
        return hc;
    }
    Server srv_;
    std::thread io_;
};

// Status and headers only: a 304 has no body and keeps the connection open.
Reply head_only(int port, const std::string& path, const std::string& if_none_match) {
    Client c(port);
    Reply r;
    if (c.ok() && c.send("GET", path, "", {{"If-None-Match", if_none_match}})) c.read_head(r);
    return r;
}

TEST(WebUi, PageAndAssetsServedWithTypesAndValidators) {
    PageServer s(true);
    const struct {
        const char* path;
        const char* file;
        const char* type;
    } cases[] = {{"/", "index.html", "text/html; charset=utf-8"},
                 {"/index.html", "index.html", "text/html; charset=utf-8"},
                 {"/webui/app.js", "app.js", "text/javascript; charset=utf-8"},
                 {"/webui/markdown.js", "markdown.js", "text/javascript; charset=utf-8"},
                 {"/webui/style.css", "style.css", "text/css; charset=utf-8"},
                 {"/webui/favicon.svg", "favicon.svg", "image/svg+xml"}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.path);
        Reply r = request(s.port(), "GET", c.path);  // no API key: the page is exempt
        ASSERT_EQ(r.status, 200);
        EXPECT_EQ(r.headers["content-type"], c.type);
        EXPECT_EQ(r.headers["cache-control"], "no-cache");
        EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
        const std::string etag = r.headers["etag"];
        ASSERT_EQ(etag.size(), 22u);
        EXPECT_EQ(etag.front(), '"');
        const std::string src = source_file(c.file);
        ASSERT_FALSE(src.empty());
        EXPECT_EQ(r.body, src);  // the binary carries the files byte for byte

        Reply same = head_only(s.port(), c.path, etag);
        EXPECT_EQ(same.status, 304);
        EXPECT_EQ(same.headers["etag"], etag);
        EXPECT_EQ(head_only(s.port(), c.path, "\"x\", W/" + etag).status, 304);
        EXPECT_EQ(request(s.port(), "GET", c.path, "", {{"If-None-Match", "\"other\""}}).status,
                  200);
    }
    Reply page = request(s.port(), "GET", "/");
    EXPECT_NE(page.headers["content-security-policy"].find("default-src 'self'"),
              std::string::npos);
    // The API itself still wants the key.
    EXPECT_EQ(request(s.port(), "GET", "/v1/models").status, 401);
    EXPECT_EQ(request(s.port(), "GET", "/webui/nope.js").status, 401);
    EXPECT_EQ(request(s.port(), "POST", "/", "x").status, 405);
}

TEST(WebUi, PageReferencesOnlyEmbeddedFiles) {
    const std::string html = source_file("index.html");
    size_t refs = 0;
    for (const std::string attr : {"src=\"", "href=\""}) {
        for (size_t p = html.find(attr); p != std::string::npos; p = html.find(attr, p + 1)) {
            const size_t b = p + attr.size();
            const std::string url = html.substr(b, html.find('"', b) - b);
            EXPECT_NE(webui::find_asset(url), nullptr) << url;  // nothing from outside
            ++refs;
        }
    }
    EXPECT_EQ(refs, 4u);
    EXPECT_EQ(webui::assets().size(), 5u);
    EXPECT_EQ(webui::assets()[0].path, "/");
}

TEST(WebUi, DisabledGives404) {
    PageServer s(false);
    for (const char* p : {"/", "/index.html", "/webui/app.js"}) {
        const Reply r = request(s.port(), "GET", p, "", {{"Authorization", "Bearer secret"}});
        EXPECT_EQ(r.status, 404) << p;
    }
}

// `tokamak serve --no-webui` turns the page off; without the flag it is on.
int serve_status_of_root(bool no_webui) {
    int out[2];
    if (::pipe(out) != 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::close(out[0]);
        ::close(out[1]);
        std::vector<std::string> args = {tk::testing::tokamak_binary(),
                                         "serve",
                                         "-m",
                                         tk::testing::shared_path("models/gguf/stories260K.gguf"),
                                         "--port",
                                         "0",
                                         "-t",
                                         "1"};
        if (no_webui) args.push_back("--no-webui");
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    FILE* f = ::fdopen(out[0], "r");
    char line[256] = {};
    int status = -1;
    // The first line names the port; the page is served while the model loads.
    if (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
        const std::string s = line;
        const size_t colon = s.rfind(':');
        if (s.rfind("listening on http://127.0.0.1:", 0) == 0 && colon != std::string::npos)
            status = request(std::stoi(s.substr(colon + 1)), "GET", "/").status;
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (f != nullptr) std::fclose(f);
    return status;
}

TEST(WebUi, ServeFlag) {
    EXPECT_EQ(serve_status_of_root(false), 200);
    EXPECT_EQ(serve_status_of_root(true), 404);
}

}  // namespace
}  // namespace tk::server

// Hub download with libcurl: HEAD for the metadata, GET with Range into a .part file, checks,
// rename. See hub.h for the protocol and the cache layout.
#include "formats/hub.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/log.h"
#include "base/progress.h"
#include "base/timer.h"
#include "formats/sha256.h"

namespace tk::formats {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultEndpoint = "https://huggingface.co";
constexpr std::string_view kScheme = "hf://";

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

bool env_true(const char* name) {
    std::string v = env(name);
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    return v == "1" || v == "true" || v == "yes" || v == "on";
}

bool safe_segment(std::string_view s) {
    if (s.empty() || s == "." || s == "..") return false;
    for (char c : s) {
        if (c == '\\' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return false;
    }
    return true;
}

bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool valid_name(std::string_view s) {
    return safe_segment(s) && std::all_of(s.begin(), s.end(), name_char);
}

Status check_file_path(const std::string& file, const std::string& what) {
    if (file.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          what + ": no file name after the repository");
    }
    size_t start = 0;
    while (start <= file.size()) {
        const size_t slash = std::min(file.find('/', start), file.size());
        if (!safe_segment(std::string_view(file).substr(start, slash - start))) {
            return make_error(ErrorCode::kInvalidArgument,
                              what + ": bad file path '" + file +
                                  "' (empty, '.' or '..' components are not allowed)");
        }
        start = slash + 1;
    }
    return Status::ok();
}

// Percent-encodes everything but RFC 3986 unreserved characters (and '/' when keep_slash).
std::string url_encode(std::string_view s, bool keep_slash) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : s) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

// "W/\"abc\"" -> "abc" (huggingface_hub's _normalize_etag).
std::string normalize_etag(std::string e) {
    if (e.starts_with("W/")) e = e.substr(2);
    e.erase(std::remove(e.begin(), e.end(), '"'), e.end());
    return e;
}

bool is_sha256_hex(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
           });
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
}

// ---- libcurl ------------------------------------------------------------------------------

void curl_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Headers of the last response (redirects followed by libcurl reset them), lower-case names.
struct Response {
    long status = 0;
    std::map<std::string, std::string> headers;
    CURLcode code = CURLE_OK;
    std::string error;

    std::string header(const std::string& name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
    Response* r = static_cast<Response*>(user);
    const std::string line(data, size * n);
    if (line.starts_with("HTTP/")) {
        r->headers.clear();
        const size_t sp = line.find(' ');
        r->status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
        std::string key = line.substr(0, colon);
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        r->headers[key] = trim(line.substr(colon + 1));
    }
    return size * n;
}

std::unique_ptr<CURL, CurlDeleter> new_handle(const std::string& url, const std::string& token,
                                              Response* resp, char* errbuf,
                                              std::unique_ptr<curl_slist, SlistDeleter>* headers) {
    curl_init_once();
    std::unique_ptr<CURL, CurlDeleter> c(curl_easy_init());
    if (!c) return c;
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "tokamak/0.1");
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled transfer (under 1 byte/s for a minute) fails and is resumed, not waited on.
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, resp);
    curl_slist* list = curl_slist_append(nullptr, "Accept-Encoding: identity");
    // libcurl sends custom Authorization headers only to the host first asked (CVE-2018-1000007
    // fix), so the token does not follow the redirect to the CDN.
    if (!token.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
    headers->reset(list);
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, list);
    return c;
}

std::string curl_message(const Response& r) {
    return r.error.empty() ? std::string(curl_easy_strerror(r.code)) : r.error;
}

// scheme://host[:port] of an absolute URL.
std::string url_origin(const std::string& url) {
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos) return {};
    const size_t slash = url.find('/', scheme + 3);
    return url.substr(0, slash);
}

// HEAD, following only same-host relative redirects (renamed repos), as huggingface_hub does:
// the first response of an LFS file is the redirect to the CDN and carries X-Linked-*.
Response head(std::string url, const std::string& token) {
    Response r;
    for (int hop = 0; hop < 10; ++hop) {
        r = Response();
        char errbuf[CURL_ERROR_SIZE] = {0};
        std::unique_ptr<curl_slist, SlistDeleter> hl;
        auto c = new_handle(url, token, &r, errbuf, &hl);
        if (!c) {
            r.code = CURLE_FAILED_INIT;
            return r;
        }
        curl_easy_setopt(c.get(), CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, 60L);
        r.code = curl_easy_perform(c.get());
        r.error = errbuf;
        if (r.code != CURLE_OK) return r;
        curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.status);
        const std::string loc = r.header("location");
        if (r.status >= 300 && r.status < 400 && loc.starts_with("/")) {
            url = url_origin(url) + loc;
            continue;
        }
        return r;
    }
    return r;
}

// ---- cache metadata -----------------------------------------------------------------------

struct FileMeta {
    std::string etag;
    int64_t size = -1;  // -1: unknown
    std::string sha256;
    std::string commit;
};

std::optional<FileMeta> read_meta(const fs::path& p) {
    std::ifstream in(p);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    FileMeta m;
    m.etag = j.value("etag", "");
    m.size = j.value("size", int64_t{-1});
    m.sha256 = j.value("sha256", "");
    m.commit = j.value("commit", "");
    return m;
}

Status write_meta(const fs::path& p, const FileMeta& m) {
    nlohmann::json j = {
        {"etag", m.etag}, {"size", m.size}, {"sha256", m.sha256}, {"commit", m.commit}};
    std::ofstream out(p, std::ios::trunc);
    out << j.dump(1) << "\n";
    out.close();
    if (!out) return make_error(ErrorCode::kIo, p.string() + ": cannot write");
    return Status::ok();
}

struct CachePaths {
    fs::path file;       // the complete, checked file
    fs::path meta;       // its FileMeta
    fs::path part;       // the download in progress
    fs::path part_meta;  // the FileMeta the partial download belongs to
};

CachePaths cache_paths(const HubFile& f, const HubOptions& o) {
    const std::string owner = f.repo.substr(0, f.repo.find('/'));
    const std::string name = f.repo.substr(f.repo.find('/') + 1);
    const fs::path rev = fs::path(hub_cache_dir(o)) / "hub" / (owner + "--" + name) / f.revision;
    const fs::path side = rev / ".tokamak" / f.file;
    return {rev / f.file, side.string() + ".json", side.string() + ".part",
            side.string() + ".part.json"};
}

int64_t file_size_or(const fs::path& p, int64_t fallback) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    return ec ? fallback : static_cast<int64_t>(n);
}

void remove_quietly(const fs::path& p) {
    std::error_code ec;
    fs::remove(p, ec);
}

// ---- GET into the .part file --------------------------------------------------------------

struct Sink {
    FILE* out = nullptr;
    const fs::path* part = nullptr;
    Response* resp = nullptr;
    int64_t offset = 0;  // bytes already in the part file when the request was made
    int64_t written = 0;
    int64_t total = -1;
    bool started = false;
    bool bad_status = false;
    bool io_error = false;
    ProgressBar* bar = nullptr;
    Timer timer;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
    Sink* s = static_cast<Sink*>(user);
    const size_t bytes = size * n;
    if (!s->started) {
        s->started = true;
        if (s->resp->status == 200 && s->offset > 0) {
            // The server ignored the Range: start over.
            if (std::freopen(s->part->c_str(), "wb", s->out) == nullptr) {
                s->io_error = true;
                return 0;
            }
            s->offset = 0;
        } else if (s->resp->status != 200 && s->resp->status != 206) {
            s->bad_status = true;
            return 0;
        }
    }
    if (std::fwrite(data, 1, bytes, s->out) != bytes) {
        s->io_error = true;
        return 0;
    }
    s->written += static_cast<int64_t>(bytes);
    if (s->bar != nullptr) {
        const double secs = std::max(1e-3, s->timer.seconds());
        char rate[48];
        std::snprintf(rate, sizeof(rate), "%.1f MB/s",
                      static_cast<double>(s->written) / secs / 1e6);
        s->bar->update(s->offset + s->written, rate);
    }
    return bytes;
}

Status http_status_error(long status, const std::string& url, const HubFile& f) {
    const std::string where = url + ": HTTP " + std::to_string(status);
    if (status == 401 || status == 403) {
        return make_error(ErrorCode::kInvalidArgument,
                          where + " (access denied): set HF_TOKEN to a token that can read " +
                              f.repo +
                              (env("HF_TOKEN").empty() ? "" : " (the one given was refused)"));
    }
    if (status == 404) {
        return make_error(ErrorCode::kNotFound,
                          where + " (not found): check the repository '" + f.repo + "', file '" +
                              f.file + "' and revision '" + f.revision +
                              "' (private or gated repositories also need HF_TOKEN)");
    }
    return make_error(ErrorCode::kIo, where);
}

// One GET attempt, appending to the part file from its current size. *transient is set for
// failures worth a resumed retry (dropped connection, timeout).
Status get_once(const std::string& url, const std::string& token, const fs::path& part,
                int64_t total, ProgressBar* bar, const HubFile& f, bool* transient) {
    *transient = false;
    const int64_t have = file_size_or(part, 0);
    std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(part.c_str(), "ab"), &std::fclose);
    if (!out) return make_error(ErrorCode::kIo, part.string() + ": cannot open for writing");
    Response r;
    char errbuf[CURL_ERROR_SIZE] = {0};
    std::unique_ptr<curl_slist, SlistDeleter> hl;
    auto c = new_handle(url, token, &r, errbuf, &hl);
    if (!c) return make_error(ErrorCode::kInternal, "curl_easy_init failed");
    curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 10L);
    const std::string range = std::to_string(have) + "-";
    if (have > 0) curl_easy_setopt(c.get(), CURLOPT_RANGE, range.c_str());
    Sink sink;
    sink.out = out.get();
    sink.part = &part;
    sink.resp = &r;
    sink.offset = have;
    sink.total = total;
    sink.bar = bar;
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &sink);
    r.code = curl_easy_perform(c.get());
    r.error = errbuf;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.status);
    const bool flushed = std::fflush(out.get()) == 0;
    out.reset();
    if (sink.io_error || !flushed) {
        return make_error(ErrorCode::kIo, part.string() + ": write failed (disk full?)");
    }
    if (sink.bad_status || (r.code == CURLE_OK && r.status != 200 && r.status != 206)) {
        if (r.status == 416) {
            // The part already holds everything the server has: let the checks decide.
            return Status::ok();
        }
        return http_status_error(r.status, url, f);
    }
    if (r.code != CURLE_OK) {
        *transient = r.code == CURLE_PARTIAL_FILE || r.code == CURLE_RECV_ERROR ||
                     r.code == CURLE_OPERATION_TIMEDOUT || r.code == CURLE_GOT_NOTHING ||
                     r.code == CURLE_COULDNT_CONNECT || r.code == CURLE_SEND_ERROR ||
                     r.code == CURLE_HTTP2_STREAM;
        return make_error(ErrorCode::kIo, url + ": transfer failed: " + curl_message(r));
    }
    return Status::ok();
}

}  // namespace

bool is_hub_uri(std::string_view s) { return s.starts_with(kScheme); }

Result<HubFile> make_hub_file(std::string repo, std::string file, std::string revision) {
    const size_t slash = repo.find('/');
    if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos ||
        !valid_name(std::string_view(repo).substr(0, slash)) ||
        !valid_name(std::string_view(repo).substr(slash + 1))) {
        return make_error(
            ErrorCode::kInvalidArgument,
            "hub repository '" + repo + "' must be OWNER/NAME (letters, digits, '-', '_', '.')");
    }
    TK_RETURN_IF_ERROR(check_file_path(file, "hub repository " + repo));
    if (!safe_segment(revision) || revision.find('/') != std::string::npos) {
        return make_error(ErrorCode::kInvalidArgument,
                          "hub revision '" + revision + "' must be a branch, tag or commit name");
    }
    HubFile f;
    f.repo = std::move(repo);
    f.file = std::move(file);
    f.revision = std::move(revision);
    return f;
}

Result<HubFile> parse_hub_uri(std::string_view uri) {
    if (!is_hub_uri(uri)) {
        return make_error(ErrorCode::kInvalidArgument, std::string(uri) + ": not an hf:// URI");
    }
    const std::string rest(uri.substr(kScheme.size()));
    const size_t s1 = rest.find('/');
    const size_t s2 = s1 == std::string::npos ? s1 : rest.find('/', s1 + 1);
    if (s2 == std::string::npos) {
        return make_error(ErrorCode::kInvalidArgument,
                          std::string(uri) + ": expected hf://OWNER/REPO/FILE");
    }
    std::string repo = rest.substr(0, s2);
    std::string revision = "main";
    if (const size_t at = repo.find('@'); at != std::string::npos) {
        revision = repo.substr(at + 1);
        repo = repo.substr(0, at);
    }
    auto f = make_hub_file(repo, rest.substr(s2 + 1), revision);
    if (!f.is_ok()) {
        return make_error(ErrorCode::kInvalidArgument,
                          std::string(uri) + ": " + f.status().message());
    }
    return f;
}

std::string hub_endpoint(const HubOptions& o) {
    std::string e = !o.endpoint.empty() ? o.endpoint : env("HF_ENDPOINT");
    if (e.empty()) e = kDefaultEndpoint;
    while (!e.empty() && e.back() == '/') e.pop_back();
    return e;
}

std::string hub_cache_dir(const HubOptions& o) {
    if (!o.cache_dir.empty()) return o.cache_dir;
    if (std::string c = env("TOKAMAK_CACHE"); !c.empty()) return c;
    if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty()) return xdg + "/tokamak";
    if (std::string home = env("HOME"); !home.empty()) return home + "/.cache/tokamak";
    return ".tokamak-cache";
}

std::string hub_cache_path(const HubFile& f, const HubOptions& o) {
    return cache_paths(f, o).file.string();
}

std::string hub_file_url(const HubFile& f, const HubOptions& o) {
    return hub_endpoint(o) + "/" + f.repo + "/resolve/" + url_encode(f.revision, false) + "/" +
           url_encode(f.file, true);
}

Result<std::string> hub_download(const HubFile& f, const HubOptions& o) {
    const CachePaths cp = cache_paths(f, o);
    std::error_code ec;
    const bool cached = fs::is_regular_file(cp.file, ec);
    const std::string url = hub_file_url(f, o);
    if (o.offline || env_true("HF_HUB_OFFLINE")) {
        if (cached) return cp.file.string();
        return make_error(ErrorCode::kNotFound, "offline mode (HF_HUB_OFFLINE): " + f.repo + "/" +
                                                    f.file + " is not in the cache (" +
                                                    cp.file.string() + ")");
    }
    const std::string token = !o.token.empty() ? o.token : env("HF_TOKEN");

    const Response h = head(url, token);
    if (h.code != CURLE_OK || h.status >= 500 || h.status == 429) {
        const std::string why =
            h.code != CURLE_OK ? curl_message(h) : "HTTP " + std::to_string(h.status);
        if (cached) {
            log_warn(url + ": " + why + "; using the cached copy " + cp.file.string());
            return cp.file.string();
        }
        return make_error(ErrorCode::kIo, url + ": cannot reach the hub (" + why +
                                              ") and there is no cached copy at " +
                                              cp.file.string());
    }
    if (h.status >= 400) return http_status_error(h.status, url, f);

    FileMeta want;
    want.etag = normalize_etag(h.header("x-linked-etag"));
    if (want.etag.empty()) want.etag = normalize_etag(h.header("etag"));
    std::string size_text = h.header("x-linked-size");
    if (size_text.empty() && h.status == 200) size_text = h.header("content-length");
    if (!size_text.empty()) {
        char* end = nullptr;
        const long long n = std::strtoll(size_text.c_str(), &end, 10);
        if (end != size_text.c_str() && *end == '\0' && n >= 0) want.size = n;
    }
    if (is_sha256_hex(want.etag)) want.sha256 = want.etag;
    want.commit = h.header("x-repo-commit");

    if (cached) {
        const std::optional<FileMeta> have = read_meta(cp.meta);
        const int64_t size = file_size_or(cp.file, -1);
        const bool same_version = have && (want.etag.empty() || have->etag == want.etag);
        if (same_version && (want.size < 0 || size == want.size)) return cp.file.string();
        log_info(f.repo + "/" + f.file + ": the hub has a different version; downloading it");
    }

    fs::create_directories(cp.file.parent_path(), ec);
    fs::create_directories(cp.part.parent_path(), ec);
    if (ec) return make_error(ErrorCode::kIo, cp.part.parent_path().string() + ": " + ec.message());
    // One download per file at a time: a second process waits here, then finds it cached.
    const std::string lock_path = cp.part.string() + ".lock";
    const int lock_fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock_fd < 0) return make_error(ErrorCode::kIo, lock_path + ": cannot create lock file");
    std::unique_ptr<int, void (*)(int*)> unlock(new int(lock_fd), [](int* fd) {
        ::flock(*fd, LOCK_UN);
        ::close(*fd);
        delete fd;
    });
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_info("waiting for another download of " + f.repo + "/" + f.file);
        if (::flock(lock_fd, LOCK_EX) != 0)
            return make_error(ErrorCode::kIo, lock_path + ": flock failed");
        const std::optional<FileMeta> now = read_meta(cp.meta);
        if (now && now->etag == want.etag && fs::is_regular_file(cp.file, ec) &&
            (want.size < 0 || file_size_or(cp.file, -1) == want.size)) {
            return cp.file.string();
        }
    }
    // A partial file of another version (or of unknown version) cannot be resumed.
    const std::optional<FileMeta> part_meta = read_meta(cp.part_meta);
    const bool resumable = part_meta && !want.etag.empty() && part_meta->etag == want.etag &&
                           part_meta->size == want.size;
    if (!resumable) remove_quietly(cp.part);
    if (want.size >= 0 && file_size_or(cp.part, 0) > want.size) remove_quietly(cp.part);
    TK_RETURN_IF_ERROR(write_meta(cp.part_meta, want));

    const int64_t start = file_size_or(cp.part, 0);
    if (start > 0) {
        log_info("resuming " + f.repo + "/" + f.file + " at byte " + std::to_string(start));
    } else {
        log_info("downloading " + url +
                 (want.size >= 0 ? " (" + std::to_string(want.size) + " bytes)" : std::string()));
    }
    {
        std::unique_ptr<ProgressBar> bar;
        if (o.progress && want.size > 0) bar = std::make_unique<ProgressBar>(f.file, want.size);
        for (int attempt = 0;; ++attempt) {
            bool transient = false;
            const Status s = get_once(url, token, cp.part, want.size, bar.get(), f, &transient);
            if (s.is_ok()) break;
            const int64_t kept = file_size_or(cp.part, 0);
            if (!transient || attempt >= o.max_retries) {
                if (kept <= 0) return s;
                return make_error(s.code(), s.message() + "; " + std::to_string(kept) + " of " +
                                                (want.size >= 0 ? std::to_string(want.size) : "?") +
                                                " bytes kept in " + cp.part.string() +
                                                ", run again to resume");
            }
            log_warn(s.message() + "; resuming at byte " + std::to_string(kept));
        }
    }

    const int64_t got = file_size_or(cp.part, 0);
    if (want.size >= 0 && got != want.size) {
        remove_quietly(cp.part);
        remove_quietly(cp.part_meta);
        return make_error(ErrorCode::kCorruptFile,
                          url + ": downloaded " + std::to_string(got) + " bytes, the hub said " +
                              std::to_string(want.size) + "; the download was deleted");
    }
    if (!want.sha256.empty()) {
        TK_ASSIGN_OR_RETURN(std::string sha, sha256_file_hex(cp.part.string()));
        if (sha != want.sha256) {
            remove_quietly(cp.part);
            remove_quietly(cp.part_meta);
            return make_error(ErrorCode::kCorruptFile,
                              url + ": sha256 mismatch (hub: " + want.sha256 +
                                  ", download: " + sha + "); the download was deleted");
        }
    }
    remove_quietly(cp.meta);
    fs::rename(cp.part, cp.file, ec);
    if (ec)
        return make_error(ErrorCode::kIo,
                          cp.file.string() + ": cannot move into place: " + ec.message());
    remove_quietly(cp.part_meta);
    TK_RETURN_IF_ERROR(write_meta(cp.meta, want));
    return cp.file.string();
}

}  // namespace tk::formats

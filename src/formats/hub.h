#pragma once
// Model download from a Hugging Face-style hub: `hf://OWNER/REPO/PATH/FILE.gguf` (optionally
// `hf://OWNER/REPO@REVISION/FILE`) is fetched from {endpoint}/{OWNER}/{REPO}/resolve/{revision}/
// {FILE} into a cache directory and opened from there afterwards, also without a network.
//
//  * endpoint: HubOptions::endpoint, else $HF_ENDPOINT, else https://huggingface.co
//  * token:    HubOptions::token, else $HF_TOKEN; sent as "Authorization: Bearer ..." (libcurl
//              drops it when a redirect leaves the host, e.g. to the CDN)
//  * cache:    HubOptions::cache_dir, else $TOKAMAK_CACHE, else ~/.cache/tokamak; the file
//              lands in <cache>/hub/<OWNER>--<REPO>/<revision>/<FILE>
//  * metadata: a HEAD request as huggingface_hub makes it (relative redirects followed, the
//              CDN redirect not): X-Linked-Size (else Content-Length) is the size, X-Linked-Etag
//              (else ETag) the version; a 64-hex etag is the LFS sha256 of the content
//  * download: into <FILE>.part with "Range: bytes=N-" when a partial file of the same etag
//              exists, so an interrupted transfer resumes; the size and, when known, the sha256
//              are checked before the file is renamed into place (a mismatch deletes it)
//  * offline:  HubOptions::offline or $HF_HUB_OFFLINE=1 use the cache only; when the hub
//              cannot be reached a cached copy is used with a warning
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tk::formats {

struct HubFile {
    std::string repo;               // "OWNER/REPO"
    std::string file;               // path inside the repository, '/'-separated
    std::string revision = "main";  // branch, tag or commit
};

// True for strings that start with "hf://".
bool is_hub_uri(std::string_view s);
// Parses "hf://OWNER/REPO[@REVISION]/FILE". kInvalidArgument naming the fault.
Result<HubFile> parse_hub_uri(std::string_view uri);
// Checks a repo/file pair given separately (--hf-repo / --hf-file).
Result<HubFile> make_hub_file(std::string repo, std::string file, std::string revision = "main");

struct HubOptions {
    std::string endpoint;   // empty: $HF_ENDPOINT or https://huggingface.co
    std::string token;      // empty: $HF_TOKEN (if set)
    std::string cache_dir;  // empty: $TOKAMAK_CACHE or ~/.cache/tokamak
    bool offline = false;   // also when $HF_HUB_OFFLINE is 1/true/yes
    int max_retries = 3;    // extra attempts (each resuming) after a dropped transfer
    bool progress = true;   // progress bar on stderr (when it is a terminal, see progress.h)
};

// The resolved settings (environment applied), for messages and tests.
std::string hub_endpoint(const HubOptions& o);
std::string hub_cache_dir(const HubOptions& o);
// Where `f` is (or will be) cached.
std::string hub_cache_path(const HubFile& f, const HubOptions& o);
// The download URL: {endpoint}/{repo}/resolve/{revision}/{file}, percent-encoded.
std::string hub_file_url(const HubFile& f, const HubOptions& o);

// Returns the local path of the file, downloading it if the cache has no current copy.
// kNotFound (404 / not cached offline), kInvalidArgument (401/403: names HF_TOKEN),
// kCorruptFile (size or sha256 mismatch), kIo (network, disk; a partial file is kept for resume).
Result<std::string> hub_download(const HubFile& f, const HubOptions& o = {});

}  // namespace tk::formats

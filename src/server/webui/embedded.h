#pragma once
// The page files as compiled into tk_server by embed.cmake (a generated .cpp in the build dir).
#include <cstddef>

namespace tk::server::webui::detail {

struct EmbeddedFile {
    const char* name;  // file name in src/server/webui/, e.g. "app.js"
    const unsigned char* data;
    size_t size;
    const char* sha256;  // hex digest of the bytes
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const size_t kEmbeddedFileCount;

}  // namespace tk::server::webui::detail

#pragma once
// llamafile: an executable stub (APE / shell script) followed by a zip archive that holds the
// model's GGUF. The GGUF entry must be STORED (uncompressed), which llamafile's own tooling
// guarantees, so the model is parsed in place inside the mapping (no extraction copy).
//
// Zip walk: the end-of-central-directory record is searched in the last 64 KiB + 22 bytes;
// zip64 records are followed when a size or offset needs them; the central directory is walked
// to the first entry whose name ends in ".gguf"; its local header gives the data start. If the
// archive was appended to a stub without adjusting offsets, the difference between where the
// central directory is and where the EOCD says it is shifts every offset. Every offset and
// size is checked against the file.
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace tk::formats {

class GgufFile;

// Where the GGUF lies inside the archive.
struct ZipEntry {
    std::string name;
    uint64_t data_offset = 0;  // from the start of the file
    uint64_t size = 0;
    uint16_t method = 0;       // 0 = stored
};

// True if the file ends in a zip end-of-central-directory record.
bool looks_like_zip(const uint8_t* data, size_t size);

// Finds the first ".gguf" entry. `name` names the file in errors. kCorruptFile for a broken
// archive, kNotFound when no entry ends in .gguf, kUnsupported for a compressed entry.
Result<ZipEntry> find_gguf_in_zip(const uint8_t* data, size_t size, const std::string& name);

// Maps the file and parses the GGUF entry in place (format() "llamafile"). If the entry does
// not start at a multiple of the GGUF's alignment, the payload is copied once so tensor data
// is aligned (llamafile's zipalign avoids this).
Result<std::unique_ptr<GgufFile>> open_llamafile(const std::string& path);

}  // namespace tk::formats

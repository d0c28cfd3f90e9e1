// Zip reading for llamafiles: just enough of the format (EOCD, zip64 EOCD, central directory,
// local header) to find one stored entry, every field bounds-checked.
#include "formats/llamafile.h"

#include <cstring>

#include "base/log.h"
#include "base/mmap_file.h"
#include "formats/gguf.h"

namespace tk::formats {
namespace {

constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr size_t kEocdBytes = 22;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kZip64EocdBytes = 56;
constexpr size_t kCentralBytes = 46;
constexpr size_t kLocalBytes = 30;
constexpr size_t kMaxComment = 0xffff;

template <typename T>
T rd(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);  // zip is little-endian, as is x86-64
    return v;
}

// Position of the EOCD record, or -1.
int64_t find_eocd(const uint8_t* data, size_t size) {
    if (size < kEocdBytes) return -1;
    const size_t last = size - kEocdBytes;
    const size_t first = last > kMaxComment ? last - kMaxComment : 0;
    for (size_t pos = last + 1; pos-- > first;) {
        if (rd<uint32_t>(data + pos) != kEocdSig) continue;
        const uint16_t comment = rd<uint16_t>(data + pos + 20);
        if (pos + kEocdBytes + comment <= size) return static_cast<int64_t>(pos);
    }
    return -1;
}

struct CentralDir {
    uint64_t offset;  // actual position in the file
    uint64_t size;
    uint64_t entries;
    int64_t delta;  // add to offsets stored in the archive
};

Result<CentralDir> locate_central_dir(const uint8_t* data, size_t size, const std::string& name) {
    auto fail = [&](const std::string& msg) {
        return make_error(ErrorCode::kCorruptFile, name + ": zip " + msg);
    };
    const int64_t eocd = find_eocd(data, size);
    if (eocd < 0) return fail("end-of-central-directory record not found");
    const uint8_t* e = data + eocd;
    uint64_t entries = rd<uint16_t>(e + 10);
    uint64_t cd_size = rd<uint32_t>(e + 12);
    uint64_t cd_off = rd<uint32_t>(e + 16);
    uint64_t cd_end = static_cast<uint64_t>(eocd);  // the directory ends where the next record starts
    const bool zip64 = entries == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu;
    int64_t delta = 0;
    if (zip64) {
        if (static_cast<uint64_t>(eocd) < kZip64LocatorBytes + kZip64EocdBytes) {
            return fail("zip64 locator missing before the end record");
        }
        const uint8_t* loc = e - kZip64LocatorBytes;
        if (rd<uint32_t>(loc) != kZip64LocatorSig) return fail("zip64 locator missing");
        const uint64_t stored_z64 = rd<uint64_t>(loc + 8);
        // The zip64 record normally sits right before the locator; where it does, that fixes
        // the shift between stored and actual offsets.
        uint64_t z64 = static_cast<uint64_t>(eocd) - kZip64LocatorBytes - kZip64EocdBytes;
        if (rd<uint32_t>(data + z64) != kZip64EocdSig) {
            z64 = stored_z64;
            if (size < kZip64EocdBytes || z64 > size - kZip64EocdBytes ||
                rd<uint32_t>(data + z64) != kZip64EocdSig) {
                return fail("zip64 end-of-central-directory record not found");
            }
        }
        delta = static_cast<int64_t>(z64) - static_cast<int64_t>(stored_z64);
        entries = rd<uint64_t>(data + z64 + 32);
        cd_size = rd<uint64_t>(data + z64 + 40);
        cd_off = rd<uint64_t>(data + z64 + 48);
        cd_end = z64;
        if (cd_size > cd_end || cd_off > cd_end) return fail("central directory out of bounds");
    } else {
        if (cd_size > cd_end) return fail("central directory size exceeds its position");
        // An archive appended to a stub with unadjusted offsets is shifted by the stub length.
        delta = static_cast<int64_t>(cd_end - cd_size) - static_cast<int64_t>(cd_off);
    }
    const int64_t actual = static_cast<int64_t>(cd_off) + delta;
    if (actual < 0 || static_cast<uint64_t>(actual) + cd_size > cd_end) {
        return fail("central directory (offset " + std::to_string(cd_off) + ", " +
                    std::to_string(cd_size) + " bytes) lies outside the file");
    }
    if (entries > cd_size / kCentralBytes) {
        return fail("claims " + std::to_string(entries) + " entries in a " +
                    std::to_string(cd_size) + "-byte central directory");
    }
    return CentralDir{static_cast<uint64_t>(actual), cd_size, entries, delta};
}

}  // namespace

bool looks_like_zip(const uint8_t* data, size_t size) { return find_eocd(data, size) >= 0; }

Result<ZipEntry> find_gguf_in_zip(const uint8_t* data, size_t size, const std::string& name) {
    auto fail = [&](const std::string& msg) {
        return make_error(ErrorCode::kCorruptFile, name + ": zip " + msg);
    };
    TK_ASSIGN_OR_RETURN(CentralDir cd, locate_central_dir(data, size, name));
    const uint8_t* p = data + cd.offset;
    const uint8_t* end = p + cd.size;
    for (uint64_t k = 0; k < cd.entries; ++k) {
        if (static_cast<size_t>(end - p) < kCentralBytes || rd<uint32_t>(p) != kCentralSig) {
            return fail("central directory entry " + std::to_string(k) + " is malformed");
        }
        const uint16_t flags = rd<uint16_t>(p + 8);
        const uint16_t method = rd<uint16_t>(p + 10);
        uint64_t comp = rd<uint32_t>(p + 20);
        uint64_t uncomp = rd<uint32_t>(p + 24);
        const uint16_t name_len = rd<uint16_t>(p + 28);
        const uint16_t extra_len = rd<uint16_t>(p + 30);
        const uint16_t comment_len = rd<uint16_t>(p + 32);
        uint64_t local = rd<uint32_t>(p + 42);
        const size_t entry_len = kCentralBytes + name_len + extra_len + comment_len;
        if (static_cast<size_t>(end - p) < entry_len) {
            return fail("central directory entry " + std::to_string(k) + " runs past its end");
        }
        const std::string entry(reinterpret_cast<const char*>(p + kCentralBytes), name_len);
        // zip64 extra field (id 1): the 64-bit values of the fields saturated above, in order.
        const uint8_t* x = p + kCentralBytes + name_len;
        const uint8_t* x_end = x + extra_len;
        while (x_end - x >= 4) {
            const uint16_t id = rd<uint16_t>(x);
            const uint16_t len = rd<uint16_t>(x + 2);
            if (x_end - x - 4 < len) break;
            if (id == 1) {
                const uint8_t* f = x + 4;
                const uint8_t* f_end = f + len;
                for (uint64_t* v : {&uncomp, &comp, &local}) {
                    if (*v != 0xffffffffu) continue;
                    if (f_end - f < 8) return fail("entry '" + entry + "' has a short zip64 field");
                    *v = rd<uint64_t>(f);
                    f += 8;
                }
            }
            x += 4 + len;
        }
        p += entry_len;
        if (entry.size() < 5 || entry.compare(entry.size() - 5, 5, ".gguf") != 0) continue;

        if (flags & 1) {
            return make_error(ErrorCode::kUnsupported, name + ": zip entry '" + entry +
                                                           "' is encrypted");
        }
        if (method != 0) {
            return make_error(ErrorCode::kUnsupported,
                              name + ": zip entry '" + entry + "' is compressed (method " +
                                  std::to_string(method) +
                                  "); the GGUF inside a llamafile must be stored uncompressed "
                                  "(zip -0, or llamafile's zipalign)");
        }
        if (comp != uncomp) {
            return fail("stored entry '" + entry + "' has compressed size " +
                        std::to_string(comp) + " but size " + std::to_string(uncomp));
        }
        const int64_t lh = static_cast<int64_t>(local) + cd.delta;
        if (lh < 0 || size < kLocalBytes || static_cast<uint64_t>(lh) > size - kLocalBytes ||
            rd<uint32_t>(data + lh) != kLocalSig) {
            return fail("local header of '" + entry + "' not found at offset " +
                        std::to_string(local));
        }
        const uint64_t start = static_cast<uint64_t>(lh) + kLocalBytes +
                               rd<uint16_t>(data + lh + 26) + rd<uint16_t>(data + lh + 28);
        if (start > size || uncomp > size - start) {
            return fail("entry '" + entry + "' (" + std::to_string(uncomp) +
                        " bytes at offset " + std::to_string(start) + ") runs past the end of "
                        "the file (" + std::to_string(size) + " bytes)");
        }
        return ZipEntry{entry, start, uncomp, method};
    }
    return make_error(ErrorCode::kNotFound, name + ": no .gguf entry in the zip archive");
}

Result<std::unique_ptr<GgufFile>> open_llamafile(const std::string& path) {
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
    TK_ASSIGN_OR_RETURN(ZipEntry entry, find_gguf_in_zip(map->data(), map->size(), path));
    const uint8_t* payload = map->data() + entry.data_offset;
    const size_t n = static_cast<size_t>(entry.size);
    const std::string name = path + ":" + entry.name;
    std::shared_ptr<const MappedFile> mapping(std::move(map));
    TK_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> f,
                        GgufFile::parse(payload, n, name, mapping, "llamafile"));
    // Tensor offsets are relative to the payload, so the payload's own position decides their
    // alignment in memory (the mapping itself is page-aligned).
    if (entry.data_offset % f->alignment() == 0) return f;
    log_warn(name + ": GGUF entry at offset " + std::to_string(entry.data_offset) +
             " is not aligned to " + std::to_string(f->alignment()) +
             " bytes; copying it into memory");
    auto copy = std::make_shared<GgufStorage>();
    uint8_t* buf = copy->alloc(n);
    std::memcpy(buf, payload, n);
    f.reset();
    return GgufFile::parse(buf, n, name, std::move(copy), "llamafile");
}

}  // namespace tk::formats

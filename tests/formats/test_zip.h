#pragma once
// Writes zip archives byte by byte for tests (llamafiles): an optional stub in front, local
// headers with an alignment-padding extra field, central directory, optional zip64 records.
// Entries are written as given (method 8 just labels the bytes as deflated).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace tk::formats::testing {

inline uint32_t crc32(const uint8_t* p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

struct ZipSpecEntry {
    std::string name;
    std::vector<uint8_t> data;
    uint16_t method = 0;  // 0 stored, 8 "deflated"
};

struct ZipSpec {
    std::string stub;               // bytes before the archive (a shell script, say)
    size_t align = 64;              // data of each entry starts at a multiple (0: no padding)
    bool zip64 = false;             // sizes and offsets through zip64 records
    bool relative_offsets = false;  // offsets counted from the archive start, not the file's
};

class ZipBytes {
public:
    std::vector<uint8_t> b;
    template <typename T>
    void put(T v) {
        const size_t at = b.size();
        b.resize(at + sizeof(T));
        std::memcpy(b.data() + at, &v, sizeof(T));
    }
    void raw(const void* p, size_t n) {
        const auto* c = static_cast<const uint8_t*>(p);
        b.insert(b.end(), c, c + n);
    }
};

inline std::vector<uint8_t> make_zip(const std::vector<ZipSpecEntry>& entries, const ZipSpec& spec) {
    ZipBytes z;
    z.raw(spec.stub.data(), spec.stub.size());
    const uint64_t base = spec.relative_offsets ? spec.stub.size() : 0;
    struct Written {
        uint64_t local;
        uint32_t crc;
    };
    std::vector<Written> written;
    for (const ZipSpecEntry& e : entries) {
        const uint64_t local = z.b.size();
        const uint32_t crc = crc32(e.data.data(), e.data.size());
        size_t pad = 0;
        if (spec.align > 0) {
            const size_t data_at = local + 30 + e.name.size() + 4;  // with an empty extra field
            pad = (spec.align - data_at % spec.align) % spec.align;
        }
        z.put<uint32_t>(0x04034b50);
        z.put<uint16_t>(spec.zip64 ? 45 : 20);
        z.put<uint16_t>(0);  // flags
        z.put<uint16_t>(e.method);
        z.put<uint16_t>(0);     // time
        z.put<uint16_t>(0x21);  // date 1980-01-01
        z.put<uint32_t>(crc);
        z.put<uint32_t>(static_cast<uint32_t>(e.data.size()));  // small enough for 32 bits
        z.put<uint32_t>(static_cast<uint32_t>(e.data.size()));
        z.put<uint16_t>(static_cast<uint16_t>(e.name.size()));
        z.put<uint16_t>(static_cast<uint16_t>(4 + pad));
        z.raw(e.name.data(), e.name.size());
        z.put<uint16_t>(0xcafe);  // padding extra field, as zipalign tools add
        z.put<uint16_t>(static_cast<uint16_t>(pad));
        z.b.resize(z.b.size() + pad, 0);
        z.raw(e.data.data(), e.data.size());
        written.push_back({local - base, crc});
    }
    const uint64_t cd_start = z.b.size();
    for (size_t k = 0; k < entries.size(); ++k) {
        const ZipSpecEntry& e = entries[k];
        z.put<uint32_t>(0x02014b50);
        z.put<uint16_t>(0x031e);  // made by unix, 3.0
        z.put<uint16_t>(spec.zip64 ? 45 : 20);
        z.put<uint16_t>(0);
        z.put<uint16_t>(e.method);
        z.put<uint16_t>(0);
        z.put<uint16_t>(0x21);
        z.put<uint32_t>(written[k].crc);
        z.put<uint32_t>(spec.zip64 ? 0xffffffffu : static_cast<uint32_t>(e.data.size()));
        z.put<uint32_t>(spec.zip64 ? 0xffffffffu : static_cast<uint32_t>(e.data.size()));
        z.put<uint16_t>(static_cast<uint16_t>(e.name.size()));
        z.put<uint16_t>(spec.zip64 ? 28 : 0);
        z.put<uint16_t>(0);  // comment
        z.put<uint16_t>(0);  // disk
        z.put<uint16_t>(0);  // internal attributes
        z.put<uint32_t>(0);  // external attributes
        z.put<uint32_t>(spec.zip64 ? 0xffffffffu : static_cast<uint32_t>(written[k].local));
        z.raw(e.name.data(), e.name.size());
        if (spec.zip64) {
            z.put<uint16_t>(1);
            z.put<uint16_t>(24);
            z.put<uint64_t>(e.data.size());
            z.put<uint64_t>(e.data.size());
            z.put<uint64_t>(written[k].local);
        }
    }
    const uint64_t cd_size = z.b.size() - cd_start;
    const uint64_t n = entries.size();
    if (spec.zip64) {
        const uint64_t z64 = z.b.size();
        z.put<uint32_t>(0x06064b50);
        z.put<uint64_t>(44);  // size of the rest of the record
        z.put<uint16_t>(45);
        z.put<uint16_t>(45);
        z.put<uint32_t>(0);
        z.put<uint32_t>(0);
        z.put<uint64_t>(n);
        z.put<uint64_t>(n);
        z.put<uint64_t>(cd_size);
        z.put<uint64_t>(cd_start - base);
        z.put<uint32_t>(0x07064b50);
        z.put<uint32_t>(0);
        z.put<uint64_t>(z64 - base);
        z.put<uint32_t>(1);
    }
    z.put<uint32_t>(0x06054b50);
    z.put<uint16_t>(0);
    z.put<uint16_t>(0);
    z.put<uint16_t>(spec.zip64 ? 0xffff : static_cast<uint16_t>(n));
    z.put<uint16_t>(spec.zip64 ? 0xffff : static_cast<uint16_t>(n));
    z.put<uint32_t>(spec.zip64 ? 0xffffffffu : static_cast<uint32_t>(cd_size));
    z.put<uint32_t>(spec.zip64 ? 0xffffffffu : static_cast<uint32_t>(cd_start - base));
    z.put<uint16_t>(0);
    return z.b;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A llamafile-like file: shell-script stub, then a zip holding the GGUF bytes stored.
inline std::vector<uint8_t> make_llamafile(const std::vector<uint8_t>& gguf, ZipSpec spec = {}) {
    if (spec.stub.empty()) spec.stub = "#!/bin/sh\necho 'this is a llamafile test stub'\nexit 1\n";
    return make_zip({{"stories260K.gguf", gguf, 0}}, spec);
}

}  // namespace tk::formats::testing

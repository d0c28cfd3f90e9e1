// llamafiles built here (stub + zip with stories260K.gguf stored): the GGUF is parsed in place,
// whatever the zip flavour; broken and compressed archives give clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/llamafile.h"
#include "formats/model_file.h"
#include "formats/test_zip.h"
#include "testutil/testutil.h"

namespace tk::formats {
namespace {

using testing::make_llamafile;
using testing::make_zip;
using testing::write_bytes;
using testing::ZipSpec;

std::vector<uint8_t> stories_gguf() {
    return tk::testing::read_file_bytes(tk::testing::shared_path("models/gguf/stories260K.gguf"));
}

// Opens `bytes` written to a file and checks every tensor against the GGUF it wraps.
void expect_same_as_gguf(const std::vector<uint8_t>& bytes, bool zero_copy) {
    tk::testing::TempDir dir;
    const std::string path = dir.file("model.llamafile");
    write_bytes(path, bytes);
    auto fmt = detect_model_format(path);
    ASSERT_TRUE(fmt.is_ok()) << fmt.status().to_string();
    EXPECT_EQ(*fmt, ModelFormat::kLlamafile);
    auto r = open_model(path);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& f = **r;
    EXPECT_EQ(f.format(), "llamafile");
    EXPECT_NE(f.path().find(".gguf"), std::string::npos);  // names the entry
    auto g = GgufFile::open(tk::testing::shared_path("models/gguf/stories260K.gguf"));
    ASSERT_TRUE(g.is_ok());
    ASSERT_EQ(f.tensors().size(), (*g)->tensors().size());
    ASSERT_EQ(f.metadata().size(), (*g)->metadata().size());
    const std::vector<uint8_t> gguf = stories_gguf();
    // Where the payload starts in the file (the original GGUF bytes appear there verbatim).
    const auto at = std::search(bytes.begin(), bytes.end(), gguf.begin(), gguf.begin() + 64);
    ASSERT_NE(at, bytes.end());
    const size_t payload_offset = static_cast<size_t>(at - bytes.begin());
    for (const GgufTensorInfo& t : f.tensors()) {
        const GgufTensorInfo* u = (*g)->find_tensor(t.name);
        ASSERT_NE(u, nullptr);
        ASSERT_EQ(t.view.nbytes, u->view.nbytes);
        EXPECT_EQ(std::memcmp(t.view.data, u->view.data, static_cast<size_t>(t.view.nbytes)), 0) << t.name;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.view.data) % 32, 0u) << t.name;
        EXPECT_EQ(t.offset, u->offset);
    }
    // Zero copy: the parsed payload is the mapping itself, at the entry's offset, which is
    // page-aligned (mmap) plus payload_offset.
    const uintptr_t payload = reinterpret_cast<uintptr_t>(f.file_data());
    if (zero_copy) {
        EXPECT_EQ(payload % 4096, payload_offset % 4096);
    } else {
        EXPECT_EQ(payload % 64, 0u);
    }
    EXPECT_EQ(f.file_size(), gguf.size());
}

TEST(Llamafile, StoredGgufBehindAShellStub) {
    expect_same_as_gguf(make_llamafile(stories_gguf()), /*zero_copy=*/true);
}

TEST(Llamafile, Zip64Records) {
    ZipSpec spec;
    spec.zip64 = true;
    expect_same_as_gguf(make_llamafile(stories_gguf(), spec), true);
}

TEST(Llamafile, OffsetsRelativeToTheArchive) {
    // Stub prepended without adjusting offsets (cat stub archive.zip).
    ZipSpec spec;
    spec.relative_offsets = true;
    expect_same_as_gguf(make_llamafile(stories_gguf(), spec), true);
    spec.zip64 = true;
    expect_same_as_gguf(make_llamafile(stories_gguf(), spec), true);
}

TEST(Llamafile, OtherEntriesAndMisalignedPayloadIsCopied) {
    ZipSpec spec;
    spec.stub = "MZqFpD='\n#";  // APE-style start
    spec.align = 0;            // payload lands at an arbitrary offset
    const std::vector<uint8_t> readme = {'h', 'i', '\n'};
    const auto bytes = make_zip({{"README.txt", readme, 8}, {"a.gguf", stories_gguf(), 0}}, spec);
    const std::string magic = "GGUF";
    const auto at = std::search(bytes.begin(), bytes.end(), magic.begin(), magic.end());
    ASSERT_NE((at - bytes.begin()) % 32, 0);  // really misaligned
    expect_same_as_gguf(bytes, /*zero_copy=*/false);
}

TEST(Llamafile, CompressedEntryIsRefused) {
    tk::testing::TempDir dir;
    write_bytes(dir.file("c.llamafile"), make_zip({{"m.gguf", stories_gguf(), 8}}, {"#!/bin/sh\n"}));
    auto r = open_model(dir.file("c.llamafile"));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(r.status().message().find("compressed"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("c.llamafile"), std::string::npos);
}

TEST(Llamafile, NoGgufEntry) {
    tk::testing::TempDir dir;
    write_bytes(dir.file("n.zip"), make_zip({{"x.txt", {1, 2, 3}, 0}}, {}));
    auto r = open_model(dir.file("n.zip"));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
    EXPECT_NE(r.status().message().find("no .gguf entry"), std::string::npos);
}

// Each corruption of a good archive must give an error (or, where it is harmless, a file that
// still parses), never a crash.
TEST(Llamafile, HostileArchives) {
    const std::vector<uint8_t> good = make_llamafile(stories_gguf());
    const size_t eocd = good.size() - 22;
    uint32_t cd_off = 0;
    std::memcpy(&cd_off, good.data() + eocd + 16, 4);
    auto expect_error = [&](std::vector<uint8_t> b, const std::string& needle) {
        auto r = find_gguf_in_zip(b.data(), b.size(), "h.llamafile");
        ASSERT_FALSE(r.is_ok()) << needle;
        EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
        EXPECT_NE(r.status().message().find("h.llamafile"), std::string::npos);
    };
    {
        auto b = good;
        b.resize(b.size() - 10);  // end record cut
        expect_error(b, "end-of-central-directory record not found");
    }
    {
        auto b = good;
        const uint32_t v = 0x7fffffff;  // central directory size
        std::memcpy(b.data() + eocd + 12, &v, 4);
        expect_error(b, "central directory");
    }
    {
        auto b = good;
        const uint16_t v = 0xfff0;  // entry count
        std::memcpy(b.data() + eocd + 8, &v, 2);
        std::memcpy(b.data() + eocd + 10, &v, 2);
        expect_error(b, "entries");
    }
    {
        auto b = good;
        const uint32_t v = 0x10000000;  // local header offset
        std::memcpy(b.data() + cd_off + 42, &v, 4);
        expect_error(b, "local header");
    }
    {
        auto b = good;
        const uint32_t v = 0x7ffffff0;  // entry size
        std::memcpy(b.data() + cd_off + 20, &v, 4);
        std::memcpy(b.data() + cd_off + 24, &v, 4);
        expect_error(b, "runs past the end");
    }
    {
        auto b = good;
        const uint16_t v = 0xffff;  // name length beyond the directory
        std::memcpy(b.data() + cd_off + 28, &v, 2);
        expect_error(b, "runs past");
    }
    // Every truncation of the tail and every single-byte flip in the directory: no crash.
    for (size_t cut = 1; cut < 200; cut += 3) {
        std::vector<uint8_t> b(good.begin(), good.end() - static_cast<std::ptrdiff_t>(cut));
        (void)find_gguf_in_zip(b.data(), b.size(), "t");
    }
    for (size_t pos = cd_off; pos < good.size(); ++pos) {
        auto b = good;
        b[pos] ^= 0xa5;
        auto r = find_gguf_in_zip(b.data(), b.size(), "f");
        if (r.is_ok()) {
            EXPECT_LE(r->data_offset + r->size, b.size());
        }
    }
}

}  // namespace
}  // namespace tk::formats

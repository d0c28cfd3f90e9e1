#pragma once
// SHA-256 (FIPS 180-4): streaming hasher and helpers, used to verify downloaded files against
// the hash the Hugging Face hub gives for LFS files.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tk::formats {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n);
    // The digest; the hasher must not be updated afterwards.
    std::array<uint8_t, 32> finish();
    // Lower-case hex digest.
    std::string finish_hex();

private:
    void block(const uint8_t* p);

    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buf_{};
    size_t buf_len_ = 0;
    uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);
// Hashes a whole file in chunks (kIo naming the file on read errors).
Result<std::string> sha256_file_hex(const std::string& path);

}  // namespace tk::formats

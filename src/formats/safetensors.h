#pragma once
// SafeTensors reader (Hugging Face): u64 header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the
// data section. Offsets are relative to the data section. Everything is checked against the
// file size: each tensor's byte range lies inside the data section, matches its shape and
// dtype, and no two ranges overlap. Tensor bytes stay in the mapping.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mmap_file.h"
#include "base/status.h"
#include "core/dtype.h"

namespace tk::formats {

struct SafetensorsTensor {
    std::string name;
    std::string dtype;           // as written: "F32", "BF16", "I64", ...
    bool has_type = false;       // dtype is one tokamak computes with (F32, F16, BF16)
    DType type = DType::kF32;    // valid when has_type
    std::vector<int64_t> shape;  // outermost first; empty for a scalar
    const uint8_t* data = nullptr;
    uint64_t nbytes = 0;
};

class SafetensorsFile {
public:
    // Errors name the file: kCorruptFile for a malformed header or bad ranges, kNotFound/kIo
    // from opening.
    static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
    // Parses a buffer the caller keeps alive (tests).
    static Result<std::unique_ptr<SafetensorsFile>> parse(const uint8_t* data, size_t size,
                                                          const std::string& name);

    const std::string& path() const { return name_; }
    size_t file_size() const { return size_; }
    const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
    const SafetensorsTensor* find(std::string_view name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // The mapping (null for parse()); shared so converted models can keep it alive.
    const std::shared_ptr<const MappedFile>& mapping() const { return map_; }

private:
    SafetensorsFile() = default;
    Status parse_all();

    std::shared_ptr<const MappedFile> map_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string name_;
    std::vector<SafetensorsTensor> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace tk::formats

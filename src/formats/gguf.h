#pragma once
// GGUF v2/v3 reader (bounds-checked, over an mmap) and writer.
// Layout: magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, kv pairs, tensor infos,
// padding to `general.alignment` (default 32), tensor data. All little-endian.
// Every count and length read from the file is checked against the file size before
// anything is allocated; tensor data must be aligned, in bounds and non-overlapping.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mmap_file.h"
#include "base/status.h"
#include "core/tensor_view.h"

namespace tk::formats {

enum class GgufType : uint32_t {
    kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
    kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Scalars are widened into `u`/`i`/`f`; strings point into the mapping.
struct GgufValue {
    GgufType type = GgufType::kU8;
    uint64_t u = 0;          // unsigned ints and bool (also set for signed values >= 0)
    int64_t i = 0;           // signed ints (also set for unsigned that fit)
    double f = 0;            // floats
    std::string_view str;    // kString
    // kArray:
    GgufType array_type = GgufType::kU8;
    uint64_t array_len = 0;
    const uint8_t* array_data = nullptr;    // raw little-endian elements (numeric arrays)
    std::vector<std::string_view> strings;  // string arrays
    // Arrays of arrays are refused by the reader (kUnsupported): no model uses them.
};

struct GgufKV {
    std::string key;
    GgufValue value;
};

struct GgufTensorInfo {
    std::string name;
    TensorView view;          // shape outermost first, data points into the mapping
    uint64_t offset = 0;      // relative to the start of the data section
};

class GgufStorage;

class GgufFile {
public:
    // Opens and validates; errors name the file and the fault (kCorruptFile, kUnsupported
    // for v1 / big-endian / unknown tensor types, kNotFound / kIo from opening).
    // With general.alignment < 4 tensor data may be unaligned for its element type.
    static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
    // Parses a buffer that the caller keeps alive (tests, fuzzer, llamafile payloads).
    static Result<std::unique_ptr<GgufFile>> parse(const uint8_t* data, size_t size,
                                                   const std::string& name);
    // As above, but the GgufFile keeps `keep_alive` (the mapping holding `data`) alive, and
    // format() reports `format` (a GGUF payload inside a llamafile).
    static Result<std::unique_ptr<GgufFile>> parse(const uint8_t* data, size_t size,
                                                   const std::string& name,
                                                   std::shared_ptr<const void> keep_alive,
                                                   const std::string& format);
    // Assembles a file from parts made in memory (SafeTensors, llama2.c): metadata in GGUF key
    // names, tensors in GGUF names and layout. Strings and arrays in `kvs` and tensor data must
    // point into `storage` or into objects it holds. Each tensor's nbytes is computed here from
    // its type and shape; `offset` is set as if the tensors were laid out in a GGUF file.
    // `source_bytes` is what file_size() reports (the size of the files read).
    // Errors: kCorruptFile for duplicate keys or tensor names, bad shapes or missing data.
    static Result<std::unique_ptr<GgufFile>> from_parts(std::string name, std::string format,
                                                        uint64_t source_bytes,
                                                        std::vector<GgufKV> kvs,
                                                        std::vector<GgufTensorInfo> tensors,
                                                        std::unique_ptr<GgufStorage> storage);
    ~GgufFile();

    const std::string& path() const { return name_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    size_t file_size() const { return size_; }
    const uint8_t* file_data() const { return data_; }  // whole file (mapping or caller's buffer)
    // "GGUF", or where an in-memory GGUF came from: "llamafile", "SafeTensors", "llama2.c".
    // Built files (from_parts) have no file bytes: file_data() is null, data_offset() 0.
    const std::string& format() const { return format_; }

    const std::vector<GgufKV>& metadata() const { return kvs_; }
    const GgufValue* find(std::string_view key) const;

    // Typed getters: nullopt when missing or of an incompatible type.
    std::optional<int64_t> get_int(std::string_view key) const;  // any integer type or bool
    std::optional<double> get_float(std::string_view key) const;  // any float or integer type
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string_view> get_string(std::string_view key) const;
    const std::vector<std::string_view>* get_string_array(std::string_view key) const;
    std::optional<std::vector<float>> get_f32_array(std::string_view key) const;    // f32/f64/int arrays
    std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;  // any int array

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;

private:
    GgufFile() = default;
    Status parse_all();

    std::unique_ptr<MappedFile> map_;  // null when parsing a caller's buffer
    std::shared_ptr<const void> keep_alive_;  // llamafile mapping
    std::unique_ptr<GgufStorage> storage_;    // from_parts: owned data and held objects
    std::string format_ = "GGUF";
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string name_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<GgufKV> kvs_;
    std::vector<GgufTensorInfo> tensors_;
    // Keys are views into the file bytes, which outlive this object's maps.
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

// Memory that a GgufFile made by from_parts keeps alive: converted tensor data, metadata
// strings and arrays, and other objects (file mappings) whose bytes its views point into.
// Addresses handed out never move for the storage's lifetime.
class GgufStorage {
public:
    GgufStorage();
    ~GgufStorage();
    GgufStorage(const GgufStorage&) = delete;
    GgufStorage& operator=(const GgufStorage&) = delete;

    // n bytes, zero-filled, 64-byte aligned.
    uint8_t* alloc(size_t n);
    // A stable copy of s.
    std::string_view copy_string(std::string_view s);
    // Keeps obj alive as long as the storage (e.g. the MappedFile tensors point into).
    void hold(std::shared_ptr<const void> obj);
    // Bytes allocated with alloc() and copy_string() (converted data, not mapped files).
    size_t owned_bytes() const { return owned_bytes_; }

private:
    struct Free {
        void operator()(uint8_t* p) const;
    };
    std::vector<std::unique_ptr<uint8_t, Free>> buffers_;
    std::vector<std::shared_ptr<const void>> held_;
    size_t owned_bytes_ = 0;
};

// Collects metadata and tensors for GgufFile::from_parts. Metadata values are deep-copied
// into the builder's storage, so callers may pass temporaries. Setting a key again replaces
// it in place (the key keeps its first position).
class GgufBuilder {
public:
    GgufBuilder();
    ~GgufBuilder();

    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_u64(const std::string& key, uint64_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, std::string_view v);
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    void set_f32_array(const std::string& key, const std::vector<float>& v);
    void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
    void set_value(const std::string& key, const GgufValue& v);  // any value read by GgufFile
    void remove(const std::string& key);
    const GgufValue* find(std::string_view key) const;

    // Storage for tensor data that needs a transform, and for objects tensors point into.
    uint8_t* alloc(size_t n) { return storage_->alloc(n); }
    void hold(std::shared_ptr<const void> obj) { storage_->hold(std::move(obj)); }

    // shape outermost first; data must stay valid (alloc()ed or inside a held object).
    void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                    const void* data);
    bool has_tensor(std::string_view name) const;
    size_t n_tensors() const { return tensors_.size(); }

    // See GgufFile::from_parts. The builder is empty afterwards.
    Result<std::unique_ptr<GgufFile>> build(const std::string& name, const std::string& format,
                                            uint64_t source_bytes);

private:
    void put(const std::string& key, GgufValue v);
    std::unique_ptr<GgufStorage> storage_;
    std::vector<GgufKV> kvs_;
    std::vector<GgufTensorInfo> tensors_;
};

// Streams a GGUF v3 file. Metadata in insertion order; tensor data either referenced
// (must outlive write()) or produced on demand by a fill callback (quantize, convert).
class GgufWriter {
public:
    using FillFn = std::function<Status(uint8_t* dst, size_t nbytes)>;

    void set_u8(const std::string& key, uint8_t v);
    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_u64(const std::string& key, uint64_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    void set_f32_array(const std::string& key, const std::vector<float>& v);
    void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
    // Copies a value read by GgufFile (any type, arrays included). Replaces an existing key.
    void set_value(const std::string& key, const GgufValue& v);
    void remove(const std::string& key);
    void set_alignment(uint32_t alignment);  // also written as general.alignment

    // shape outermost first (as TensorView).
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> shape,
                    const void* data);
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> shape, FillFn fill);

    // progress(done_tensors, total_tensors) is called after each tensor's data is written.
    Status write(const std::string& path,
                 const std::function<void(size_t, size_t)>& progress = nullptr) const;

private:
    struct Tensor {
        std::string name;
        DType type;
        std::vector<int64_t> shape;
        const void* data = nullptr;
        FillFn fill;
    };
    void put(const std::string& key, std::vector<uint8_t> encoded_value);
    std::vector<std::pair<std::string, std::vector<uint8_t>>> kvs_;  // key -> encoded type+value
    std::vector<Tensor> tensors_;
    uint32_t alignment_ = 32;
};

}  // namespace tk::formats

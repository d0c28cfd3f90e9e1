// SafeTensors reader. The JSON header is parsed without exceptions; every field is type-checked
// before use, and every byte range is checked against the data section before a pointer is made.
#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

namespace tk::formats {
namespace {

using nlohmann::json;

// The reference implementation refuses larger headers; so do we (it also bounds the JSON work).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
    const char* name;
    int bytes;
    bool has_type;
    DType type;
};

// Element sizes of the dtypes the format defines; only the float ones map to a DType.
const DtypeInfo* find_dtype(const std::string& name) {
    static const DtypeInfo kDtypes[] = {
        {"F32", 4, true, DType::kF32},     {"F16", 2, true, DType::kF16},
        {"BF16", 2, true, DType::kBF16},   {"F64", 8, false, DType::kF32},
        {"I64", 8, false, DType::kF32},    {"U64", 8, false, DType::kF32},
        {"I32", 4, false, DType::kF32},    {"U32", 4, false, DType::kF32},
        {"I16", 2, false, DType::kF32},    {"U16", 2, false, DType::kF32},
        {"I8", 1, false, DType::kF32},     {"U8", 1, false, DType::kF32},
        {"BOOL", 1, false, DType::kF32},   {"F8_E4M3", 1, false, DType::kF32},
        {"F8_E5M2", 1, false, DType::kF32},
    };
    for (const DtypeInfo& d : kDtypes) {
        if (name == d.name) return &d;
    }
    return nullptr;
}

}  // namespace

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
    std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
    f->data_ = map->data();
    f->size_ = map->size();
    f->name_ = path;
    f->map_ = std::shared_ptr<const MappedFile>(std::move(map));
    TK_RETURN_IF_ERROR(f->parse_all());
    return f;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::parse(const uint8_t* data, size_t size,
                                                                const std::string& name) {
    std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
    f->data_ = data;
    f->size_ = data == nullptr ? 0 : size;
    f->name_ = name;
    TK_RETURN_IF_ERROR(f->parse_all());
    return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

Status SafetensorsFile::parse_all() {
    auto fail = [&](const std::string& msg) {
        return make_error(ErrorCode::kCorruptFile, name_ + ": " + msg);
    };
    uint64_t header_len = 0;
    if (size_ < 8) return fail("truncated file: no header length (" + std::to_string(size_) +
                               " bytes)");
    std::memcpy(&header_len, data_, 8);
    if (header_len > size_ - 8) {
        return fail("truncated file: header length " + std::to_string(header_len) +
                    " runs past the end of the file (" + std::to_string(size_) + " bytes)");
    }
    if (header_len > kMaxHeaderBytes) {
        return fail("header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
    }
    if (header_len < 2) return fail("header is too short to be a JSON object");
    const char* text = reinterpret_cast<const char*>(data_ + 8);
    const json header = json::parse(text, text + header_len, nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded() || !header.is_object()) {
        return fail("header is not a JSON object");
    }
    const uint64_t data_start = 8 + header_len;
    const uint64_t data_size = size_ - data_start;

    struct Range {
        uint64_t begin, end;
        size_t index;
    };
    std::vector<Range> ranges;
    tensors_.reserve(header.size());
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& key = it.key();
        const json& v = it.value();
        if (key == "__metadata__") {
            if (!v.is_object()) return fail("__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) {
                    return fail("__metadata__ value of '" + m.key() + "' is not a string");
                }
                metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string what = "tensor '" + key + "'";
        if (!v.is_object()) return fail(what + " entry is not an object");
        const auto dtype = v.find("dtype");
        const auto shape = v.find("shape");
        const auto offsets = v.find("data_offsets");
        if (dtype == v.end() || !dtype->is_string()) return fail(what + " has no string dtype");
        if (shape == v.end() || !shape->is_array()) return fail(what + " has no shape array");
        if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2 ||
            !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
            return fail(what + " has no data_offsets [begin, end] of non-negative integers");
        }
        SafetensorsTensor t;
        t.name = key;
        t.dtype = dtype->get<std::string>();
        const DtypeInfo* info = find_dtype(t.dtype);
        if (info == nullptr) {
            return make_error(ErrorCode::kUnsupported,
                              name_ + ": " + what + " has unknown dtype '" + t.dtype + "'");
        }
        t.has_type = info->has_type;
        t.type = info->type;
        if (shape->size() > 8) return fail(what + " has " + std::to_string(shape->size()) +
                                           " dimensions");
        uint64_t n_elems = 1;
        for (const json& d : *shape) {
            if (!d.is_number_unsigned()) return fail(what + " shape has a non-integer or negative "
                                                     "dimension");
            const uint64_t dim = d.get<uint64_t>();
            if (dim > static_cast<uint64_t>(INT64_MAX) ||
                __builtin_mul_overflow(n_elems, dim, &n_elems)) {
                return fail(what + " element count overflows");
            }
            t.shape.push_back(static_cast<int64_t>(dim));
        }
        const uint64_t begin = (*offsets)[0].get<uint64_t>();
        const uint64_t end = (*offsets)[1].get<uint64_t>();
        if (begin > end || end > data_size) {
            return fail(what + " data_offsets [" + std::to_string(begin) + ", " +
                        std::to_string(end) + "] lie outside the data section (" +
                        std::to_string(data_size) + " bytes)");
        }
        uint64_t expect = 0;
        if (__builtin_mul_overflow(n_elems, static_cast<uint64_t>(info->bytes), &expect) ||
            expect != end - begin) {
            return fail(what + " has " + std::to_string(end - begin) + " bytes of data but its " +
                        t.dtype + " shape needs " + std::to_string(n_elems) + " x " +
                        std::to_string(info->bytes));
        }
        t.data = data_ + data_start + begin;
        t.nbytes = end - begin;
        if (!index_.emplace(key, tensors_.size()).second) {
            return fail("duplicate tensor '" + key + "'");
        }
        if (t.nbytes > 0) ranges.push_back({begin, end, tensors_.size()});
        tensors_.push_back(std::move(t));
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (size_t k = 1; k < ranges.size(); ++k) {
        if (ranges[k].begin < ranges[k - 1].end) {
            return fail("tensor '" + tensors_[ranges[k - 1].index].name + "' and tensor '" +
                        tensors_[ranges[k].index].name + "' overlap in the data section");
        }
    }
    return Status::ok();
}

}  // namespace tk::formats

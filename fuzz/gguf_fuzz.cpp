// libFuzzer target: GgufFile::parse on arbitrary bytes, then every getter and every tensor
// byte range, so a reader bug that lets a bad length through shows up as an ASan report.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "formats/gguf.h"

namespace {

volatile uint64_t g_sink;  // keeps the reads below from being optimized away

void touch_value(const tk::formats::GgufFile& f, std::string_view key, bool must_exist) {
    uint64_t acc = key.size();
    if (auto v = f.get_int(key)) acc += static_cast<uint64_t>(*v);
    if (auto v = f.get_float(key)) acc += static_cast<uint64_t>(*v != 0);
    if (auto v = f.get_bool(key)) acc += *v;
    if (auto v = f.get_string(key)) {
        for (char c : *v) acc += static_cast<uint8_t>(c);
    }
    if (const auto* v = f.get_string_array(key)) {
        for (std::string_view s : *v) acc += s.empty() ? 0 : static_cast<uint8_t>(s.back());
    }
    if (auto v = f.get_f32_array(key)) acc += v->size();
    if (auto v = f.get_int_array(key)) acc += v->size();
    const tk::formats::GgufValue* v = f.find(key);
    if ((v != nullptr) != must_exist) std::abort();  // every parsed key must be found again
    if (v != nullptr) {
        acc += static_cast<uint32_t>(v->type);
        acc += tk::formats::gguf_type_name(v->type)[0];
    }
    g_sink = g_sink + acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = tk::formats::GgufFile::parse(data, size, "fuzz.gguf");
    if (!r.is_ok()) {
        // Errors must name the file.
        if (r.status().message().rfind("fuzz.gguf: ", 0) != 0) std::abort();
        return 0;
    }
    const tk::formats::GgufFile& f = *r.value();
    uint64_t acc = f.version() + f.alignment() + f.data_offset() + f.file_size();
    for (const tk::formats::GgufKV& kv : f.metadata()) touch_value(f, kv.key, true);
    if (f.find("\x01not a key") == nullptr) touch_value(f, "\x01not a key", false);
    for (const tk::formats::GgufTensorInfo& t : f.tensors()) {
        if (f.find_tensor(t.name) != &t) std::abort();
        const tk::TensorView& v = t.view;
        if (v.nbytes <= 0 || v.n_dims < 0 || v.n_dims > 4) std::abort();
        if (v.rows() * v.row_bytes() != v.nbytes) std::abort();
        const uint8_t* p = static_cast<const uint8_t*>(v.data);
        if (p < data || p + v.nbytes > data + size) std::abort();
        acc += p[0] + p[v.nbytes - 1] + static_cast<uint64_t>(v.n_elements());
        acc += tk::shape_to_string(v).size();
    }
    g_sink = g_sink + acc;
    return 0;
}

#pragma once
// Numeric kernels over raw rows and blocks. One KernelTable per ISA; kernels() returns the one
// chosen at start-up (best available, or TK_FORCE_ISA=ref|avx2). Knows no file format or model.
//
// Like llama.cpp's CPU backend, a weight row of type T is multiplied by an activation row that
// was first converted to T's vec_dot_type (Q8_0, Q8_1, Q8_K, F16, BF16 or F32). This keeps
// the inner loops integer and matches llama.cpp's numbers closely.
#include <cstdint>

#include "core/dtype.h"

namespace tk::kernels {

enum class Isa { kRef = 0, kAvx2 = 1 };
const char* isa_name(Isa isa);

// Most activation rows one vec_dot_rows call takes.
constexpr int kMaxDotRows = 4;

// Per weight type. Null function pointers mean "not supported".
struct TypeKernels {
    DType vec_dot_type = DType::kF32;
    // Row of n elements (n multiple of the block size) to float.
    void (*to_float)(const void* src, float* dst, int64_t n) = nullptr;
    // Float row to this type, used for activations (fast, llama.cpp's conversion rules).
    void (*from_float)(const float* src, void* dst, int64_t n) = nullptr;
    // *s = dot(x row of this type, y row of vec_dot_type), n elements.
    void (*vec_dot)(int64_t n, float* s, const void* x, const void* y) = nullptr;
    // Optional (may be null): s[r] = dot(x, row r of y) for r in [0, nr), 1 <= nr <=
    // kMaxDotRows, y rows y_stride bytes apart. Loads and decodes each weight block once for
    // all nr rows (prompt processing). Every s[r] is bit-identical to vec_dot on that row, so
    // batching or thread splits never change results.
    void (*vec_dot_rows)(int64_t n, int nr, float* s, const void* x, const void* y,
                         int64_t y_stride) = nullptr;
};

constexpr int kMaxDTypeId = 40;

struct KernelTable {
    Isa isa = Isa::kRef;
    TypeKernels types[kMaxDTypeId];
    const TypeKernels& of(DType t) const { return types[static_cast<int>(t)]; }
};

const KernelTable& kernels();          // chosen once (TK_FORCE_ISA honoured)
const KernelTable& kernels_for(Isa isa);  // for tests; avx2 only if the CPU has it
bool cpu_has_avx2();

}  // namespace tk::kernels

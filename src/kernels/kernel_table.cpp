#include "kernels/kernel_table.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "base/log.h"
#include "kernels/registry.h"

namespace tk::kernels {
namespace {

// XCR0 via xgetbv. Written as inline asm so this file needs no -mxsave.
uint64_t read_xcr0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool detect_avx2() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool fma = (c >> 12) & 1;
    const bool osxsave = (c >> 27) & 1;
    const bool avx = (c >> 28) & 1;
    const bool f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return false;
    // The OS must save the SSE and AVX register state on context switches.
    if ((read_xcr0() & 0x6) != 0x6) return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (b >> 5) & 1;
}

KernelTable build_ref() {
    KernelTable t;
    t.isa = Isa::kRef;
    detail::register_float_ref(t);
    detail::register_legacy_ref(t);
    detail::register_kquants_ref(t);
    return t;
}

KernelTable build_avx2(const KernelTable& ref) {
    KernelTable t = ref;
    t.isa = Isa::kAvx2;
    detail::register_float_avx2(t);
    detail::register_legacy_avx2(t);
    detail::register_kquants_avx2(t);
    // vec_dot_rows promises the same bits as vec_dot. If a family replaced vec_dot but left a
    // multi-row kernel inherited from the ref table, that promise would break: drop it.
    for (int i = 0; i < kMaxDTypeId; ++i) {
        TypeKernels& k = t.types[i];
        const TypeKernels& r = ref.types[i];
        if (k.vec_dot != r.vec_dot && k.vec_dot_rows == r.vec_dot_rows) k.vec_dot_rows = nullptr;
    }
    return t;
}

const KernelTable& ref_table() {
    static const KernelTable t = build_ref();
    return t;
}

const KernelTable& avx2_table() {
    static const KernelTable t = build_avx2(ref_table());
    return t;
}

const KernelTable& choose() {
    const bool have_avx2 = cpu_has_avx2();
    const char* env = std::getenv("TK_FORCE_ISA");
    if (env != nullptr && env[0] != '\0') {
        const std::string want(env);
        if (want == "ref") return ref_table();
        if (want == "avx2") {
            if (have_avx2) return avx2_table();
            log_warn("TK_FORCE_ISA=avx2 but this CPU lacks AVX2/FMA/F16C; using ref kernels");
            return ref_table();
        }
        log_warn("TK_FORCE_ISA='" + want + "' is not one of ref, avx2; ignored");
    }
    return have_avx2 ? avx2_table() : ref_table();
}

}  // namespace

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::kRef: return "ref";
        case Isa::kAvx2: return "avx2";
    }
    return "unknown";
}

bool cpu_has_avx2() {
    static const bool has = detect_avx2();
    return has;
}

const KernelTable& kernels() {
    static const KernelTable& chosen = choose();
    return chosen;
}

const KernelTable& kernels_for(Isa isa) {
    if (isa == Isa::kAvx2 && cpu_has_avx2()) return avx2_table();
    return ref_table();
}

}  // namespace tk::kernels

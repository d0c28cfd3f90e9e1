#pragma once
// Internal: each kernel family fills its entries of a KernelTable. The ref table is built
// from the ref registrations; the avx2 table starts as a copy of the ref table and the avx2
// registrations override what they implement.
#include "kernels/kernel_table.h"

namespace tk::kernels::detail {

void register_float_ref(KernelTable& t);     // F32, F16, BF16
void register_legacy_ref(KernelTable& t);    // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1
void register_kquants_ref(KernelTable& t);   // Q2_K..Q6_K, Q8_K, IQ4_NL, IQ4_XS
void register_float_avx2(KernelTable& t);
void register_legacy_avx2(KernelTable& t);
void register_kquants_avx2(KernelTable& t);

}  // namespace tk::kernels::detail

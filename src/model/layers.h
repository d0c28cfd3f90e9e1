#pragma once
// Float building blocks of the forward pass, written to follow ggml's operation order
// (e.g. RMSNorm sums squares in double, RoPE angles by repeated multiplication).
#include <cstdint>

namespace tk::model {

// out = x / sqrt(mean(x^2) + eps) * w
void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out);
// In place: softmax over n values (max-subtracted, sum in double).
void softmax(float* x, int64_t n);
// y[i] = silu(gate[i]) * up[i]
void swiglu(const float* gate, const float* up, int64_t n, float* y);
// Rotates n_rot dims of one head at position pos. Normal: pairs (2i, 2i+1); neox: (i, i + n_rot/2).
void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, bool neox);

}  // namespace tk::model

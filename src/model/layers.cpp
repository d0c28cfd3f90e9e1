#include "model/layers.h"

#include <cmath>

namespace tk::model {

void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, bool neox,
          const float* freq_factors, float attn_factor) {
    const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
    float theta = static_cast<float>(pos);
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; ++i) {
        const float ff = freq_factors != nullptr ? freq_factors[i] : 1.0f;
        const float t = freq_scale * (theta / ff);
        const float c = std::cos(t) * attn_factor, s = std::sin(t) * attn_factor;
        const int64_t a = neox ? i : 2 * i;
        const int64_t b = neox ? i + half : 2 * i + 1;
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
        theta *= theta_scale;
    }
}

void layer_norm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i] - mean;
        out[i] = v;
        sum2 += static_cast<double>(v * v);
    }
    const float variance = static_cast<float>(sum2 / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(variance + eps);
    for (int64_t i = 0; i < n; ++i) {
        float y = out[i] * scale;
        if (w != nullptr) y *= w[i];
        if (b != nullptr) y += b[i];
        out[i] = y;
    }
}

}  // namespace tk::model

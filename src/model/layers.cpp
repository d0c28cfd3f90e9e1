#include "model/layers.h"

#include <cmath>

namespace tk::model {

void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, bool neox) {
    const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
    float theta = static_cast<float>(pos);
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; ++i) {
        const float t = freq_scale * theta;
        const float c = std::cos(t), s = std::sin(t);
        const int64_t a = neox ? i : 2 * i;
        const int64_t b = neox ? i + half : 2 * i + 1;
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
        theta *= theta_scale;
    }
}

}  // namespace tk::model

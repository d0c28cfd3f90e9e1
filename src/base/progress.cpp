#include "base/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tk {

ProgressBar::ProgressBar(std::string label, int64_t total) : label_(std::move(label)), total_(total) {
    const char* env = std::getenv("TK_PROGRESS");
    enabled_ = env != nullptr ? std::strcmp(env, "0") != 0 : isatty(STDERR_FILENO) == 1;
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t done, const std::string& detail) {
    if (!enabled_ || finished_ || total_ <= 0) return;
    const int permille = static_cast<int>(done * 1000 / total_);
    if (permille == last_permille_ && done != total_) return;
    last_permille_ = permille;
    constexpr int kWidth = 30;
    const int filled = permille * kWidth / 1000;
    char bar[kWidth + 1];
    for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
    bar[kWidth] = 0;
    const double secs = timer_.seconds();
    const double eta = done > 0 ? secs * static_cast<double>(total_ - done) / static_cast<double>(done) : 0;
    std::fprintf(stderr, "\r%s [%s] %5.1f%% %lld/%lld %.1fs eta %.1fs %s\033[K", label_.c_str(), bar,
                 permille / 10.0, static_cast<long long>(done), static_cast<long long>(total_), secs, eta,
                 detail.c_str());
    std::fflush(stderr);
}

void ProgressBar::finish() {
    if (!enabled_ || finished_) return;
    finished_ = true;
    if (last_permille_ >= 0) std::fprintf(stderr, "\n");
}

}  // namespace tk

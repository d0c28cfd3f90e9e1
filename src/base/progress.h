#pragma once
// A one-line progress bar on stderr for long work (loading, quantizing, perplexity).
// Drawn only when stderr is a terminal (or TK_PROGRESS=1); silent otherwise so logs stay clean.
#include <cstdint>
#include <string>

#include "base/timer.h"

namespace tk {

class ProgressBar {
public:
    ProgressBar(std::string label, int64_t total);
    ~ProgressBar();
    void update(int64_t done, const std::string& detail = "");
    void finish();

private:
    std::string label_;
    int64_t total_;
    bool enabled_;
    bool finished_ = false;
    int last_permille_ = -1;
    Timer timer_;
};

}  // namespace tk

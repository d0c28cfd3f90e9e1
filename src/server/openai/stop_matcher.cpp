#include "server/openai/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace tk::server::openai {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
    for (std::string& s : stops) {
        if (!s.empty()) stops_.push_back(std::move(s));
    }
}

std::string StopMatcher::push(std::string_view piece, bool* stopped) {
    *stopped = false;
    held_ += piece;
    if (stops_.empty()) return std::exchange(held_, {});
    // Earliest occurrence of any stop string wins.
    size_t cut = std::string::npos;
    for (const std::string& s : stops_) cut = std::min(cut, held_.find(s));
    if (cut != std::string::npos) {
        *stopped = true;
        std::string out = held_.substr(0, cut);
        held_.clear();
        return out;
    }
    // Hold back the longest tail of held_ that is a proper prefix of some stop string. Every
    // earlier start was already ruled out, so only this tail can still grow into a match. A tail
    // equal to the prefix of valid UTF-8 starts on a character boundary, so the split is clean.
    size_t keep = 0;
    for (const std::string& s : stops_) {
        const size_t max_len = std::min(s.size() - 1, held_.size());
        for (size_t len = max_len; len > keep; --len) {
            if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
                keep = len;
                break;
            }
        }
    }
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopMatcher::flush() { return std::exchange(held_, {}); }

}  // namespace tk::server::openai

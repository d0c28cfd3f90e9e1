#pragma once
// Stop strings over streamed text: text that is, or may become, a stop string is never emitted.
// Text that could be the start of a stop string is held back until the next piece decides it.
#include <string>
#include <string_view>
#include <vector>

namespace tk::server::openai {

class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops);

    // Appends `piece` and returns what is now safe to emit. Sets *stopped when a stop string
    // appeared: the returned text then ends just before it, and nothing may follow.
    std::string push(std::string_view piece, bool* stopped);
    // The end of generation: whatever was held back is final text.
    std::string flush();

private:
    std::vector<std::string> stops_;
    std::string held_;
};

}  // namespace tk::server::openai

#include "engine/stream.h"

#include "base/check.h"

namespace tk::engine {

const char* finish_reason_name(FinishReason r) {
    switch (r) {
        case FinishReason::kNone:
            return "none";
        case FinishReason::kStop:
            return "stop";
        case FinishReason::kLength:
            return "length";
        case FinishReason::kCancelled:
            return "cancelled";
        case FinishReason::kError:
            return "error";
    }
    return "unknown";
}

std::optional<Event> Stream::read() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !events_.empty() || final_read_; });
    if (events_.empty()) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    if (e.is_final()) final_read_ = true;
    return e;
}

std::optional<Event> Stream::try_read() {
    std::lock_guard lock(mu_);
    if (events_.empty()) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    if (e.is_final()) final_read_ = true;
    return e;
}

bool Stream::finished() const {
    std::lock_guard lock(mu_);
    return final_pushed_;
}

void Stream::set_notify(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    notify_ = std::move(fn);
}

void Stream::push(Event e) {
    std::function<void()> notify;
    {
        std::lock_guard lock(mu_);
        TK_CHECK(!final_pushed_);  // nothing may follow the final event
        final_pushed_ = e.is_final();
        events_.push_back(std::move(e));
        notify = notify_;
    }
    cv_.notify_all();
    if (notify) notify();
}

}  // namespace tk::engine

#pragma once
// The output of one request: a thread-safe queue of events that the engine loop fills and any
// other thread drains. Ends with exactly one final event.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "engine/request.h"

namespace tk::engine {

class Stream {
public:
    explicit Stream(uint64_t id) : id_(id) {}
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    uint64_t id() const { return id_; }

    // Blocks until an event is available; nullopt once the final event has been read.
    std::optional<Event> read();
    // Never blocks: the next event if one is queued, else nullopt.
    std::optional<Event> try_read();
    // Whether the final event has been queued (it may not have been read yet).
    bool finished() const;

    // Called (from the engine thread, without the stream's lock) after each push, for readers
    // that wait on an event loop instead of a thread. Set it before the first event can arrive
    // or guard against a missed wake-up by calling try_read() after setting it.
    void set_notify(std::function<void()> fn);

    // Engine side.
    void push(Event e);

private:
    const uint64_t id_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Event> events_;
    bool final_pushed_ = false;
    bool final_read_ = false;
    std::function<void()> notify_;
};

}  // namespace tk::engine

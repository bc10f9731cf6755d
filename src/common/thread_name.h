#pragma once

#include <string_view>

namespace keel {

// Names the calling thread, so `top -H`, `ps -L` and a debugger's thread
// list show what each of the broker's threads does ("keel-net-0",
// "keel-http-1"...). Linux keeps 15 bytes of a name: a longer one is cut.
void set_thread_name(std::string_view name);

// Lowers the calling thread's CPU priority to `nice` (0..19; higher is
// lower), for work that may wait behind requests (rendering /metrics). An
// unprivileged process cannot raise it again, so this suits threads that do
// only such work. Returns false when the kernel refused.
bool lower_thread_priority(int nice);

}  // namespace keel

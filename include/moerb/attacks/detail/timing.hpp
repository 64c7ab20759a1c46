#pragma once
// Wall-time bookkeeping shared by the attacks (AttackResult::seconds and model_seconds).
#include <chrono>

namespace moerb::detail::attacks {

using Clock = std::chrono::steady_clock;

/// Seconds from `start` to now.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace moerb::detail::attacks

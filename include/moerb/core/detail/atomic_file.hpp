#pragma once
// Atomic file replacement: the contents go to a new temporary file in the target's directory,
// which is renamed over the target only once everything has been written and closed. Readers see
// either the old file or the complete new one, never a partial write; on any failure the temporary
// file is removed and the target is left as it was.
//
// rename() within one directory is atomic on POSIX file systems (and replaces an existing target);
// the temporary file lives beside the target because a rename across file systems is a copy.
// No fsync is issued: the replacement is atomic against crashes of the writing process, not
// against power loss before the operating system flushes its caches.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "moerb/core/error.hpp"

namespace moerb::detail {

/// Receives one chunk of the file's contents; throws moerb::error when the write fails.
using WriteChunk = std::function<void(const void* data, std::size_t size)>;

/// Writes `target` atomically with the bytes that `produce(write_chunk)` passes to write_chunk.
/// `where` names the caller in error messages ("write_safetensors").
template <class Produce>
void write_file_atomically(const std::filesystem::path& target, std::string_view where,
                           Produce&& produce) {
  namespace fs = std::filesystem;
  MOERB_REQUIRE(target.has_filename(), where, ": '", target.string(), "' does not name a file");
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");

  // A name no other writer uses at the same time: "." + target name + a per-process counter,
  // the clock and the thread; "wbx" (C11 exclusive create) refuses an existing file, and a few
  // retries cover the unlikely collision.
  static std::atomic<unsigned long long> counter{0};
  std::FILE* file = nullptr;
  fs::path temporary;
  int open_errno = 0;
  for (int attempt = 0; attempt < 16 && file == nullptr; ++attempt) {
    const auto stamp = static_cast<unsigned long long>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    const auto thread = std::hash<std::thread::id>{}(std::this_thread::get_id());
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about "." + std::string.
    std::string name(1, '.');
    name.append(target.filename().string())
        .append(".tmp-")
        .append(std::to_string(counter.fetch_add(1)))
        .append("-")
        .append(std::to_string(stamp))
        .append("-")
        .append(std::to_string(thread % 1000003));
    temporary = directory / name;
    errno = 0;
    file = std::fopen(temporary.string().c_str(), "wbx");
    open_errno = errno;
    if (file == nullptr && open_errno != EEXIST) break;
  }
  if (file == nullptr) {
    throw error(concat(where, ": cannot create a temporary file in '", directory.string(),
                       "' to write '", target.string(),
                       "': ", std::generic_category().message(open_errno)));
  }

  try {
    const WriteChunk write_chunk = [&](const void* data, std::size_t size) {
      if (size == 0) return;
      if (std::fwrite(data, 1, size, file) != size) {
        throw error(concat(where, ": writing '", temporary.string(), "' for '", target.string(),
                           "' failed: ", std::generic_category().message(errno)));
      }
    };
    produce(write_chunk);
    const bool flushed = std::fflush(file) == 0 && std::ferror(file) == 0;
    const int flush_errno = errno;
    std::FILE* closing = file;
    file = nullptr;
    const bool closed = std::fclose(closing) == 0;
    if (!flushed || !closed) {
      throw error(
          concat(where, ": writing '", temporary.string(), "' for '", target.string(),
                 "' failed: ", std::generic_category().message(flushed ? errno : flush_errno)));
    }
    std::error_code ec;
    fs::rename(temporary, target, ec);
    if (ec) {
      throw error(concat(where, ": cannot rename '", temporary.string(), "' to '", target.string(),
                         "': ", ec.message()));
    }
  } catch (...) {
    if (file != nullptr) std::fclose(file);
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

}  // namespace moerb::detail

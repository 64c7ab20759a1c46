#pragma once
// Shared by the libFuzzer harnesses in tests/fuzz: the rule every harness enforces (a parser either
// succeeds or throws moerb::error), invariant checks that abort with a message, and a per-process
// temporary file for the readers that only take a path.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>

#include "moerb/core/error.hpp"

namespace moerb::fuzz {

/// Aborts (a finding for libFuzzer) with `what` when an invariant does not hold.
#define MOERB_FUZZ_CHECK(condition, what)                                                    \
  do {                                                                                       \
    if (!(condition)) ::moerb::fuzz::invariant_failed(#condition, what, __FILE__, __LINE__); \
  } while (false)

[[noreturn]] inline void invariant_failed(const char* condition, std::string_view what,
                                          const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s (%.*s)\n", file, line, condition,
               static_cast<int>(what.size()), what.data());
  std::abort();
}

/// MOERB_FUZZ_VERBOSE=1 in the environment: parses() prints every moerb::error it catches (to see
/// what a corpus input exercises: fuzz_<name> -runs=0 <file>).
[[nodiscard]] inline bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("MOERB_FUZZ_VERBOSE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}

/// Runs `parse()`. A moerb::error is the expected answer to bad input and returns false; any other
/// exception is a finding and aborts, printing its dynamic type and message. True: it succeeded.
template <class F>
bool parses(F&& parse) {
  try {
    parse();
    if (verbose()) std::fprintf(stderr, "parsed\n");
    return true;
  } catch (const moerb::error& e) {
    if (verbose()) std::fprintf(stderr, "moerb::error: %s\n", e.what());
    return false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parser threw %s, not moerb::error: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "parser threw a non-std::exception\n");
    std::abort();
  }
}

/// Runs `f()`, which must not throw at all (the checks made after a successful parse).
template <class F>
void must_not_throw(F&& f, std::string_view what) {
  try {
    f();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%.*s threw %s: %s\n", static_cast<int>(what.size()), what.data(),
                 typeid(e).name(), e.what());
    std::abort();
  }
}

/// A file in $TMPDIR (or /tmp) whose name holds the process id and `tag`, so that parallel
/// fuzzers never share one; removed at exit.
class TempFile {
 public:
  explicit TempFile(std::string_view tag) {
    path_ = directory() /
            ("moerb-fuzz-" + std::to_string(::getpid()) + "-" + std::string(tag));
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  /// Replaces the file's content with `bytes` (a new file each time: rewriting through truncation
  /// makes ext4 flush it to disk on close) and returns its path.
  const std::filesystem::path& write(const std::uint8_t* bytes, std::size_t size) const {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    std::ofstream out(path_, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path_.c_str());
      std::abort();
    }
    return path_;
  }
  const std::filesystem::path& write(std::string_view text) const {
    return write(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  // $TMPDIR when set; otherwise /dev/shm where it is a writable directory (a memory file system:
  // writing one file per input to a disk costs more than parsing it), else /tmp.
  static std::filesystem::path directory() {
    const char* dir = std::getenv("TMPDIR");
    if (dir != nullptr && *dir != '\0') return dir;
    if (::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
    return "/tmp";
  }

  std::filesystem::path path_;
};

/// The input as text.
[[nodiscard]] inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace moerb::fuzz

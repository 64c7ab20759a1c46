#pragma once
// Helpers shared by the tests of include/moerb/text/: error-message checks, a scratch directory
// and file writing for the load tests.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "support/messages.hpp"
#include "support/scratch_dir.hpp"

namespace moerb::test {

/// Runs `f`, which must throw moerb::error, and returns the message.
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const moerb::error& e) {
    return e.what();
  }
  BOOST_FAIL("expected moerb::error, nothing was thrown");
  return {};
}

inline void write_bytes(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// The seven special-token lines every vocabulary file starts with.
inline constexpr std::string_view special_lines =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n[BOS]\n[EOS]\n";

}  // namespace moerb::test

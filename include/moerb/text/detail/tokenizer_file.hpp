#pragma once
// The tokenizer file: one header line with the tokenizer's kind and options, then the vocabulary
// in its own format (moerb/text/vocabulary.hpp) from line 2 on:
//
//   #moerb-tokenizer <kind> v1 <key>=<value> <key>=<value> ...
//   [PAD]
//   [UNK]
//   ...
//
// One file instead of a vocabulary plus a config file, so that a save is one atomic rename and a
// loaded tokenizer can never pair a vocabulary with another run's options. Values are decimal
// integers or true/false; load rejects unknown, duplicate and missing keys.
#include <charconv>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/detail/file_io.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb::detail::text {

inline constexpr std::string_view tokenizer_file_magic = "#moerb-tokenizer";
inline constexpr std::string_view tokenizer_file_version = "v1";

/// Writes the header line and `vocab` to `path` atomically.
inline void save_tokenizer_file(const std::filesystem::path& path, std::string_view kind,
                                const std::vector<std::pair<std::string, std::string>>& fields,
                                const Vocabulary& vocab, std::string_view where) {
  std::string content = concat(tokenizer_file_magic, ' ', kind, ' ', tokenizer_file_version);
  for (const auto& [key, value] : fields) content += concat(' ', key, '=', value);
  content += '\n';
  content += vocab.to_text();
  write_file_atomically(path, content, where);
}

/// Reads a tokenizer file of one kind: the header's options are taken one by one (take_bool,
/// take_size), finish() rejects keys nobody took, vocabulary() parses the rest.
class TokenizerFileReader {
 public:
  TokenizerFileReader(const std::filesystem::path& path, std::string_view kind,
                      std::string_view where)
      : source_(path.string()), where_(where), content_(read_file(path, where)) {
    const std::size_t newline = content_.find('\n');
    const std::string_view header = std::string_view(content_).substr(0, newline);
    body_offset_ = newline == std::string::npos ? content_.size() : newline + 1;

    const std::string expected =
        concat(tokenizer_file_magic, ' ', kind, ' ', tokenizer_file_version);
    std::vector<std::string_view> words;
    std::size_t begin = 0;
    while (begin <= header.size()) {
      std::size_t end = header.find(' ', begin);
      if (end == std::string_view::npos) end = header.size();
      if (end > begin) words.push_back(header.substr(begin, end - begin));
      begin = end + 1;
    }
    if (words.size() < 3 || words[0] != tokenizer_file_magic || words[1] != kind ||
        words[2] != tokenizer_file_version) {
      fail_at(1, "expected the header '", expected, " key=value ...', found '", header, "'");
    }
    for (std::size_t i = 3; i < words.size(); ++i) {
      const std::string_view field = words[i];
      const std::size_t eq = field.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        fail_at(1, "header field '", field, "' is not key=value");
      }
      const std::string_view key = field.substr(0, eq);
      for (const auto& f : fields_) {
        if (f.key == key) fail_at(1, "header field '", key, "' appears twice");
      }
      fields_.push_back(Field{key, field.substr(eq + 1), false});
    }
  }

  // The fields view content_, which a move could relocate (small-string optimisation).
  TokenizerFileReader(const TokenizerFileReader&) = delete;
  TokenizerFileReader& operator=(const TokenizerFileReader&) = delete;

  [[nodiscard]] bool take_bool(std::string_view key) {
    const std::string_view value = take(key);
    if (value == "true") return true;
    if (value == "false") return false;
    fail_at(1, "header field ", key, "=", value, " is not true or false");
    return false;
  }

  [[nodiscard]] std::size_t take_size(std::string_view key) {
    const std::string_view value = take(key);
    unsigned long long parsed = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
      fail_at(1, "header field ", key, "=", value, " is not a non-negative integer");
    }
    return static_cast<std::size_t>(parsed);
  }

  /// Rejects header keys that no take_* asked for (a file from another version or a typo).
  void finish() const {
    for (const auto& f : fields_) {
      if (!f.taken) fail_at(1, "unknown header field '", f.key, "'");
    }
  }

  [[nodiscard]] Vocabulary vocabulary() const {
    return Vocabulary::from_text(std::string_view(content_).substr(body_offset_), source_, 2,
                                 where_);
  }

  template <class... Parts>
  [[noreturn]] void fail_at(std::size_t line, const Parts&... parts) const {
    throw error(concat(at_line(where_, source_, line), parts...));
  }

 private:
  struct Field {
    std::string_view key;  // views content_
    std::string_view value;
    bool taken;
  };

  std::string_view take(std::string_view key) {
    for (auto& f : fields_) {
      if (f.key == key) {
        f.taken = true;
        return f.value;
      }
    }
    fail_at(1, "header field '", key, "' is missing");
  }

  std::string source_;
  std::string_view where_;
  std::string content_;
  std::size_t body_offset_ = 0;
  std::vector<Field> fields_;
};

}  // namespace moerb::detail::text

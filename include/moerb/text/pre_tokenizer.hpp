#pragma once
// PreTokenizer: BERT-style basic pre-tokenization (Devlin et al. 2019, the reference
// BasicTokenizer): cleans the text, splits it into words on whitespace, makes every punctuation
// character and every CJK ideograph a word of its own, and optionally lower-cases.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb {

/// Splits UTF-8 text into words, code point by code point (classes from moerb/text/utf8.hpp):
///  - control and format characters and U+FFFD (utf8::is_control) are dropped, without splitting
///    ("a\u200Bb" → "ab");
///  - whitespace (utf8::is_whitespace) separates words and is dropped;
///  - punctuation (utf8::is_punctuation) and CJK ideographs (utf8::is_cjk) become one-character
///    words: "Hello, 世界!" → "hello" "," "世" "界" "!";
///  - everything else (letters, digits, symbols, emoji) is part of the current word;
///  - with lowercase, letters are lower-cased with utf8::to_lower (ASCII, Latin-1, Latin
///    Extended-A, basic Greek and Cyrillic; accents are kept).
/// The words joined by single spaces (normalize) is the normalised text that the tokenizers'
/// decode reproduces. Invalid UTF-8 throws moerb::error naming the byte offset.
class PreTokenizer {
 public:
  struct Options {
    /// Lower-case letters (BERT "uncased").
    bool lowercase = true;
  };

  PreTokenizer() = default;
  explicit PreTokenizer(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// Calls word_callback(std::string_view word) for every word of `text`, in order. The view is
  /// valid only during the call. Throws moerb::error "PreTokenizer: text has invalid UTF-8 at
  /// byte offset N (byte 0x..)" for ill-formed input (words before it have been reported).
  template <class F>
  void for_each_word(std::string_view text, F&& word_callback) const {
    std::string word;
    const auto flush = [&] {
      if (!word.empty()) {
        word_callback(std::string_view(word));
        word.clear();
      }
    };
    std::size_t offset = 0;
    while (offset < text.size()) {
      char32_t cp = 0;
      const std::size_t length = utf8::decode(text, offset, cp);
      if (length == 0) {
        throw error("PreTokenizer: text has " + utf8::detail::describe_invalid(text, offset));
      }
      if (utf8::is_whitespace(cp)) {
        flush();
      } else if (utf8::is_control(cp)) {
        // dropped: neither part of a word nor a separator
      } else if (utf8::is_punctuation(cp) || utf8::is_cjk(cp)) {
        flush();
        word.append(text.substr(offset, length));  // neither class has case
        flush();
      } else {
        const char32_t mapped = options_.lowercase ? utf8::to_lower(cp) : cp;
        if (mapped == cp) {
          word.append(text.substr(offset, length));
        } else {
          utf8::append(word, mapped);
        }
      }
      offset += length;
    }
    flush();
  }

  /// The words of `text` (see for_each_word).
  [[nodiscard]] std::vector<std::string> split(std::string_view text) const {
    std::vector<std::string> words;
    for_each_word(text, [&words](std::string_view w) { words.emplace_back(w); });
    return words;
  }

  /// The words of `text` joined by single spaces: "  Hello,World! " → "hello , world !".
  [[nodiscard]] std::string normalize(std::string_view text) const {
    std::string out;
    out.reserve(text.size());
    for_each_word(text, [&out](std::string_view w) {
      if (!out.empty()) out += ' ';
      out += w;
    });
    return out;
  }

 private:
  Options options_;
};

}  // namespace moerb

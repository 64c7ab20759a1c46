#pragma once
// Vocabulary: the bijection token string ↔ token id every moerb tokenizer is built on, and its
// one-token-per-line text file.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/text/detail/file_io.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb {

/// Token ids are 32-bit: enough for any vocabulary, and half the memory of Index in id buffers.
using TokenId = std::int32_t;

namespace detail::text {

/// Hash for heterogeneous lookup: find(std::string_view) without building a std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace detail::text

/// A list of distinct tokens; a token's id is its position in the list.
///
/// Every vocabulary starts with the seven special tokens at fixed ids, so that models and
/// encode_pair can use them without asking the tokenizer:
///
///   id 0 [PAD]   padding
///   id 1 [UNK]   unknown word / word without a segmentation
///   id 2 [CLS]   start of an encoded input (BERT's classification token)
///   id 3 [SEP]   end of a segment
///   id 4 [MASK]  masked-language-model target
///   id 5 [BOS]   beginning of sequence (decoder-style models)
///   id 6 [EOS]   end of sequence
///
/// Tokens are non-empty, valid UTF-8 and contain no line break ('\n' or '\r'), which keeps the
/// file format trivial.
///
/// File format (save / load, to_text / from_text): UTF-8 text, one token per line in id order,
/// each line ended by '\n' (the last '\n' may be missing on load). The first seven lines are the
/// special tokens above, in that order. Load rejects — naming the file and the line — an empty
/// line, a duplicate token, a missing or misplaced special token, invalid UTF-8 and '\r' (CRLF
/// line endings).
class Vocabulary {
 public:
  static constexpr TokenId pad_id = 0;
  static constexpr TokenId unk_id = 1;
  static constexpr TokenId cls_id = 2;
  static constexpr TokenId sep_id = 3;
  static constexpr TokenId mask_id = 4;
  static constexpr TokenId bos_id = 5;
  static constexpr TokenId eos_id = 6;
  static constexpr std::size_t special_token_count = 7;
  /// special_tokens[id] is the text of the special token with that id.
  static constexpr std::array<std::string_view, special_token_count> special_tokens{
      "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]"};

  /// A vocabulary of just the special tokens.
  Vocabulary() {
    tokens_.reserve(special_token_count);
    for (std::string_view token : special_tokens) add(token);
  }

  /// Appends `token` and returns its id; returns the existing id if it is already present. Throws
  /// moerb::error for an empty token, one with '\n' or '\r', invalid UTF-8, or a full vocabulary.
  TokenId add(std::string_view token) {
    constexpr std::string_view where = "Vocabulary::add";
    if (const auto it = ids_.find(token); it != ids_.end()) return it->second;
    MOERB_REQUIRE(!token.empty(), where, ": empty token");
    MOERB_REQUIRE(token.find_first_of("\r\n") == std::string_view::npos, where, ": token '", token,
            "' contains a line break");
    utf8::require_valid(token, where, "token");
    MOERB_REQUIRE(tokens_.size() < static_cast<std::size_t>(std::numeric_limits<TokenId>::max()), where,
            ": vocabulary is full (", tokens_.size(), " tokens)");
    const auto id = static_cast<TokenId>(tokens_.size());
    tokens_.emplace_back(token);
    ids_.emplace(tokens_.back(), id);
    return id;
  }

  /// The id of `token`, or std::nullopt when it is not in the vocabulary.
  [[nodiscard]] std::optional<TokenId> find(std::string_view token) const {
    const auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  [[nodiscard]] bool contains(std::string_view token) const { return ids_.contains(token); }
  /// The id of `token`, or unk_id when it is not in the vocabulary.
  [[nodiscard]] TokenId id_or_unk(std::string_view token) const {
    const auto it = ids_.find(token);
    return it == ids_.end() ? unk_id : it->second;
  }

  /// The token with id `id`; throws moerb::error when id is outside [0, size()).
  [[nodiscard]] const std::string& token(TokenId id) const {
    MOERB_REQUIRE(contains_id(id), "Vocabulary::token: id = ", id, ", expected in [0, ", size(), ")");
    return tokens_[static_cast<std::size_t>(id)];
  }
  [[nodiscard]] bool contains_id(TokenId id) const noexcept {
    return id >= 0 && static_cast<std::size_t>(id) < tokens_.size();
  }
  [[nodiscard]] static constexpr bool is_special(TokenId id) noexcept {
    return id >= 0 && static_cast<std::size_t>(id) < special_token_count;
  }

  [[nodiscard]] std::size_t size() const noexcept { return tokens_.size(); }
  /// All tokens in id order (tokens()[id] is the token with that id).
  [[nodiscard]] const std::vector<std::string>& tokens() const noexcept { return tokens_; }

  /// The file content: every token followed by '\n', in id order.
  [[nodiscard]] std::string to_text() const {
    std::size_t bytes = 0;
    for (const std::string& t : tokens_) bytes += t.size() + 1;
    std::string text;
    text.reserve(bytes);
    for (const std::string& t : tokens_) {
      text += t;
      text += '\n';
    }
    return text;
  }

  /// Parses the file format from memory. Errors read "<where>: <source>:<line>: ..."; `source`
  /// names the text, `first_line` is the line number of its first line (for formats that put a
  /// header first) and `where` the caller.
  [[nodiscard]] static Vocabulary from_text(std::string_view text,
                                            std::string_view source = "<text>",
                                            std::size_t first_line = 1,
                                            std::string_view where = "Vocabulary::from_text") {
    return parse(text, source, first_line, where);
  }

  /// Writes the vocabulary file atomically (temporary file in the same directory, then rename).
  void save(const std::filesystem::path& path) const {
    detail::text::write_file_atomically(path, to_text(), "Vocabulary::save");
  }

  /// Reads a vocabulary file; errors name the file and the line.
  [[nodiscard]] static Vocabulary load(const std::filesystem::path& path) {
    constexpr std::string_view where = "Vocabulary::load";
    return parse(detail::text::read_file(path, where), path.string(), 1, where);
  }

  friend bool operator==(const Vocabulary& a, const Vocabulary& b) {
    return a.tokens_ == b.tokens_;
  }

 private:
  // Separate from the constructor's add() loop so that parse can report every problem with its
  // line instead of add()'s generic message.
  static Vocabulary parse(std::string_view text, std::string_view source, std::size_t first_line,
                          std::string_view where) {
    using detail::text::at_line;
    Vocabulary vocab;       // holds the specials already; the file must repeat them first
    std::size_t index = 0;  // position of the line among the token lines = the token's id
    detail::text::for_each_line(text, first_line, [&](std::string_view line, std::size_t number) {
      const auto fail = [&](const auto&... parts) {
        throw error(moerb::detail::concat(at_line(where, source, number), parts...));
      };
      if (line.find('\r') != std::string_view::npos) {
        fail("carriage return in line (CRLF line endings are not supported)");
      }
      if (line.empty()) fail("empty line (tokens must be non-empty)");
      if (const std::size_t bad = utf8::find_invalid(line); bad != std::string_view::npos) {
        fail(utf8::detail::describe_invalid(line, bad), " of the line");
      }
      if (index < special_token_count) {
        if (line != special_tokens[index]) {
          fail("expected special token ", special_tokens[index], " (id ", index, "), found '", line,
               "'; the first ", special_token_count, " lines must be the special tokens");
        }
      } else {
        if (const auto it = vocab.ids_.find(line); it != vocab.ids_.end()) {
          fail("duplicate token '", line, "' (first on line ",
               first_line + static_cast<std::size_t>(it->second), ")");
        }
        if (index >= static_cast<std::size_t>(std::numeric_limits<TokenId>::max())) {
          fail("too many tokens for 32-bit ids");
        }
        vocab.add(line);
      }
      ++index;
    });
    if (index < special_token_count) {
      throw error(moerb::detail::concat(
          at_line(where, source, first_line + index), "missing special token ",
          special_tokens[index], " (id ", index, "): the text ends after ", index,
          " token lines; the first ", special_token_count, " lines must be the special tokens"));
    }
    return vocab;
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, TokenId, detail::text::StringHash, std::equal_to<>> ids_;
};

}  // namespace moerb

// Fuzzes the tokenizer and vocabulary files (include/moerb/text/): WordTokenizer::load,
// WordPieceTokenizer::load, Vocabulary::load and Vocabulary::from_text.
//
// Input: byte 0 (modulo 4) picks the reader: 0 WordTokenizer::load, 1 WordPieceTokenizer::load,
// 2 Vocabulary::load (these take a path: the rest is written to a per-process temporary file),
// 3 Vocabulary::from_text on the rest. Checks: the reader succeeds or throws moerb::error; a
// loaded vocabulary gives back its own text (the file's vocabulary part, with a final '\n') and
// round-trips through from_text; a loaded tokenizer saves to a file that loads back equal, and
// encodes the file's own text (when it is valid UTF-8) to ids in the vocabulary that decode and
// encode_pair accept, and that decode back to the pre-tokenizer's normalised text when none is
// [UNK].
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/text/wordpiece_tokenizer.hpp"

namespace {

using moerb::Vocabulary;
using moerb::fuzz::must_not_throw;

/// `vocab` was parsed from `text`: one token per line, so its text is `text` with a final '\n'.
void check_vocabulary(const Vocabulary& vocab, std::string_view text) {
  const std::string back = vocab.to_text();
  MOERB_FUZZ_CHECK(back == text || back == std::string(text) + "\n", "to_text gives the file back");
  must_not_throw(
      [&] { MOERB_FUZZ_CHECK(Vocabulary::from_text(back) == vocab, "from_text(to_text())"); },
      "Vocabulary::from_text(to_text())");
  for (std::size_t id = 0; id < vocab.size(); ++id) {
    MOERB_FUZZ_CHECK(vocab.find(vocab.tokens()[id]) == static_cast<moerb::TokenId>(id), "find");
  }
}

template <class T>
bool same_options(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, moerb::WordTokenizer>) {
    return a.options().lowercase == b.options().lowercase &&
           a.options().min_count == b.options().min_count &&
           a.options().max_size == b.options().max_size;
  } else {
    return a.options().lowercase == b.options().lowercase &&
           a.options().vocab_size == b.options().vocab_size &&
           a.options().min_frequency == b.options().min_frequency &&
           a.options().max_input_chars_per_word == b.options().max_input_chars_per_word;
  }
}

template <class T>
void check_tokenizer(const T& tokenizer, std::string_view file) {
  const std::size_t newline = file.find('\n');
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : file.substr(newline + 1);
  check_vocabulary(tokenizer.vocabulary(), body);

  static const moerb::fuzz::TempFile copy("tokenizer-copy");
  must_not_throw(
      [&] {
        tokenizer.save(copy.path());
        const T back = T::load(copy.path());
        MOERB_FUZZ_CHECK(back.vocabulary() == tokenizer.vocabulary(), "vocabulary saved");
        MOERB_FUZZ_CHECK(same_options(back, tokenizer), "options saved");
      },
      "save and load");

  if (!moerb::utf8::is_valid(file)) return;
  must_not_throw(
      [&] {
        const std::vector<moerb::TokenId> ids = tokenizer.encode(file);
        for (const moerb::TokenId id : ids) {
          MOERB_FUZZ_CHECK(tokenizer.vocabulary().contains_id(id), "encode gives known ids");
        }
        const std::string decoded = tokenizer.decode(ids);
        (void)tokenizer.decode(ids, /*skip_special_tokens=*/true);
        if (std::find(ids.begin(), ids.end(), Vocabulary::unk_id) == ids.end()) {
          MOERB_FUZZ_CHECK(decoded == tokenizer.pre_tokenizer().normalize(file),
                           "decode(encode(text)) == normalize(text) without [UNK]");
        }
        const std::size_t max_length = 3 + file.size() % 16;
        const auto pair = moerb::encode_pair(tokenizer, body, file, max_length);
        MOERB_FUZZ_CHECK(pair.ids.size() <= max_length, "encode_pair respects max_length");
        MOERB_FUZZ_CHECK(pair.ids.size() == pair.segment_ids.size(), "a segment per id");
      },
      "encoding valid UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const moerb::fuzz::TempFile file("tokenizer");
  const std::string_view text = moerb::fuzz::as_text(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      moerb::fuzz::parses([&] {
        const auto tokenizer = moerb::WordTokenizer::load(file.write(text));
        check_tokenizer(tokenizer, text);
      });
      break;
    case 1:
      moerb::fuzz::parses([&] {
        const auto tokenizer = moerb::WordPieceTokenizer::load(file.write(text));
        check_tokenizer(tokenizer, text);
      });
      break;
    case 2:
      moerb::fuzz::parses([&] { check_vocabulary(Vocabulary::load(file.write(text)), text); });
      break;
    default:
      moerb::fuzz::parses([&] { check_vocabulary(Vocabulary::from_text(text), text); });
      break;
  }
  return 0;
}

// Tests for include/moerb/text/tokenizer.hpp
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/text/tokenizer.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/text/wordpiece_tokenizer.hpp"
#include "text/text_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_text_tokenizer {

using moerb::EncodedText;
using moerb::TokenId;
using moerb::Vocabulary;
using moerb::test::message_has;
using Ids = std::vector<TokenId>;
using Segments = std::vector<std::int32_t>;

namespace {

/// A minimal Tokenizer: every byte 'a'..'z' is one token with id 7 + (c - 'a'); anything else is
/// skipped. Keeps the pair-encoding tests independent of real tokenizers.
class LetterTokenizer {
 public:
  LetterTokenizer() {
    for (char c = 'a'; c <= 'z'; ++c) vocab_.add(std::string(1, c));
  }
  [[nodiscard]] std::vector<TokenId> encode(std::string_view text) const {
    std::vector<TokenId> ids;
    for (const char c : text) {
      if (c >= 'a' && c <= 'z') ids.push_back(7 + (c - 'a'));
    }
    return ids;
  }
  [[nodiscard]] std::string decode(std::span<const TokenId> ids) const {
    std::string text;
    for (const TokenId id : ids) text += vocab_.token(id);
    return text;
  }
  [[nodiscard]] const Vocabulary& vocabulary() const { return vocab_; }
  [[nodiscard]] std::size_t vocab_size() const { return vocab_.size(); }

 private:
  Vocabulary vocab_;
};

constexpr TokenId CLS = Vocabulary::cls_id;
constexpr TokenId SEP = Vocabulary::sep_id;
constexpr TokenId A = 7;  // 'a'

/// Ids of the letters of `s` (LetterTokenizer).
Ids letters(std::string_view s) {
  return LetterTokenizer().encode(s);
}

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct NotATokenizer {
  std::vector<TokenId> encode(std::string_view) const { return {}; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(tokenizer)

BOOST_AUTO_TEST_CASE(concept_accepts_tokenizers_and_rejects_others) {
  static_assert(moerb::Tokenizer<LetterTokenizer>);
  static_assert(moerb::Tokenizer<moerb::WordTokenizer>);
  static_assert(moerb::Tokenizer<moerb::WordPieceTokenizer>);
  static_assert(!moerb::Tokenizer<NotATokenizer>);
  static_assert(!moerb::Tokenizer<Vocabulary>);
  BOOST_TEST(LetterTokenizer().decode(letters("abc")) == "abc");
}

BOOST_AUTO_TEST_CASE(single_text_gets_cls_and_sep_in_segment_zero) {
  const LetterTokenizer t;
  const EncodedText e = moerb::encode_single(t, "abc", moerb::no_max_length);
  BOOST_TEST(e.ids == concat({{CLS}, letters("abc"), {SEP}}), boost::test_tools::per_element());
  BOOST_TEST(e.segment_ids == (Segments{0, 0, 0, 0, 0}), boost::test_tools::per_element());
  // Empty text: just the special tokens.
  const EncodedText empty = moerb::encode_single(t, "", 2);
  BOOST_TEST(empty.ids == (Ids{CLS, SEP}), boost::test_tools::per_element());
  BOOST_TEST(empty.segment_ids == (Segments{0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(single_text_is_truncated_from_the_end) {
  const LetterTokenizer t;
  const EncodedText e = moerb::encode_single(t, "abcdef", 5);
  BOOST_TEST(e.ids == concat({{CLS}, letters("abc"), {SEP}}), boost::test_tools::per_element());
  BOOST_TEST(e.segment_ids.size() == 5u);
  BOOST_TEST(moerb::encode_single(t, "abcdef", 2).ids == (Ids{CLS, SEP}),
             boost::test_tools::per_element());
  // Exactly fitting: nothing removed.
  BOOST_TEST(moerb::encode_single(t, "abc", 5).ids.size() == 5u);
}

BOOST_AUTO_TEST_CASE(pair_layout_and_segment_ids) {
  const LetterTokenizer t;
  const EncodedText e = moerb::encode_pair(t, "ab", "xyz", moerb::no_max_length);
  BOOST_TEST(e.ids == concat({{CLS}, letters("ab"), {SEP}, letters("xyz"), {SEP}}),
             boost::test_tools::per_element());
  BOOST_TEST(e.segment_ids == (Segments{0, 0, 0, 0, 1, 1, 1, 1}), boost::test_tools::per_element());
  const EncodedText both_empty = moerb::encode_pair(t, "", "", 3);
  BOOST_TEST(both_empty.ids == (Ids{CLS, SEP, SEP}), boost::test_tools::per_element());
  BOOST_TEST(both_empty.segment_ids == (Segments{0, 0, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(pair_truncation_removes_from_the_longer_text_first) {
  const LetterTokenizer t;
  // a = 6 tokens, b = 2 tokens, room for 6: only a loses tokens (6 → 4).
  EncodedText e = moerb::encode_pair(t, "abcdef", "xy", 9);
  BOOST_TEST(e.ids == concat({{CLS}, letters("abcd"), {SEP}, letters("xy"), {SEP}}),
             boost::test_tools::per_element());
  BOOST_TEST(e.segment_ids == (Segments{0, 0, 0, 0, 0, 0, 1, 1, 1}),
             boost::test_tools::per_element());
  // b longer: b loses.
  e = moerb::encode_pair(t, "ab", "uvwxyz", 8);
  BOOST_TEST(e.ids == concat({{CLS}, letters("ab"), {SEP}, letters("uvw"), {SEP}}),
             boost::test_tools::per_element());
  // Both long, room for 5: they are evened out, then b gives up the odd token (a 3, b 2).
  e = moerb::encode_pair(t, "abcdef", "uvwxyz", 8);
  BOOST_TEST(e.ids == concat({{CLS}, letters("abc"), {SEP}, letters("uv"), {SEP}}),
             boost::test_tools::per_element());
  // Room for nothing but the special tokens.
  e = moerb::encode_pair(t, "abc", "xyz", 3);
  BOOST_TEST(e.ids == (Ids{CLS, SEP, SEP}), boost::test_tools::per_element());
  BOOST_TEST(e.segment_ids == (Segments{0, 0, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(longest_first_matches_one_at_a_time_removal) {
  // The closed form against the definition: remove one token from the longer sequence (b on a
  // tie) until the two fit.
  for (std::size_t la = 0; la <= 12; ++la) {
    for (std::size_t lb = 0; lb <= 12; ++lb) {
      for (std::size_t budget = 0; budget <= 26; ++budget) {
        std::size_t a = la;
        std::size_t b = lb;
        while (a + b > budget) {
          if (a > b) {
            --a;
          } else {
            --b;
          }
        }
        const auto [ka, kb] = moerb::detail::text::longest_first(la, lb, budget);
        if (ka != a || kb != b) {
          BOOST_FAIL("longest_first(" << la << ", " << lb << ", " << budget << ") = (" << ka << ", "
                                      << kb << "), expected (" << a << ", " << b << ")");
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(pair_truncation_result_always_fits) {
  const LetterTokenizer t;
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz";
  for (std::size_t la = 0; la <= 10; ++la) {
    for (std::size_t lb = 0; lb <= 10; ++lb) {
      for (std::size_t max_length = 3; max_length <= 25; ++max_length) {
        const EncodedText e =
            moerb::encode_pair(t, alphabet.substr(0, la), alphabet.substr(0, lb), max_length);
        const std::size_t expected = std::min(max_length, la + lb + 3);
        BOOST_TEST_REQUIRE(e.ids.size() == expected);
        BOOST_TEST_REQUIRE(e.segment_ids.size() == expected);
        // Prefixes are kept: the first kept token of a is 'a' (if any).
        if (e.ids[1] != SEP) BOOST_TEST_REQUIRE(e.ids[1] == A);
        BOOST_TEST_REQUIRE(e.ids.front() == CLS);
        BOOST_TEST_REQUIRE(e.ids.back() == SEP);
        BOOST_TEST_REQUIRE(std::count(e.ids.begin(), e.ids.end(), SEP) == 2);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(max_length_too_small_for_the_special_tokens_is_an_error) {
  const LetterTokenizer t;
  BOOST_CHECK_EXCEPTION((void)moerb::encode_single(t, "abc", 1), moerb::error,
                        message_has({"encode_single: max_length = 1, expected >= 2"}));
  BOOST_CHECK_EXCEPTION((void)moerb::encode_single(t, "", 0), moerb::error,
                        message_has({"max_length = 0"}));
  BOOST_CHECK_EXCEPTION((void)moerb::encode_pair(t, "a", "b", 2), moerb::error,
                        message_has({"encode_pair: max_length = 2, expected >= 3"}));
}

BOOST_AUTO_TEST_CASE(works_with_the_real_tokenizers) {
  const std::vector<std::string> corpus = {"the cat sat on the mat", "a dog sat on a log"};
  const auto words = moerb::WordTokenizer::train(corpus);
  const EncodedText w = moerb::encode_pair(words, "The cat sat.", "A dog", moerb::no_max_length);
  BOOST_TEST(words.decode(w.ids) == "[CLS] the cat sat [UNK] [SEP] a dog [SEP]");
  BOOST_TEST(w.segment_ids == (Segments{0, 0, 0, 0, 0, 0, 1, 1, 1}),
             boost::test_tools::per_element());

  moerb::WordPieceTokenizer::Options o;
  o.vocab_size = 40;
  o.min_frequency = 1;
  const auto pieces = moerb::WordPieceTokenizer::train(corpus, o);
  const EncodedText p = moerb::encode_pair(pieces, "the cats", "a dog sat on a mat", 10);
  BOOST_TEST(p.ids.size() == 10u);
  BOOST_TEST(p.ids.front() == CLS);
  BOOST_TEST(p.ids.back() == SEP);
  // "cats" has no segmentation ('s' never continues a word in the corpus), so a is "the [UNK]";
  // b's six words are single pieces after training, and b, the longer, gives up one of them.
  BOOST_TEST(pieces.decode(p.ids) == "[CLS] the [UNK] [SEP] a dog sat on a [SEP]");
  BOOST_TEST(p.segment_ids == (Segments{0, 0, 0, 0, 1, 1, 1, 1, 1, 1}),
             boost::test_tools::per_element());
  // Invalid UTF-8 in either text is reported by the tokenizer.
  BOOST_CHECK_EXCEPTION((void)moerb::encode_pair(pieces, "ok", "\xFF", 10), moerb::error,
                        message_has({"invalid UTF-8 at byte offset 0"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_text_tokenizer

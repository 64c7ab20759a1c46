// Tests for include/moerb/text/wordpiece_tokenizer.hpp
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/text/tokenizer.hpp"
#include "moerb/text/wordpiece_tokenizer.hpp"
#include "text/text_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_text_wordpiece_tokenizer {

using moerb::TokenId;
using moerb::Vocabulary;
using moerb::WordPieceMerge;
using moerb::WordPieceTokenizer;
using moerb::test::message_has;
using moerb::test::ScratchDir;
using Ids = std::vector<TokenId>;
using Words = std::vector<std::string>;

namespace {

// Word counts: aab ×3, ab ×2, cd ×1.
const Words kCorpus = {"aab aab", "AAB ab", "ab cd"};

WordPieceTokenizer::Options options(std::size_t vocab_size, std::size_t min_frequency) {
  WordPieceTokenizer::Options o;
  o.vocab_size = vocab_size;
  o.min_frequency = min_frequency;
  return o;
}

Words pieces_of(const Vocabulary& v) {
  return Words(v.tokens().begin() + static_cast<std::ptrdiff_t>(Vocabulary::special_token_count),
               v.tokens().end());
}

TokenId id(const WordPieceTokenizer& t, std::string_view token) {
  const auto found = t.vocabulary().find(token);
  BOOST_TEST_REQUIRE(found.has_value(), "'" << token << "' is not in the vocabulary");
  return *found;
}

bool has_unk(const Ids& ids) {
  return std::find(ids.begin(), ids.end(), Vocabulary::unk_id) != ids.end();
}

/// The tokens of `ids` (readable failure messages).
Words tokens_of(const WordPieceTokenizer& t, const Ids& ids) {
  Words out;
  for (const TokenId i : ids) out.push_back(t.vocabulary().token(i));
  return out;
}

// ---- an independent, deliberately naive WordPiece trainer --------------------------------------
// Recounts every piece and pair from scratch before each merge and compares scores as exact
// fractions (cross-multiplication; the test corpora keep the products far below 2^64), so it
// shares nothing with the incremental bookkeeping of detail::text::WordPieceTrainer.
struct NaiveResult {
  Words vocabulary;  // without the special tokens
  std::vector<WordPieceMerge> merges;
};

NaiveResult naive_wordpiece(const std::map<std::string, std::uint64_t>& word_counts,
                            std::size_t vocab_size, std::uint64_t min_pair_count) {
  std::map<std::string, Words> segmentation;
  std::set<std::string> initial;
  std::set<std::string> continuation;
  for (const auto& [word, count] : word_counts) {
    Words pieces;
    for (const moerb::utf8::CodePoint& c : moerb::utf8::code_points(word)) {
      const std::string ch(word.substr(c.offset, c.length));
      pieces.push_back(c.offset == 0 ? ch : "##" + ch);
      (c.offset == 0 ? initial : continuation).insert(pieces.back());
    }
    segmentation[word] = pieces;
  }
  NaiveResult result;
  result.vocabulary.assign(initial.begin(), initial.end());
  result.vocabulary.insert(result.vocabulary.end(), continuation.begin(), continuation.end());
  while (Vocabulary::special_token_count + result.vocabulary.size() < vocab_size) {
    std::map<std::string, std::uint64_t> piece_count;
    std::map<std::pair<std::string, std::string>, std::uint64_t> pair_count;
    for (const auto& [word, pieces] : segmentation) {
      const std::uint64_t n = word_counts.at(word);
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        piece_count[pieces[i]] += n;
        if (i + 1 < pieces.size()) pair_count[{pieces[i], pieces[i + 1]}] += n;
      }
    }
    const std::pair<std::string, std::string>* best = nullptr;
    std::uint64_t best_count = 0;
    for (const auto& [pair, count] : pair_count) {
      if (count < min_pair_count) continue;
      if (best == nullptr) {
        best = &pair;
        best_count = count;
        continue;
      }
      // count/(ca·cb) > best_count/(ba·bb)  ⇔  count·ba·bb > best_count·ca·cb
      const std::uint64_t lhs = count * piece_count[best->first] * piece_count[best->second];
      const std::uint64_t rhs = best_count * piece_count[pair.first] * piece_count[pair.second];
      const std::string merged = pair.first + pair.second.substr(2);
      const std::string best_merged = best->first + best->second.substr(2);
      const bool better =
          lhs != rhs
              ? lhs > rhs
              : (count != best_count
                     ? count > best_count
                     : (merged != best_merged ? merged < best_merged : pair.first < best->first));
      if (better) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr) break;
    const auto [left, right] = *best;
    const std::string merged = left + right.substr(2);
    result.merges.push_back(WordPieceMerge{
        left, right, merged, best_count,
        static_cast<double>(best_count) /
            (static_cast<double>(piece_count[left]) * static_cast<double>(piece_count[right]))});
    for (auto& [word, pieces] : segmentation) {
      Words rewritten;
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (i + 1 < pieces.size() && pieces[i] == left && pieces[i + 1] == right) {
          rewritten.push_back(merged);
          ++i;
        } else {
          rewritten.push_back(pieces[i]);
        }
      }
      pieces = rewritten;
    }
    if (std::find(result.vocabulary.begin(), result.vocabulary.end(), merged) ==
        result.vocabulary.end()) {
      result.vocabulary.push_back(merged);
    }
  }
  return result;
}

/// A pseudo-random corpus over a small alphabet (with é and 世, so pieces are multi-byte), and its
/// word counts.
std::pair<Words, std::map<std::string, std::uint64_t>> random_corpus(std::uint64_t seed) {
  moerb::Rng rng(seed);
  const Words alphabet = {"a", "b", "c", "d", "\xC3\xA9", "\xE4\xB8\x96"};
  Words corpus;
  std::map<std::string, std::uint64_t> counts;
  for (int line = 0; line < 40; ++line) {
    std::string text;
    const auto words = 1 + rng.uniform_index(8);
    for (std::uint64_t w = 0; w < words; ++w) {
      std::string word;
      const auto length = 1 + rng.uniform_index(6);
      // Few distinct letters per word so that pairs repeat.
      for (std::uint64_t k = 0; k < length; ++k) {
        word += alphabet[rng.uniform_index(k % 2 == 0 ? 3 : alphabet.size())];
      }
      // 世 is a word of its own for the pre-tokenizer: count what it will see.
      for (const std::string& piece : moerb::PreTokenizer().split(word)) ++counts[piece];
      text += word;
      text += ' ';
    }
    corpus.push_back(text);
  }
  return {corpus, counts};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wordpiece_tokenizer)

BOOST_AUTO_TEST_CASE(models_the_tokenizer_concept) {
  static_assert(moerb::Tokenizer<WordPieceTokenizer>);
  static_assert(std::is_copy_constructible_v<WordPieceTokenizer>);
  BOOST_TEST(WordPieceTokenizer::continuation_prefix == "##");
  const WordPieceTokenizer::Options defaults;
  BOOST_TEST(defaults.max_input_chars_per_word == 100u);
  BOOST_TEST(defaults.lowercase);
}

// Hand-verified training run on kCorpus (lower-cased: aab ×3, ab ×2, cd ×1), min_frequency 1.
//
// Start: aab = a ##a ##b, ab = a ##b, cd = c ##d.
//   piece counts  a 5, ##a 3, ##b 5, c 1, ##d 1
//   pair counts   (a,##a) 3, (##a,##b) 3, (a,##b) 2, (c,##d) 1
//   scores        (a,##a) 3/(5·3) = 0.2, (##a,##b) 3/(3·5) = 0.2, (a,##b) 2/(5·5) = 0.08,
//                 (c,##d) 1/(1·1) = 1
// 1. (c,##d) → "cd", score 1: the rarest pair wins because its pieces occur nowhere else — a
//    count-based BPE would have merged a count-3 pair instead.
// 2. (a,##a) and (##a,##b) tie at 0.2 and at count 3; the merged pieces "aa" and "##ab" compare
//    byte-wise with '#' < 'a', so (##a,##b) → "##ab". Now aab = a ##ab.
//   counts a 5, ##ab 3, ##b 2; scores (a,##ab) 3/(5·3) = 0.2, (a,##b) 2/(5·2) = 0.2
// 3. Tie at 0.2, higher pair count wins: (a,##ab) → "aab". Now ab = a ##b is the only pair left.
// 4. (a,##b) 2/(2·2) = 0.5 → "ab". No pairs remain.
BOOST_AUTO_TEST_CASE(training_on_a_small_corpus_gives_the_hand_verified_merges) {
  std::vector<WordPieceMerge> merges;
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1), &merges);
  const std::vector<WordPieceMerge> expected = {
      {"c", "##d", "cd", 1, 1.0},
      {"##a", "##b", "##ab", 3, 0.2},
      {"a", "##ab", "aab", 3, 0.2},
      {"a", "##b", "ab", 2, 0.5},
  };
  BOOST_TEST_REQUIRE(merges.size() == expected.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    BOOST_TEST_CONTEXT("merge " << i) {
      BOOST_TEST(merges[i].left == expected[i].left);
      BOOST_TEST(merges[i].right == expected[i].right);
      BOOST_TEST(merges[i].merged == expected[i].merged);
      BOOST_TEST(merges[i].pair_count == expected[i].pair_count);
      BOOST_TEST(merges[i].score == expected[i].score, boost::test_tools::tolerance(1e-15));
    }
  }
  // Specials, word-initial characters, continuation characters, then the merges in order.
  BOOST_TEST(pieces_of(t.vocabulary()) ==
                 (Words{"a", "c", "##a", "##b", "##d", "cd", "##ab", "aab", "ab"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.vocab_size() == 16u);
}

// With min_frequency 2 the count-1 pair (c,##d) is never eligible; the other merges are those of
// the hand-verified run above (steps 2–4), and vocab_size stops them early.
BOOST_AUTO_TEST_CASE(min_frequency_and_vocab_size_stop_the_merges) {
  std::vector<WordPieceMerge> merges;
  const WordPieceTokenizer all = WordPieceTokenizer::train(kCorpus, options(100, 2), &merges);
  BOOST_TEST(
      pieces_of(all.vocabulary()) == (Words{"a", "c", "##a", "##b", "##d", "##ab", "aab", "ab"}),
      boost::test_tools::per_element());
  BOOST_TEST(merges.size() == 3u);

  const WordPieceTokenizer capped = WordPieceTokenizer::train(kCorpus, options(14, 2));
  BOOST_TEST(
      pieces_of(capped.vocabulary()) == (Words{"a", "c", "##a", "##b", "##d", "##ab", "aab"}),
      boost::test_tools::per_element());
  BOOST_TEST(capped.vocab_size() == 14u);

  const WordPieceTokenizer high = WordPieceTokenizer::train(kCorpus, options(100, 4));
  BOOST_TEST(pieces_of(high.vocabulary()) == (Words{"a", "c", "##a", "##b", "##d"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_alphabet_is_kept_even_beyond_vocab_size) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(7, 1));
  BOOST_TEST(pieces_of(t.vocabulary()) == (Words{"a", "c", "##a", "##b", "##d"}),
             boost::test_tools::per_element());
  // Every training word still has a segmentation, one character per piece.
  BOOST_TEST(tokens_of(t, t.encode("aab cd")) == (Words{"a", "##a", "##b", "c", "##d"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(training_matches_a_naive_reference_implementation) {
  for (const std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    const auto [corpus, counts] = random_corpus(seed);
    for (const std::size_t min_frequency : {1u, 2u}) {
      BOOST_TEST_CONTEXT("seed " << seed << ", min_frequency " << min_frequency) {
        std::vector<WordPieceMerge> merges;
        const WordPieceTokenizer t =
            WordPieceTokenizer::train(corpus, options(60, min_frequency), &merges);
        const NaiveResult expected = naive_wordpiece(counts, 60, min_frequency);
        BOOST_TEST(pieces_of(t.vocabulary()) == expected.vocabulary,
                   boost::test_tools::per_element());
        BOOST_TEST_REQUIRE(merges.size() == expected.merges.size());
        for (std::size_t i = 0; i < merges.size(); ++i) {
          BOOST_TEST(merges[i].left == expected.merges[i].left);
          BOOST_TEST(merges[i].right == expected.merges[i].right);
          BOOST_TEST(merges[i].pair_count == expected.merges[i].pair_count);
          BOOST_TEST(merges[i].score == expected.merges[i].score);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(training_is_deterministic_and_independent_of_corpus_order) {
  const auto [corpus, counts] = random_corpus(7);
  std::vector<WordPieceMerge> first_merges;
  std::vector<WordPieceMerge> second_merges;
  const WordPieceTokenizer first = WordPieceTokenizer::train(corpus, options(50, 1), &first_merges);
  const WordPieceTokenizer second =
      WordPieceTokenizer::train(corpus, options(50, 1), &second_merges);
  const Words reversed(corpus.rbegin(), corpus.rend());
  const WordPieceTokenizer third = WordPieceTokenizer::train(reversed, options(50, 1));
  BOOST_TEST((first.vocabulary() == second.vocabulary()));
  BOOST_TEST((first.vocabulary() == third.vocabulary()));
  BOOST_TEST((first_merges == second_merges));
  BOOST_TEST(first.vocab_size() == 50u);
}

BOOST_AUTO_TEST_CASE(greedy_longest_match_first_encoding) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1));
  BOOST_TEST(tokens_of(t, t.encode("aab ab cd")) == (Words{"aab", "ab", "cd"}),
             boost::test_tools::per_element());
  // "aaab": no piece starts with "aa", so "a"; then "##aab" and "##aa" are unknown, "##a" is
  // known; then "##ab".
  BOOST_TEST(tokens_of(t, t.encode("aaab")) == (Words{"a", "##a", "##ab"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.decode(t.encode("aaab")) == "aaab");

  // The classic example on a hand-made vocabulary.
  Vocabulary v;
  for (const char* piece : {"un", "u", "##n", "##aff", "##a", "##able", "##ab", "##le"}) {
    v.add(piece);
  }
  const WordPieceTokenizer bert(v, options(100, 1));
  BOOST_TEST(tokens_of(bert, bert.encode("unaffable")) == (Words{"un", "##aff", "##able"}),
             boost::test_tools::per_element());
  BOOST_TEST(bert.decode(bert.encode("unaffable")) == "unaffable");
}

BOOST_AUTO_TEST_CASE(words_without_segmentation_become_one_unk) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1));
  // x is unknown; d and b only exist as continuation pieces.
  BOOST_TEST(t.encode("abx") == (Ids{Vocabulary::unk_id}), boost::test_tools::per_element());
  BOOST_TEST(t.encode("dc") == (Ids{Vocabulary::unk_id}), boost::test_tools::per_element());
  BOOST_TEST(tokens_of(t, t.encode("ab ba ab")) == (Words{"ab", "[UNK]", "ab"}),
             boost::test_tools::per_element());
  // All-unknown input.
  BOOST_TEST(t.encode("xyz \xE2\x82\xAC! qq") == (Ids{1, 1, 1, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(max_input_chars_per_word) {
  WordPieceTokenizer::Options o = options(100, 1);
  o.max_input_chars_per_word = 4;
  const WordPieceTokenizer t = WordPieceTokenizer::train(Words{"aab ab cd zzzzzz"}, o);
  // zzzzzz is longer than 4 characters: left out of training, so 'z' is not even in the alphabet.
  BOOST_TEST(!t.vocabulary().contains("z"));
  BOOST_TEST(tokens_of(t, t.encode("aaab")) == (Words{"a", "##a", "##ab"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.encode("aaaab") == (Ids{Vocabulary::unk_id}), boost::test_tools::per_element());
  // The limit counts code points, not bytes: four 2-byte characters are fine.
  const WordPieceTokenizer accents =
      WordPieceTokenizer::train(Words{"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"}, o);
  BOOST_TEST(!has_unk(accents.encode("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9")));
}

BOOST_AUTO_TEST_CASE(round_trip_reproduces_normalised_text) {
  const Words corpus = {"The quick brown fox jumps over the lazy dog.",
                        "Pack my box with five dozen liquor jugs!",
                        "How vexingly quick daft zebras jump; the five boxing wizards jump."};
  const WordPieceTokenizer t = WordPieceTokenizer::train(corpus, options(80, 1));
  for (const std::string& text : corpus) {
    const Ids ids = t.encode(text);
    BOOST_TEST(!has_unk(ids));
    BOOST_TEST(t.decode(ids) == t.pre_tokenizer().normalize(text));
  }
  // Unseen words made of seen characters are covered by pieces too.
  const std::string unseen = "Quiz the jumping boxer";
  BOOST_TEST(!has_unk(t.encode(unseen)));
  BOOST_TEST(t.decode(t.encode(unseen)) == "quiz the jumping boxer");
}

BOOST_AUTO_TEST_CASE(non_ascii_text_accents_cjk_and_emoji) {
  const Words corpus = {
      "Caf\xC3\xA9 na\xC3\xAFve \xC3\xA9t\xC3\xA9 caf\xC3\xA9s",  // Café naïve été cafés
      "\xE4\xB8\x96\xE7\x95\x8C\xE4\xBD\xA0\xE5\xA5\xBD",         // 世界你好
      "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok\xF0\x9F\x91\x8D"};     // 😀😀 ok👍
  const WordPieceTokenizer t = WordPieceTokenizer::train(corpus, options(60, 1));
  BOOST_TEST(t.vocabulary().contains("\xE4\xB8\x96"));        // 世 is a word of its own
  BOOST_TEST(t.vocabulary().contains("##\xF0\x9F\x98\x80"));  // ##😀
  const std::string text =
      "CAF\xC3\x89S \xE4\xBD\xA0\xE4\xB8\x96 ok\xF0\x9F\x98\x80";  // CAFÉS 你世 ok😀
  const Ids ids = t.encode(text);
  BOOST_TEST(!has_unk(ids));
  BOOST_TEST(t.decode(ids) == "caf\xC3\xA9s \xE4\xBD\xA0 \xE4\xB8\x96 ok\xF0\x9F\x98\x80");
  // "😀ok" has no segmentation: 'o' never continues a word in the corpus, so "##o" is unknown.
  BOOST_TEST(t.encode("\xF0\x9F\x98\x80ok") == (Ids{Vocabulary::unk_id}),
             boost::test_tools::per_element());
  for (const std::string& line : corpus) {
    BOOST_TEST(t.decode(t.encode(line)) == t.pre_tokenizer().normalize(line));
  }
}

BOOST_AUTO_TEST_CASE(empty_text_and_empty_corpus) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1));
  BOOST_TEST(t.encode("").empty());
  BOOST_TEST(t.encode(" \n\t ").empty());
  BOOST_TEST(t.decode(Ids{}).empty());
  const WordPieceTokenizer empty = WordPieceTokenizer::train(Words{}, options(100, 1));
  BOOST_TEST(empty.vocab_size() == 7u);
  BOOST_TEST(empty.encode("abc") == (Ids{Vocabulary::unk_id}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(decode_glues_continuations_and_checks_ids) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1));
  const Ids ids = {Vocabulary::cls_id, id(t, "a"),  id(t, "##a"),
                   id(t, "##ab"),      id(t, "cd"), Vocabulary::sep_id};
  BOOST_TEST(t.decode(ids) == "[CLS] aaab cd [SEP]");
  BOOST_TEST(t.decode(ids, /*skip_special_tokens=*/true) == "aaab cd");
  BOOST_TEST(t.decode(Ids{id(t, "##ab"), id(t, "##b")}) == "abb");  // a leading "##" is dropped
  BOOST_CHECK_EXCEPTION(
      (void)t.decode(Ids{id(t, "a"), 16}), moerb::error,
      message_has({"WordPieceTokenizer::decode: ids[1] = 16, expected in [0, 16)"}));
}

BOOST_AUTO_TEST_CASE(encode_into_appends) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1));
  Ids ids = {Vocabulary::cls_id};
  t.encode_into("aab", ids);
  t.encode_into("x", ids);
  BOOST_TEST(ids == (Ids{Vocabulary::cls_id, id(t, "aab"), Vocabulary::unk_id}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(very_long_input) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1));
  const auto start = std::chrono::steady_clock::now();
  // One 100k-character word: over max_input_chars_per_word, so one [UNK] without a quadratic
  // search.
  BOOST_TEST(t.encode(std::string(100000, 'a')) == (Ids{Vocabulary::unk_id}),
             boost::test_tools::per_element());
  // 100k characters of short words.
  std::string text;
  while (text.size() + 10 <= 100000) text += "aaab AB. ";
  text.resize(100000, ' ');
  const Ids ids = t.encode(text);
  BOOST_TEST(ids.size() > 50000u);
  BOOST_TEST(std::count(ids.begin(), ids.end(), Vocabulary::unk_id) == std::ptrdiff_t{11111});
  // Training on a long text stays fast as well.
  const WordPieceTokenizer big = WordPieceTokenizer::train(Words{text}, options(40, 1));
  BOOST_TEST(big.vocab_size() > 7u);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST(seconds < 5.0);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_throws_naming_the_offset) {
  const WordPieceTokenizer t = WordPieceTokenizer::train(kCorpus, options(100, 1));
  BOOST_CHECK_EXCEPTION((void)t.encode("aab ab\xE2\x82"), moerb::error,
                        message_has({"invalid UTF-8 at byte offset 6 (byte 0xe2)"}));
  BOOST_CHECK_EXCEPTION((void)WordPieceTokenizer::train(Words{"ok", "\x80"}, options(100, 1)),
                        moerb::error, message_has({"invalid UTF-8 at byte offset 0 (byte 0x80)"}));
}

BOOST_AUTO_TEST_CASE(invalid_options_are_rejected) {
  BOOST_CHECK_EXCEPTION((void)WordPieceTokenizer::train(kCorpus, options(6, 1)), moerb::error,
                        message_has({"WordPieceTokenizer::train: vocab_size = 6, expected >= 7"}));
  BOOST_CHECK_EXCEPTION((void)WordPieceTokenizer::train(kCorpus, options(100, 0)), moerb::error,
                        message_has({"WordPieceTokenizer::train: min_frequency = 0"}));
  WordPieceTokenizer::Options o = options(100, 1);
  o.max_input_chars_per_word = 0;
  BOOST_CHECK_EXCEPTION((void)WordPieceTokenizer(Vocabulary(), o), moerb::error,
                        message_has({"WordPieceTokenizer: max_input_chars_per_word = 0"}));
}

BOOST_AUTO_TEST_CASE(save_and_load_give_identical_encodings) {
  const ScratchDir dir;
  const auto path = dir / "wordpiece.tok";
  const auto [corpus, counts] = random_corpus(11);
  WordPieceTokenizer::Options o = options(45, 2);
  o.lowercase = false;
  o.max_input_chars_per_word = 5;
  const WordPieceTokenizer t = WordPieceTokenizer::train(corpus, o);
  t.save(path);
  BOOST_TEST(moerb::test::read_bytes(path).starts_with(
      "#moerb-tokenizer wordpiece v1 lowercase=false vocab_size=45 min_frequency=2 "
      "max_input_chars_per_word=5\n[PAD]\n[UNK]\n"));
  const WordPieceTokenizer back = WordPieceTokenizer::load(path);
  BOOST_TEST((back.vocabulary() == t.vocabulary()));
  BOOST_TEST(back.options().lowercase == false);
  BOOST_TEST(back.options().vocab_size == 45u);
  BOOST_TEST(back.options().min_frequency == 2u);
  BOOST_TEST(back.options().max_input_chars_per_word == 5u);
  for (const std::string& text : corpus) {
    BOOST_TEST(back.encode(text) == t.encode(text), boost::test_tools::per_element());
  }
  BOOST_TEST(back.encode("ABC abcdabcd") == t.encode("ABC abcdabcd"),
             boost::test_tools::per_element());
  BOOST_TEST(dir.entries() == (Words{"wordpiece.tok"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(load_rejects_malformed_files_naming_file_and_line) {
  const ScratchDir dir;
  const auto path = dir / "bad.tok";
  const std::string file = path.string();
  const std::string specials(moerb::test::special_lines);
  const std::string header =
      "#moerb-tokenizer wordpiece v1 lowercase=true vocab_size=100 min_frequency=1 "
      "max_input_chars_per_word=100\n";
  struct Case {
    std::string content;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {specials + "a\n", file + ":1: expected the header '#moerb-tokenizer wordpiece v1"},
      {"#moerb-tokenizer word v1 lowercase=true min_count=1 max_size=0\n" + specials,
       file + ":1: expected the header '#moerb-tokenizer wordpiece v1"},
      {"#moerb-tokenizer wordpiece v2 lowercase=true\n" + specials,
       file + ":1: expected the header"},
      {"#moerb-tokenizer wordpiece v1 lowercase=true vocab_size=100 min_frequency=1\n" + specials,
       file + ":1: header field 'max_input_chars_per_word' is missing"},
      {"#moerb-tokenizer wordpiece v1 lowercase=true vocab_size=100 min_frequency=1 "
       "max_input_chars_per_word=100 strip_accents=true\n" +
           specials,
       file + ":1: unknown header field 'strip_accents'"},
      {"#moerb-tokenizer wordpiece v1 lowercase=true vocab_size=1e3 min_frequency=1 "
       "max_input_chars_per_word=100\n" +
           specials,
       file + ":1: header field vocab_size=1e3 is not a non-negative integer"},
      {"#moerb-tokenizer wordpiece v1 lowercase=true vocab_size=3 min_frequency=1 "
       "max_input_chars_per_word=100\n" +
           specials,
       file + ":1: vocab_size = 3, expected >= 7"},
      {"#moerb-tokenizer wordpiece v1 lowercase=true vocab_size min_frequency=1\n" + specials,
       file + ":1: header field 'vocab_size' is not key=value"},
      {header + specials + "a\n##b\na\n", file + ":11: duplicate token 'a' (first on line 9)"},
      {header + specials + "a\n\n##b\n", file + ":10: empty line"},
      {header + "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", file + ":7: missing special token [BOS]"},
      {header + specials + "ok\n##\xC3\xA9\xFF\n", file + ":10: invalid UTF-8 at byte offset 4"},
      {"", file + ":1: expected the header"},
  };
  for (const Case& c : cases) {
    moerb::test::write_bytes(path, c.content);
    BOOST_TEST_CONTEXT("expected: " << c.expected) {
      BOOST_CHECK_EXCEPTION((void)WordPieceTokenizer::load(path), moerb::error,
                            message_has({"WordPieceTokenizer::load: " + c.expected}));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_text_wordpiece_tokenizer

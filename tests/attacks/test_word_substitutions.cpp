// Tests for include/moerb/attacks/word_substitutions.hpp and word_embeddings.hpp
//
// The WordNet swap on the hand-written snippet (exact candidates, case kept, part of speech
// respected); the embedding swap on a 9-word table with known cosines (exact neighbours, floor,
// ties, special and zero rows never proposed), from a user table and from a victim-style table
// with a Vocabulary.
#include "moerb/attacks/word_substitutions.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "attacks/lexical_testing.hpp"
#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/word_embeddings.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/text/vocabulary.hpp"
#include "support/messages.hpp"

namespace moerb_test_attacks_word_substitutions {

using moerb::AttackedText;
using moerb::EmbeddingNeighbourSwap;
using moerb::Index;
using moerb::Matrix;
using moerb::PartOfSpeech;
using moerb::Rng;
using moerb::WordEmbeddingIndex;
using moerb::WordEmbeddings;
using moerb::WordNetSynonymSwap;
using moerb::WordPosition;
using moerb::test::message_has;
using moerb::test::lexical::small_table;
using moerb::test::lexical::snippet_lexicon;
using Strings = std::vector<std::string>;

namespace {

/// Every candidate's text and the slot its edit touched.
template <class T>
std::vector<std::pair<std::string, WordPosition>> candidates(const T& swap,
                                                             const AttackedText& text,
                                                             std::vector<WordPosition> positions) {
  std::vector<AttackedText> out;
  Rng rng(7);
  swap.transform(text, positions, out, rng);
  std::vector<std::pair<std::string, WordPosition>> result;
  for (const AttackedText& c : out) {
    BOOST_REQUIRE(c.last_edit().size() == 1u);
    result.emplace_back(c.text(), c.last_edit().front());
  }
  return result;
}

std::vector<std::string> texts(const std::vector<std::pair<std::string, WordPosition>>& c) {
  std::vector<std::string> out;
  for (const auto& [text, p] : c) out.push_back(text);
  return out;
}

/// The table of small_table() as a victim's embedding table: the special tokens first (rows
/// 0-6, [UNK] pointing like "good"), then the words in a Vocabulary.
struct VocabularyTable {
  moerb::Vocabulary vocabulary;
  Matrix<double> table;
};

VocabularyTable vocabulary_table() {
  const WordEmbeddings<double> words = small_table();
  VocabularyTable v;
  v.table.setZero(7, 3);
  v.table.row(moerb::Vocabulary::unk_id) << 1, 0, 0;
  v.table.row(moerb::Vocabulary::pad_id) << 1, 0, 0;
  for (std::size_t i = 0; i < words.words.size(); ++i) {
    if (words.words[i] == "[UNK]") continue;
    const auto id = v.vocabulary.add(words.words[i]);
    v.table.conservativeResize(id + 1, 3);
    v.table.row(id) = words.vectors.row(static_cast<Index>(i));
  }
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(word_substitutions)

BOOST_AUTO_TEST_CASE(match_case_follows_the_replaced_word) {
  BOOST_TEST(moerb::match_case("Good", "fine") == "Fine");
  BOOST_TEST(moerb::match_case("GOOD", "fine") == "FINE");
  BOOST_TEST(moerb::match_case("good", "fine") == "fine");
  BOOST_TEST(moerb::match_case("I", "me") == "Me");
  BOOST_TEST(moerb::match_case("iPhone", "phone") == "phone");
  BOOST_TEST(moerb::match_case("McDonald", "burger") == "burger");
  BOOST_TEST(moerb::match_case("Good", "éclair") == "éclair");  // non-ASCII first letter: as is
  BOOST_TEST(moerb::match_case("DON'T", "can't") == "CAN'T");
}

BOOST_AUTO_TEST_CASE(wordnet_swap_proposes_synonyms_in_order_with_case) {
  const WordNetSynonymSwap swap(snippet_lexicon());
  const AttackedText text("Good dog, WALK fast.");
  const auto all = candidates(swap, text, text.attackable_positions());
  // good: noun goodness; adjective fine, well; adverb well (already proposed). dog: hound (multi-
  // word lemmas never). walk: noun stroll, verb amble. fast: adverb quickly.
  const Strings expected = {"Goodness dog, WALK fast.", "Fine dog, WALK fast.",
                            "Well dog, WALK fast.",     "Good hound, WALK fast.",
                            "Good dog, STROLL fast.",   "Good dog, AMBLE fast.",
                            "Good dog, WALK quickly."};
  BOOST_TEST(texts(all) == expected, boost::test_tools::per_element());
  BOOST_TEST((all[0].second == WordPosition{0, 0}));
  BOOST_TEST((all[3].second == WordPosition{0, 1}));
  BOOST_TEST((all[6].second == WordPosition{0, 3}));
  // Only the given positions, in the given order.
  const auto some = candidates(swap, text, {{0, 3}, {0, 1}});
  BOOST_TEST(texts(some) == (Strings{"Good dog, WALK quickly.", "Good hound, WALK fast."}),
             boost::test_tools::per_element());
  // Unknown words and empty (deleted) slots give nothing.
  BOOST_TEST(candidates(swap, AttackedText("the dogs"), {{0, 0}, {0, 1}}).empty());
  const AttackedText deleted = text.with_word({0, 1}, "");
  BOOST_TEST(candidates(swap, deleted, {{0, 1}}).empty());
}

BOOST_AUTO_TEST_CASE(wordnet_swap_keeps_to_the_chosen_parts_of_speech) {
  WordNetSynonymSwap::Options verbs;
  verbs.parts = {PartOfSpeech::verb};
  const AttackedText text("Good dog, WALK fast.");
  BOOST_TEST(texts(candidates(WordNetSynonymSwap(snippet_lexicon(), verbs), text,
                              text.attackable_positions())) == Strings{"Good dog, AMBLE fast."},
             boost::test_tools::per_element());
  WordNetSynonymSwap::Options adjectives;
  adjectives.parts = {PartOfSpeech::adjective};
  const WordNetSynonymSwap adjective_swap(snippet_lexicon(), adjectives);
  BOOST_TEST(adjective_swap.substitutes("Good") == (Strings{"Fine", "Well"}),
             boost::test_tools::per_element());
  BOOST_TEST(adjective_swap.substitutes("dog").empty());
  WordNetSynonymSwap::Options first;
  first.max_candidates = 1;
  BOOST_TEST(
      WordNetSynonymSwap(snippet_lexicon(), first).substitutes("good") == Strings{"goodness"},
      boost::test_tools::per_element());
  WordNetSynonymSwap::Options none;
  none.parts = {};
  BOOST_CHECK_EXCEPTION(WordNetSynonymSwap(snippet_lexicon(), none), moerb::error,
                        message_has({"WordNetSynonymSwap", "parts"}));
  BOOST_CHECK_THROW(WordNetSynonymSwap(std::shared_ptr<const moerb::WordNetSynonyms>()),
                    moerb::error);
}

BOOST_AUTO_TEST_CASE(embedding_index_cosines_and_lookup) {
  const WordEmbeddingIndex<double> index(small_table());
  BOOST_TEST(index.size() == 9);
  BOOST_TEST(index.dim() == 3);
  BOOST_TEST(*index.cosine("good", "fine") == 0.8, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(*index.cosine("good", "great") == 0.6, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(*index.cosine("fine", "great") == 0.96, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(*index.cosine("good", "bad") == -1.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(*index.cosine("good", "zero") == 0.0);
  BOOST_TEST(*index.cosine("Good", "FINE") == 0.8, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(!index.cosine("good", "superb").has_value());
  BOOST_TEST(!index.proposable(*index.find("[UNK]")));
  BOOST_TEST(!index.proposable(*index.find("##ly")));
  BOOST_TEST(!index.proposable(*index.find("zero")));
  BOOST_TEST(index.proposable(*index.find("bad")));
  BOOST_TEST(index.unit_rows().row(1).norm() == 1.0, boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(embedding_swap_exact_neighbours_and_floor) {
  const AttackedText text("Good movie!");
  EmbeddingNeighbourSwap<double>::Options options;
  options.k = 10;
  options.min_cosine = 0.5;
  const EmbeddingNeighbourSwap<double> swap(small_table(), options);
  // good: fine 0.8 and nice 0.8 (tie: lower row first), great 0.6; [UNK] and ##ly (cosine 1) are
  // never proposed. movie: nice 0.6.
  BOOST_TEST(texts(candidates(swap, text, text.attackable_positions())) ==
                 (Strings{"Fine movie!", "Nice movie!", "Great movie!", "Good nice!"}),
             boost::test_tools::per_element());
  const auto near = swap.neighbours("good");
  BOOST_REQUIRE(near.size() == 3u);
  BOOST_TEST(near[0].row == 1);
  BOOST_TEST(near[0].cosine == 0.8, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(near[1].row == 4);
  BOOST_TEST(near[2].row == 2);
  BOOST_TEST(near[2].cosine == 0.6, boost::test_tools::tolerance(1e-15));
  // The cache hands out the same list.
  BOOST_TEST(swap.neighbours("good").data() == near.data());
  BOOST_TEST(swap.neighbours("superb").empty());

  options.k = 2;
  BOOST_TEST(EmbeddingNeighbourSwap<double>(small_table(), options).substitutes("GOOD") ==
                 (Strings{"FINE", "NICE"}),
             boost::test_tools::per_element());
  options.k = 10;
  options.min_cosine = 0.7;
  BOOST_TEST(EmbeddingNeighbourSwap<double>(small_table(), options).substitutes("good") ==
                 (Strings{"fine", "nice"}),
             boost::test_tools::per_element());
  options.min_cosine = -1.0;  // everything proposable: movie 0, bad -1; never zero, [UNK], ##ly
  BOOST_TEST(EmbeddingNeighbourSwap<double>(small_table(), options).substitutes("good") ==
                 (Strings{"fine", "nice", "great", "movie", "bad"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(embedding_swap_from_a_victim_table_and_vocabulary) {
  const VocabularyTable v = vocabulary_table();
  EmbeddingNeighbourSwap<double>::Options options;
  options.k = 10;
  options.min_cosine = 0.5;
  const EmbeddingNeighbourSwap<double> swap(v.table, v.vocabulary, options);
  // [PAD] and [UNK] point like "good" but are special; "##ly" is not a word.
  BOOST_TEST(swap.substitutes("Good") == (Strings{"Fine", "Nice", "Great"}),
             boost::test_tools::per_element());
  // Single precision gives the same neighbours.
  const Matrix<float> table_f = v.table.cast<float>();
  const EmbeddingNeighbourSwap<float> swap_f(table_f, v.vocabulary, options);
  BOOST_TEST(swap_f.substitutes("Good") == (Strings{"Fine", "Nice", "Great"}),
             boost::test_tools::per_element());

  Matrix<double> short_table = v.table.topRows(v.table.rows() - 1);
  BOOST_CHECK_EXCEPTION(EmbeddingNeighbourSwap<double>(short_table, v.vocabulary), moerb::error,
                        message_has({"WordEmbeddingIndex", "rows", "tokens"}));
}

BOOST_AUTO_TEST_CASE(embedding_swap_shared_by_threads) {
  EmbeddingNeighbourSwap<double>::Options options;
  options.k = 10;
  const EmbeddingNeighbourSwap<double> swap(small_table(), options);
  const EmbeddingNeighbourSwap<double> copy = swap;  // shares index and cache
  std::vector<Strings> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] { results[t] = (t % 2 == 0 ? swap : copy).substitutes("good"); });
  }
  for (std::thread& t : threads) t.join();
  for (const Strings& r : results) {
    BOOST_TEST(r == (Strings{"fine", "nice", "great"}), boost::test_tools::per_element());
  }
  BOOST_TEST(copy.neighbours("good").data() == swap.neighbours("good").data());
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  EmbeddingNeighbourSwap<double>::Options options;
  options.k = 0;
  BOOST_CHECK_EXCEPTION(EmbeddingNeighbourSwap<double>(small_table(), options), moerb::error,
                        message_has({"EmbeddingNeighbourSwap", "k = 0"}));
  options.k = 5;
  for (const double floor : {1.5, -1.01, std::numeric_limits<double>::quiet_NaN()}) {
    options.min_cosine = floor;
    BOOST_CHECK_EXCEPTION(EmbeddingNeighbourSwap<double>(small_table(), options), moerb::error,
                          message_has({"EmbeddingNeighbourSwap", "min_cosine"}));
  }
  WordEmbeddings<double> table = small_table();
  table.words.pop_back();
  BOOST_CHECK_EXCEPTION(WordEmbeddingIndex<double>{table}, moerb::error,
                        message_has({"WordEmbeddingIndex", "8 words for 9 vectors"}));
  table = small_table();
  table.words[2] = "good";
  BOOST_CHECK_EXCEPTION(WordEmbeddingIndex<double>{table}, moerb::error,
                        message_has({"'good'", "twice"}));
  table = small_table();
  table.words[2] = "";
  BOOST_CHECK_EXCEPTION(WordEmbeddingIndex<double>{table}, moerb::error,
                        message_has({"words[2]", "empty"}));
  table = small_table();
  table.vectors(3, 1) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(WordEmbeddingIndex<double>{table}, moerb::error,
                        message_has({"'bad'", "not finite"}));
  BOOST_CHECK_EXCEPTION(WordEmbeddingIndex<double>{WordEmbeddings<double>{}}, moerb::error,
                        message_has({"empty embedding table"}));
  const WordEmbeddingIndex<double> index(small_table());
  std::vector<moerb::WordNeighbour> out;
  moerb::Vector<double> scratch;
  BOOST_CHECK_THROW(index.nearest(9, 1, 0.0, out, scratch), moerb::error);
  BOOST_CHECK_THROW(index.nearest(0, 0, 0.0, out, scratch), moerb::error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_word_substitutions

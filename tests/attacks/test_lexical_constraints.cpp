// Tests for include/moerb/attacks/lexical_constraints.hpp
//
// PartOfSpeechMatch on the hand-written WordNet snippet and EmbeddingCosineFloor on the 9-word
// table with known cosines: accept / reject per substitution, unknown words, edits that are not
// substitutions, several slots in one edit, and the constraints inside filter_candidates.
#include "moerb/attacks/lexical_constraints.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "attacks/lexical_testing.hpp"
#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/text/vocabulary.hpp"
#include "support/messages.hpp"

namespace moerb_test_attacks_lexical_constraints {

using moerb::AttackedText;
using moerb::EmbeddingCosineFloor;
using moerb::Matrix;
using moerb::PartOfSpeechMatch;
using moerb::UnknownWords;
using moerb::WordPosition;
using moerb::test::message_has;
using moerb::test::lexical::small_table;
using moerb::test::lexical::snippet_lexicon;

namespace {

/// The original with slot (0, i) replaced by `word`.
AttackedText swapped(const AttackedText& original, std::uint32_t i, const std::string& word) {
  return original.with_word({0, i}, word);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lexical_constraints)

BOOST_AUTO_TEST_CASE(part_of_speech_match_accepts_shared_and_rejects_disjoint) {
  const PartOfSpeechMatch match(snippet_lexicon());
  const AttackedText original("Good dog walks.");
  // good {noun, adjective, adverb}; fine {adjective}; stroll {noun}; amble {verb}; dog {noun}.
  BOOST_TEST(match.allows(swapped(original, 0, "Fine"), original));
  BOOST_TEST(match.allows(swapped(original, 0, "stroll"), original));
  BOOST_TEST(!match.allows(swapped(original, 0, "amble"), original));
  BOOST_TEST(match.allows(swapped(original, 1, "hound"), original));
  BOOST_TEST(!match.allows(swapped(original, 1, "AMBLE"), original));
  BOOST_TEST(!match.allows(swapped(original, 1, "quickly"), original));
  BOOST_TEST(match.allows_substitution("walk", "run"));   // both verbs
  BOOST_TEST(!match.allows_substitution("fast", "run"));  // adverb vs verb
  // Several slots in one edit: one disjoint pair rejects the candidate.
  const std::vector<std::pair<WordPosition, std::string>> both = {{{0, 0}, "fine"},
                                                                  {{0, 1}, "amble"}};
  BOOST_TEST(!match.allows(original.with_words(both), original));
  const std::vector<std::pair<WordPosition, std::string>> good_pair = {{{0, 0}, "fine"},
                                                                       {{0, 1}, "hound"}};
  BOOST_TEST(match.allows(original.with_words(good_pair), original));
  // The comparison is with the original text: a second edit elsewhere still sees the first one
  // only through its own slots.
  const AttackedText step = swapped(original, 0, "fine");
  BOOST_TEST(!match.allows(step.with_word({0, 1}, "amble"), original));
  BOOST_TEST(match.allows(step.with_word({0, 1}, "hound"), original));
}

BOOST_AUTO_TEST_CASE(part_of_speech_match_unknown_words_and_non_substitutions) {
  const AttackedText original("Good dog walks.");
  const PartOfSpeechMatch allow(snippet_lexicon());
  PartOfSpeechMatch::Options options;
  options.unknown = UnknownWords::reject;
  const PartOfSpeechMatch reject(snippet_lexicon(), options);
  // "walks" is unknown (no morphology), so is "cat".
  BOOST_TEST(allow.allows(swapped(original, 2, "ambles"), original));
  BOOST_TEST(!reject.allows(swapped(original, 2, "ambles"), original));
  BOOST_TEST(allow.allows(swapped(original, 1, "cat"), original));
  BOOST_TEST(!reject.allows(swapped(original, 1, "cat"), original));
  // Not substitutions: deletion, repetition, unchanged word, appended sentence.
  for (const PartOfSpeechMatch* m : {&allow, &reject}) {
    BOOST_TEST(m->allows(swapped(original, 1, ""), original));
    BOOST_TEST(m->allows(swapped(original, 1, "dog dog"), original));
    BOOST_TEST(m->allows(swapped(original, 1, "dog"), original));
    BOOST_TEST(m->allows(original.with_appended(0, "Cats purr."), original));
    BOOST_TEST(m->allows(original, original));
  }
}

BOOST_AUTO_TEST_CASE(embedding_cosine_floor_accepts_at_and_above_the_floor) {
  const AttackedText original("Good movie!");
  const EmbeddingCosineFloor<double> floor7(small_table(), 0.7);
  BOOST_TEST(floor7.min_cosine() == 0.7);
  BOOST_TEST(floor7.allows(swapped(original, 0, "Fine"), original));    // 0.8
  BOOST_TEST(floor7.allows(swapped(original, 0, "nice"), original));    // 0.8
  BOOST_TEST(!floor7.allows(swapped(original, 0, "Great"), original));  // 0.6
  BOOST_TEST(!floor7.allows(swapped(original, 0, "bad"), original));    // -1
  const EmbeddingCosineFloor<double> floor6(small_table(), 0.6);
  BOOST_TEST(floor6.allows(swapped(original, 0, "great"), original));  // exactly at the floor
  BOOST_TEST(floor6.allows(swapped(original, 1, "nice"), original));   // cos(movie, nice) = 0.6
  BOOST_TEST(!floor6.allows(swapped(original, 1, "fine"), original));  // 0
  // Unknown words are rejected; non-substitutions pass.
  BOOST_TEST(!floor6.allows(swapped(original, 0, "superb"), original));
  BOOST_TEST(!floor6.allows(AttackedText("Superb movie").with_word({0, 0}, "good"),
                            AttackedText("Superb movie")));
  BOOST_TEST(floor6.allows(swapped(original, 0, ""), original));
  BOOST_TEST(floor6.allows(swapped(original, 0, "Good Good"), original));
  // A zero vector has cosine 0 with everything.
  BOOST_TEST(!floor6.allows(swapped(original, 0, "zero"), original));
  BOOST_TEST(EmbeddingCosineFloor<double>(small_table(), 0.0)
                 .allows(swapped(original, 0, "zero"), original));
}

BOOST_AUTO_TEST_CASE(embedding_cosine_floor_on_a_vocabulary_table) {
  moerb::Vocabulary vocabulary;
  Matrix<double> table = Matrix<double>::Zero(10, 2);
  table.row(vocabulary.add("good")) << 1, 0;
  table.row(vocabulary.add("fine")) << 3, 4;  // cos 0.6
  table.row(vocabulary.add("bad")) << -2, 0;
  const EmbeddingCosineFloor<double> floor(table, vocabulary, 0.5);
  const AttackedText original("good");
  BOOST_TEST(floor.allows(swapped(original, 0, "fine"), original));
  BOOST_TEST(!floor.allows(swapped(original, 0, "bad"), original));
  BOOST_TEST(!floor.allows(swapped(original, 0, "UNK"), original));
  BOOST_CHECK_EXCEPTION(EmbeddingCosineFloor<double>(table.topRows(9), vocabulary, 0.5),
                        moerb::error, message_has({"9 rows", "10 tokens"}));
}

BOOST_AUTO_TEST_CASE(constraints_inside_filter_candidates) {
  const AttackedText original("Good dog");
  std::tuple<PartOfSpeechMatch, EmbeddingCosineFloor<double>> constraints{
      PartOfSpeechMatch(snippet_lexicon()), EmbeddingCosineFloor<double>(small_table(), 0.7)};
  // fine: adjective and cos 0.8; great: unknown to the snippet (allowed) but cos 0.6; stroll: noun
  // but not in the table; dog → amble: verb.
  const std::vector<AttackedText> candidates = {
      swapped(original, 0, "Fine"), swapped(original, 0, "Great"), swapped(original, 0, "stroll"),
      swapped(original, 1, "amble")};
  std::vector<std::uint8_t> keep;
  moerb::detail::attacks::filter_candidates(constraints, candidates, original, keep);
  BOOST_TEST(keep == (std::vector<std::uint8_t>{1, 0, 0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  for (const double floor : {1.01, -2.0, std::numeric_limits<double>::quiet_NaN()}) {
    BOOST_CHECK_EXCEPTION(EmbeddingCosineFloor<double>(small_table(), floor), moerb::error,
                          message_has({"EmbeddingCosineFloor", "min_cosine"}));
  }
  BOOST_CHECK_THROW(
      EmbeddingCosineFloor<double>(std::shared_ptr<const moerb::WordEmbeddingIndex<double>>(), 0.5),
      moerb::error);
  BOOST_CHECK_THROW(PartOfSpeechMatch(std::shared_ptr<const moerb::WordNetSynonyms>()),
                    moerb::error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_lexical_constraints

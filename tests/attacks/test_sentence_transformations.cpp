// Tests for include/moerb/attacks/sentence_transformations.hpp
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/sentence_transformations.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_sentence_transformations {

using moerb::AttackedText;
using moerb::WordPosition;
using Texts = std::vector<std::string>;

namespace {

template <class T>
std::vector<AttackedText> run(const T& t, const AttackedText& text,
                              const std::vector<WordPosition>& positions) {
  std::vector<AttackedText> out;
  moerb::Rng rng(3);
  t.transform(text, positions, out, rng);
  return out;
}

template <class T>
std::vector<AttackedText> run_all(const T& t, const AttackedText& text) {
  return run(t, text, text.attackable_positions());
}

Texts texts_of(const std::vector<AttackedText>& candidates, std::size_t side = 0) {
  Texts out;
  for (const AttackedText& c : candidates) out.push_back(c.text(side));
  return out;
}

std::vector<WordPosition> edit_of(const AttackedText& c) {
  return {c.last_edit().begin(), c.last_edit().end()};
}

}  // namespace

static_assert(moerb::Transformation<moerb::AppendDistractor>);
static_assert(moerb::Transformation<
              moerb::CompositeTransformation<moerb::WordDeletion, moerb::WordRepetition>>);

BOOST_AUTO_TEST_SUITE(sentence_transformations)

BOOST_AUTO_TEST_CASE(append_distractor_appends_the_tautology_to_the_hypothesis) {
  const AttackedText pair("A man is sleeping.", "A person rests.");
  const auto out = run_all(moerb::AppendDistractor(), pair);
  BOOST_TEST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].text(0) == "A man is sleeping.");  // the premise is left alone
  BOOST_TEST(out[0].text(1) == "A person rests. and true is true");
  const std::vector<WordPosition> appended = {{1, 3}, {1, 4}, {1, 5}, {1, 6}};
  BOOST_TEST((edit_of(out[0]) == appended));
  BOOST_TEST(out[0].words_changed() == 4u);
  // Already there: no second copy.
  BOOST_TEST(run_all(moerb::AppendDistractor(), out[0]).empty());
  // Positions are ignored: the edit is to the side as a whole.
  BOOST_TEST(run(moerb::AppendDistractor(), pair, {}).size() == 1u);
}

BOOST_AUTO_TEST_CASE(append_distractor_gives_one_candidate_per_sentence_and_side) {
  const moerb::AppendDistractor two(
      {std::string(moerb::tautology_distractor), std::string(moerb::negation_distractor)});
  const AttackedText single("It is good");
  BOOST_TEST(texts_of(run_all(two, single)) ==
                 Texts({"It is good and true is true", "It is good and false is not true"}),
             boost::test_tools::per_element());
  const AttackedText both("p q", "h", moerb::AttackedSides::both);
  const auto out = run_all(two, both);
  BOOST_TEST_REQUIRE(out.size() == 4u);
  BOOST_TEST(out[0].text(0) == "p q and true is true");
  BOOST_TEST(out[0].text(1) == "h");
  BOOST_TEST(out[1].text(0) == "p q");
  BOOST_TEST(out[1].text(1) == "h and true is true");
  BOOST_TEST(out[3].text(1) == "h and false is not true");
  BOOST_TEST(two.sentences().size() == 2u);
}

BOOST_AUTO_TEST_CASE(append_distractor_rejects_bad_sentences) {
  BOOST_CHECK_THROW((void)moerb::AppendDistractor(std::vector<std::string>{}), moerb::error);
  BOOST_CHECK_THROW((void)moerb::AppendDistractor({""}), moerb::error);
  BOOST_CHECK_THROW((void)moerb::AppendDistractor({"and true", " ... "}), moerb::error);
  BOOST_CHECK_THROW((void)moerb::AppendDistractor({"bad \xFF byte"}), moerb::error);
}

BOOST_AUTO_TEST_CASE(casing_change_recases_the_given_positions_together) {
  const AttackedText text("The quick Brown fox.");
  const std::vector<WordPosition> positions = {{0, 1}, {0, 2}};
  const auto out = run(moerb::CasingChange(), text, positions);
  BOOST_TEST(texts_of(out) ==
                 Texts({"The QUICK BROWN fox.", "The quick brown fox.", "The Quick Brown fox."}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(out.size() == 3u);
  const std::vector<WordPosition> both = {{0, 1}, {0, 2}};
  const std::vector<WordPosition> brown = {{0, 2}};
  const std::vector<WordPosition> quick = {{0, 1}};
  BOOST_TEST((edit_of(out[0]) == both));
  BOOST_TEST((edit_of(out[1]) == brown));  // "quick" unchanged
  BOOST_TEST((edit_of(out[2]) == quick));
  // A casing that changes nothing makes no candidate.
  const auto lower = run(moerb::CasingChange({.casing = moerb::Casing::lower}), text, quick);
  BOOST_TEST(lower.empty());
  // Non-ASCII letters change case too; 'ß' has no one-letter upper case and stays.
  const AttackedText accented("café straße ÉTÉ Москва");
  BOOST_TEST(
      texts_of(run_all(moerb::CasingChange(), accented)) ==
          Texts({"CAFÉ STRAßE ÉTÉ МОСКВА", "café straße été москва", "Café Straße Été Москва"}),
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(casing_change_per_word_gives_one_candidate_per_position_and_casing) {
  const AttackedText text("good Movie");
  const auto out = run_all(moerb::CasingChange({.each_word = true}), text);
  BOOST_TEST(texts_of(out) == Texts({"GOOD Movie", "Good Movie", "good MOVIE", "good movie"}),
             boost::test_tools::per_element());
  for (const AttackedText& c : out) BOOST_TEST(c.last_edit().size() == 1u);
  const auto upper =
      run_all(moerb::CasingChange({.casing = moerb::Casing::upper, .each_word = true}), text);
  BOOST_TEST(texts_of(upper) == Texts({"GOOD Movie", "good MOVIE"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(word_deletion_empties_one_slot_at_each_position) {
  const AttackedText text("the movie was great");
  const auto out = run(moerb::WordDeletion(), text, {{0, 1}, {0, 3}});
  BOOST_TEST(texts_of(out) == Texts({"the was great", "the movie was"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(out.size() == 2u);
  BOOST_TEST(out[0].word({0, 1}).empty());
  BOOST_TEST((edit_of(out[0]) == std::vector<WordPosition>{{0, 1}}));
  BOOST_TEST(out[0].words_changed() == 1u);
  // An empty slot is not deleted again, and the last word of a side stays.
  BOOST_TEST(run(moerb::WordDeletion(), out[0], {{0, 1}}).empty());
  BOOST_TEST(run_all(moerb::WordDeletion(), AttackedText("alone")).empty());
  const AttackedText two = AttackedText("big cat").with_word({0, 0}, "");
  BOOST_TEST(run_all(moerb::WordDeletion(), two).empty());
}

BOOST_AUTO_TEST_CASE(word_repetition_repeats_one_word_at_each_position) {
  const AttackedText text("a good film");
  const auto out = run(moerb::WordRepetition(), text, {{0, 1}, {0, 2}});
  BOOST_TEST(texts_of(out) == Texts({"a good good film", "a good film film"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(out.size() == 2u);
  BOOST_TEST((edit_of(out[1]) == std::vector<WordPosition>{{0, 2}}));
  BOOST_TEST(out[0].word({0, 1}) == "good good");
  BOOST_TEST(texts_of(run(moerb::WordRepetition(3), text, {{0, 0}})) == Texts({"a a a good film"}),
             boost::test_tools::per_element());
  BOOST_CHECK_THROW((void)moerb::WordRepetition(1), moerb::error);
  BOOST_CHECK_THROW((void)moerb::WordRepetition(-2), moerb::error);
  // A deleted slot is not repeated.
  const AttackedText deleted = text.with_word({0, 1}, "");
  BOOST_TEST(run(moerb::WordRepetition(), deleted, {{0, 1}}).empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_sentence_transformations

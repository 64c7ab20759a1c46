// Tests for include/moerb/attacks/word_constraints.hpp
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/attacks/word_constraints.hpp"
#include "moerb/core/error.hpp"
#include "moerb/text/utf8.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_word_constraints {

using moerb::AttackedText;
using moerb::WordPosition;

static_assert(moerb::PositionConstraint<moerb::StopWords>);
static_assert(!moerb::CandidateConstraint<moerb::StopWords>);
static_assert(moerb::CandidateConstraint<moerb::MaxCharacterEditDistance>);
static_assert(!moerb::PositionConstraint<moerb::MaxCharacterEditDistance>);

BOOST_AUTO_TEST_SUITE(word_constraints)

BOOST_AUTO_TEST_CASE(max_words_modified_fraction_bounds_positions_and_candidates) {
  const AttackedText text("the movie was great");  // 4 original words
  const moerb::MaxWordsModifiedFraction quarter(0.25);
  BOOST_TEST(quarter.allows_position(text, {0, 1}));
  BOOST_TEST(quarter.allows(text, text));
  const AttackedText one = text.with_word({0, 3}, "grand");
  BOOST_TEST(quarter.allows(one, text));              // 1/4 ≤ 0.25
  BOOST_TEST(!quarter.allows_position(one, {0, 1}));  // 1/4 is not below 0.25
  const AttackedText two = one.with_word({0, 1}, "film");
  BOOST_TEST(!quarter.allows(two, text));  // 2/4 > 0.25

  const moerb::MaxWordsModifiedFraction half(0.5);
  BOOST_TEST(half.allows_position(one, {0, 1}));
  BOOST_TEST(!half.allows_position(two, {0, 0}));
  BOOST_TEST(half.allows(two, text));
  BOOST_TEST(!half.allows(two.with_word({0, 0}, "a"), text));

  // A slot restored to its word still counts as touched for positions, not as changed.
  const AttackedText restored = text.with_word({0, 3}, "great");
  BOOST_TEST(quarter.allows(restored, text));
  BOOST_TEST(!quarter.allows_position(restored, {0, 0}));
  // Appended words count as changed: 4 new words on 4 original ones.
  const AttackedText appended = text.with_appended(0, "and true is true");
  BOOST_TEST(!half.allows(appended, text));
  BOOST_TEST(moerb::MaxWordsModifiedFraction(1.0).allows(appended, text));
  // ... but not as modified original words.
  BOOST_TEST(quarter.allows_position(appended, {0, 0}));
  // Both sides of a pair make the denominator.
  const AttackedText pair("a b c", "d", moerb::AttackedSides::both);
  BOOST_TEST(quarter.allows(pair.with_word({1, 0}, "e"), pair));  // 1/4
  BOOST_TEST(!quarter.allows(pair.with_words(std::vector<std::pair<WordPosition, std::string>>{
                                 {{0, 0}, "x"}, {{1, 0}, "e"}}),
                             pair));
  // Zero: nothing may change.
  const moerb::MaxWordsModifiedFraction none(0.0);
  BOOST_TEST(!none.allows_position(text, {0, 0}));
  BOOST_TEST(!none.allows(one, text));
  BOOST_TEST(none.allows(restored, text));
}

BOOST_AUTO_TEST_CASE(max_words_modified_fraction_min_words_and_bad_bounds) {
  const AttackedText text("the movie was great");
  const moerb::MaxWordsModifiedFraction small(0.1, 1);  // 10 % of 4 words is 0: min_words allows 1
  BOOST_TEST(small.allows_position(text, {0, 0}));
  const AttackedText one = text.with_word({0, 3}, "grand");
  BOOST_TEST(small.allows(one, text));
  BOOST_TEST(!small.allows_position(one, {0, 0}));
  BOOST_TEST(!small.allows(one.with_word({0, 1}, "film"), text));
  BOOST_TEST(small.min_words() == 1u);
  BOOST_TEST(small.bound() == 0.1);

  BOOST_CHECK_THROW((void)moerb::MaxWordsModifiedFraction(-0.1), moerb::error);
  BOOST_CHECK_THROW((void)moerb::MaxWordsModifiedFraction(1.5), moerb::error);
  BOOST_CHECK_THROW((void)moerb::MaxWordsModifiedFraction(std::numeric_limits<double>::quiet_NaN()),
                    moerb::error);
  BOOST_CHECK_NO_THROW((void)moerb::MaxWordsModifiedFraction(0.0));
  BOOST_CHECK_NO_THROW((void)moerb::MaxWordsModifiedFraction(1.0));
}

BOOST_AUTO_TEST_CASE(no_repeat_modification_blocks_touched_slots_only) {
  const AttackedText text("a good film");
  const moerb::NoRepeatModification no_repeat;
  BOOST_TEST(no_repeat.allows_position(text, {0, 1}));
  const AttackedText edited = text.with_word({0, 1}, "fine");
  BOOST_TEST(!no_repeat.allows_position(edited, {0, 1}));
  BOOST_TEST(no_repeat.allows_position(edited, {0, 2}));
  // Touched counts even when the word was restored; a deleted slot is touched too.
  BOOST_TEST(!no_repeat.allows_position(text.with_word({0, 2}, "film"), {0, 2}));
  BOOST_TEST(!no_repeat.allows_position(text.with_word({0, 0}, ""), {0, 0}));
}

BOOST_AUTO_TEST_CASE(stop_words_leave_function_words_alone) {
  const moerb::StopWords stop;
  const AttackedText text("The movie is NOT great, don't go");
  // The movie is NOT great don't go
  const bool expected[] = {false, true, false, false, true, false, true};
  BOOST_TEST_REQUIRE(text.num_words(0) == 7u);
  for (std::uint32_t i = 0; i < 7; ++i) {
    BOOST_TEST(stop.allows_position(text, {0, i}) == expected[i], "word " << i);
  }
  // The original word decides, not the current one.
  BOOST_TEST(!stop.allows_position(text.with_word({0, 0}, "film"), {0, 0}));
  BOOST_TEST(stop.allows_position(text.with_word({0, 1}, "the"), {0, 1}));
  // Appended slots have no original word and are allowed.
  const AttackedText appended = text.with_appended(0, "and true");
  BOOST_TEST(stop.allows_position(appended, {0, 7}));
  // A word longer than the stack buffer takes the other path.
  const AttackedText long_word("Pneumonoultramicroscopicsilicovolcanoconiosis");
  BOOST_TEST(stop.allows_position(long_word, {0, 0}));

  const auto english = moerb::StopWords::english();
  BOOST_TEST(english.size() >= 150u);
  BOOST_TEST(stop.words().size() == english.size());
  for (const std::string_view w : english) {
    BOOST_TEST(stop.contains(w));
    BOOST_TEST(moerb::utf8::to_lower(w) == std::string(w));
  }
  for (const char* content : {"movie", "great", "attack", "model", ""}) {
    BOOST_TEST(!stop.contains(content), content);
  }
  // Copies share the set.
  const moerb::StopWords copy = stop;
  BOOST_TEST(&copy.words() == &stop.words());
}

BOOST_AUTO_TEST_CASE(stop_words_from_a_user_set) {
  const moerb::StopWords custom(std::vector<std::string>{"Movie", "GREAT", "Été", "movie"});
  BOOST_TEST(custom.words().size() == 3u);  // lower-cased and de-duplicated
  const AttackedText text("The movie is great in ÉTÉ");
  BOOST_TEST(custom.allows_position(text, {0, 0}));  // "the" is not in this set
  BOOST_TEST(!custom.allows_position(text, {0, 1}));
  BOOST_TEST(!custom.allows_position(text, {0, 3}));
  BOOST_TEST(!custom.allows_position(text, {0, 5}));  // non-ASCII, lower-cased too
  BOOST_TEST(custom.allows_position(text, {0, 4}));
  const moerb::StopWords empty(std::vector<std::string>{});
  BOOST_TEST(empty.allows_position(text, {0, 0}));
  BOOST_CHECK_THROW((void)moerb::StopWords(std::vector<std::string>{"ok", ""}), moerb::error);
  BOOST_CHECK_THROW((void)moerb::StopWords(std::vector<std::string>{"bad\xC3"}), moerb::error);
}

BOOST_AUTO_TEST_CASE(max_character_edit_distance_checks_each_edited_slot_against_the_original) {
  const AttackedText text("the cat café");
  const moerb::MaxCharacterEditDistance one(1);
  BOOST_TEST(one.allows(text, text));  // no edit
  BOOST_TEST(one.allows(text.with_word({0, 1}, "cst"), text));
  BOOST_TEST(one.allows(text.with_word({0, 1}, "ct"), text));
  BOOST_TEST(one.allows(text.with_word({0, 1}, "c at"), text));
  BOOST_TEST(!one.allows(text.with_word({0, 1}, "act"), text));  // a swap is two edits
  BOOST_TEST(moerb::MaxCharacterEditDistance(2).allows(text.with_word({0, 1}, "act"), text));
  // Code points, not bytes: é → e is one edit (two bytes become one).
  BOOST_TEST(one.allows(text.with_word({0, 2}, "cafe"), text));
  BOOST_TEST(one.allows(text.with_word({0, 2}, "caf\u0435"), text));  // Cyrillic е
  // Every slot of the last edit.
  using Edits = std::vector<std::pair<WordPosition, std::string>>;
  BOOST_TEST(one.allows(text.with_words(Edits{{{0, 0}, "thw"}, {{0, 1}, "czt"}}), text));
  BOOST_TEST(!one.allows(text.with_words(Edits{{{0, 0}, "thw"}, {{0, 1}, "dog"}}), text));
  // Against the original word, not the previous step: two one-letter steps add up.
  const AttackedText step1 = text.with_word({0, 1}, "cst");
  const AttackedText step2 = step1.with_word({0, 1}, "csr");
  BOOST_TEST(!one.allows(step2, text));
  // Only the last edit is looked at: an earlier slot over the bound is the earlier step's affair.
  BOOST_TEST(one.allows(text.with_word({0, 1}, "dog").with_word({0, 0}, "thw"), text));
  // An appended word is at its length from "".
  const AttackedText appended = text.with_appended(0, "and");
  BOOST_TEST(!moerb::MaxCharacterEditDistance(2).allows(appended, text));
  BOOST_TEST(moerb::MaxCharacterEditDistance(3).allows(appended, text));
  // Zero allows only unchanged words.
  BOOST_TEST(!moerb::MaxCharacterEditDistance(0).allows(step1, text));
  BOOST_TEST(moerb::MaxCharacterEditDistance(0).allows(text.with_word({0, 1}, "cat"), text));
  BOOST_TEST(one.bound() == 1);
  BOOST_CHECK_THROW((void)moerb::MaxCharacterEditDistance(-1), moerb::error);
}

BOOST_AUTO_TEST_CASE(constraints_compose_in_the_framework_filters) {
  const AttackedText text("the film was dull");
  std::tuple<moerb::StopWords, moerb::NoRepeatModification, moerb::MaxWordsModifiedFraction,
             moerb::MaxCharacterEditDistance>
      constraints{moerb::StopWords(), moerb::NoRepeatModification(),
                  moerb::MaxWordsModifiedFraction(0.5), moerb::MaxCharacterEditDistance(1)};
  std::vector<WordPosition> allowed;
  for (const WordPosition p : text.attackable_positions()) {
    if (moerb::detail::attacks::position_allowed(constraints, text, p)) allowed.push_back(p);
  }
  // "the" and "was" are stop words.
  BOOST_TEST((allowed == std::vector<WordPosition>{{0, 1}, {0, 3}}));
  const std::vector<AttackedText> candidates = {
      text.with_word({0, 1}, "flim"),                          // 2 edits
      text.with_word({0, 1}, "fim"),                           // ok
      text.with_word({0, 3}, "dul"),                           // ok
      text.with_word({0, 3}, "dul").with_word({0, 1}, "fim"),  // ok: 2/4 words, 1 edit
      text.with_word({0, 3}, "x").with_word({0, 1}, "fim").with_word({0, 0}, "a")};  // 3/4 words
  std::vector<std::uint8_t> keep;
  moerb::detail::attacks::filter_candidates(constraints, candidates, text, keep);
  BOOST_TEST((keep == std::vector<std::uint8_t>{0, 1, 1, 1, 0}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_word_constraints

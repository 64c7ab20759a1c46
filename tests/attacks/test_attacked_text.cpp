// Tests for include/moerb/attacks/attacked_text.hpp
#include "moerb/attacks/attacked_text.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_attacked_text {

using namespace moerb;
using namespace moerb::test;

namespace {
std::vector<std::string> words_of(const AttackedText& t, std::size_t side = 0) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < t.num_words(side); ++i) {
    out.push_back(t.word({static_cast<std::uint8_t>(side), static_cast<std::uint32_t>(i)}));
  }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(attacked_text)

BOOST_AUTO_TEST_CASE(splits_words_and_keeps_the_text) {
  const AttackedText t("  Hello, world! don't stop-it  now. ");
  BOOST_TEST(words_of(t) == (std::vector<std::string>{"Hello", "world", "don't", "stop-it", "now"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.text() == "  Hello, world! don't stop-it  now. ");
  BOOST_TEST(t.num_original_words() == 5u);
  BOOST_TEST(t.words_changed() == 0u);
  BOOST_TEST(t.last_edit().empty());
  // Non-ASCII bytes are word characters; a leading apostrophe is punctuation.
  const AttackedText u("'café' naïve");
  BOOST_TEST(words_of(u) == (std::vector<std::string>{"café", "naïve"}),
             boost::test_tools::per_element());
  BOOST_TEST(u.text() == "'café' naïve");
  const AttackedText empty("...");
  BOOST_TEST(empty.num_words(0) == 0u);
  BOOST_TEST(empty.attackable_positions().empty());
}

BOOST_AUTO_TEST_CASE(edits_are_tracked) {
  const AttackedText t("the movie was good");
  const AttackedText a = t.with_word({0, 3}, "fine");
  BOOST_TEST(a.text() == "the movie was fine");
  BOOST_TEST(a.words_changed() == 1u);
  BOOST_TEST(a.characters_changed() == 4u);  // good → fine: 4 substitutions
  BOOST_TEST(a.modified({0, 3}));
  BOOST_TEST(!a.modified({0, 2}));
  BOOST_REQUIRE(a.last_edit().size() == 1u);
  BOOST_TEST((a.last_edit()[0] == WordPosition{0, 3}));
  BOOST_TEST(a.original_word({0, 3}) == "good");
  BOOST_TEST(!t.modified({0, 3}));  // the source is unchanged

  // Deletion leaves no double space; repetition holds two words in one slot.
  const AttackedText d = t.with_word({0, 1}, "").with_word({0, 3}, "good good");
  BOOST_TEST(d.text() == "the was good good");
  BOOST_TEST(d.words_changed() == 2u);
  BOOST_TEST(d.characters_changed() == 5u + 5u);      // "movie" deleted, " good" inserted
  BOOST_TEST(d.attackable_positions().size() == 3u);  // the empty slot is not attackable
  BOOST_TEST(d.last_edit().size() == 1u);
  BOOST_TEST(t.with_word({0, 3}, "").text() == "the movie was");  // no trailing space
  BOOST_TEST(t.with_word({0, 0}, "").text() == "movie was good");
  BOOST_TEST(AttackedText("a good. x").with_word({0, 1}, "").text() == "a. x");

  const std::vector<std::pair<WordPosition, std::string>> both{{{0, 0}, "a"}, {{0, 2}, "is"}};
  const AttackedText w = t.with_words(both);
  BOOST_TEST(w.text() == "a movie is good");
  BOOST_TEST(w.last_edit().size() == 2u);
  // Restoring the original word keeps the slot marked modified but not changed.
  const AttackedText back = a.with_word({0, 3}, "good");
  BOOST_TEST(back.words_changed() == 0u);
  BOOST_TEST(back.modified({0, 3}));
  BOOST_TEST(back.same_words(t));
}

BOOST_AUTO_TEST_CASE(appending_adds_word_slots) {
  const AttackedText t("it is good.");
  const AttackedText a = t.with_appended(0, "and true is true");
  BOOST_TEST(a.text() == "it is good. and true is true");
  BOOST_TEST(a.num_words(0) == 7u);
  BOOST_TEST(a.words_changed() == 4u);
  BOOST_TEST(a.last_edit().size() == 4u);
  BOOST_TEST(a.original_word({0, 5}) == "");
  BOOST_TEST(a.num_original_words() == 3u);
  BOOST_CHECK_EXCEPTION((void)t.with_appended(0, " ... "), moerb::error,
                        message_has({"with_appended", "has no word"}));
}

BOOST_AUTO_TEST_CASE(pairs_attack_the_hypothesis_by_default) {
  const AttackedText t("A man sleeps.", "A person rests.");
  BOOST_TEST(t.is_pair());
  BOOST_TEST(!t.is_attacked(0));
  BOOST_TEST(t.is_attacked(1));
  const auto positions = t.attackable_positions();
  BOOST_REQUIRE(positions.size() == 3u);
  for (const WordPosition p : positions) BOOST_TEST(int{p.side} == 1);
  BOOST_TEST(t.display() == "A man sleeps. ||| A person rests.");
  BOOST_CHECK_EXCEPTION((void)t.with_word({0, 1}, "woman"), moerb::error,
                        message_has({"side 0 is not attacked"}));
  const AttackedText both("A man sleeps.", "A person rests.", true, AttackedSides::both);
  BOOST_TEST(both.attackable_positions().size() == 6u);
  const AttackedText first("A man sleeps.", "A person rests.", true, AttackedSides::first);
  BOOST_TEST(first.attackable_positions().front().side == 0);
  BOOST_TEST(first.with_word({0, 1}, "dog").display() == "A dog sleeps. ||| A person rests.");
}

BOOST_AUTO_TEST_CASE(edit_distance_counts_code_points) {
  BOOST_TEST(edit_distance("kitten", "sitting") == 3u);
  BOOST_TEST(edit_distance("", "abc") == 3u);
  BOOST_TEST(edit_distance("café", "cafe") == 1u);  // é is one code point, two bytes
  BOOST_TEST(edit_distance("same", "same") == 0u);
}

BOOST_AUTO_TEST_CASE(bad_input_is_named) {
  BOOST_CHECK_EXCEPTION(AttackedText("bad \xff byte"), moerb::error,
                        message_has({"AttackedText", "text_a", "invalid UTF-8"}));
  BOOST_CHECK_EXCEPTION(AttackedText("one", "", false, AttackedSides::second), moerb::error,
                        message_has({"second side"}));
  const AttackedText t("a b");
  BOOST_CHECK_EXCEPTION((void)t.word({0, 5}), moerb::error,
                        message_has({"word 5", "2 word slots"}));
  BOOST_CHECK_EXCEPTION((void)t.word({1, 0}), moerb::error, message_has({"side 1"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_attacked_text

// Tests for include/moerb/attacks/character_transformations.hpp
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/character_transformations.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/text/utf8.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_character_transformations {

using moerb::AttackedText;
using moerb::WordPosition;
using Words = std::vector<std::string>;

namespace {

/// The candidates `t` makes for every word of `text` (one-word texts: the word's candidates).
template <class T>
std::vector<AttackedText> candidates_of(const T& t, const AttackedText& text,
                                        std::uint64_t seed = 7) {
  const std::vector<WordPosition> positions = text.attackable_positions();
  std::vector<AttackedText> out;
  moerb::Rng rng(seed);
  t.transform(text, positions, out, rng);
  return out;
}

/// The word at slot 0 of each candidate of the one-word text `word`.
template <class T>
Words edited_words(const T& t, std::string_view word, std::uint64_t seed = 7) {
  Words out;
  for (const AttackedText& c : candidates_of(t, AttackedText(word), seed)) {
    out.push_back(c.word({0, 0}));
  }
  return out;
}

std::u32string code_points(std::string_view s) {
  std::u32string out;
  for (const moerb::utf8::CodePoint& c : moerb::utf8::code_points(s)) out.push_back(c.value);
  return out;
}

/// Each candidate's last edit is exactly its own one slot and every other slot is unchanged.
void check_single_slot_edits(const std::vector<AttackedText>& candidates,
                             const AttackedText& text) {
  for (const AttackedText& c : candidates) {
    BOOST_TEST_REQUIRE(c.last_edit().size() == 1u);
    const WordPosition p = c.last_edit()[0];
    BOOST_TEST(c.word(p) != text.word(p));
    BOOST_TEST(moerb::utf8::is_valid(c.word(p)));
    for (std::size_t side = 0; side < text.num_sides(); ++side) {
      for (std::uint32_t i = 0; i < text.num_words(side); ++i) {
        const WordPosition q{static_cast<std::uint8_t>(side), i};
        if (q != p) BOOST_TEST(c.word(q) == text.word(q));
      }
    }
  }
}

}  // namespace

static_assert(moerb::Transformation<moerb::NeighbourCharacterSwap>);
static_assert(moerb::Transformation<
              moerb::CompositeTransformation<moerb::CharacterDeletion, moerb::QwertySubstitution>>);

BOOST_AUTO_TEST_SUITE(character_transformations)

BOOST_AUTO_TEST_CASE(neighbour_swap_keeps_first_and_last_by_default) {
  const moerb::NeighbourCharacterSwap inner;
  BOOST_TEST(edited_words(inner, "hello") == Words({"hlelo"}), boost::test_tools::per_element());
  BOOST_TEST(edited_words(inner, "cat").empty());  // no two inner neighbours
  BOOST_TEST(edited_words(inner, "a").empty());
  const moerb::NeighbourCharacterSwap any({.keep_first_and_last = false});
  // The swap of "ll" gives "hello" back and is dropped.
  BOOST_TEST(edited_words(any, "hello") == Words({"ehllo", "hlelo", "helol"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(any, "cat") == Words({"act", "cta"}), boost::test_tools::per_element());
  BOOST_TEST(edited_words(any, "a").empty());
  // A two-byte 'é' moves whole.
  BOOST_TEST(edited_words(any, "café") == Words({"acfé", "cfaé", "caéf"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(deletion_removes_one_code_point_and_drops_duplicates) {
  const moerb::CharacterDeletion del;
  BOOST_TEST(edited_words(del, "hello") == Words({"ello", "hllo", "helo", "hell"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(del, "cat") == Words({"at", "ct", "ca"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(del, "café") == Words({"afé", "cfé", "caé", "caf"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(del, "a").empty());  // deleting the word is WordDeletion's job
  const moerb::CharacterDeletion inner({.keep_first_and_last = true});
  BOOST_TEST(edited_words(inner, "hello") == Words({"hllo", "helo"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(inner, "cat") == Words({"ct"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(space_insertion_splits_the_word_inside) {
  const moerb::CharacterInsertion space({.character = moerb::InsertedCharacter::space});
  BOOST_TEST(edited_words(space, "hello") == Words({"h ello", "he llo", "hel lo", "hell o"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(space, "café") == Words({"c afé", "ca fé", "caf é"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(space, "a").empty());
  // The slot now holds two words; the text shows them with the gaps kept.
  const AttackedText text("a cat.");
  const auto candidates = candidates_of(space, text);
  BOOST_TEST_REQUIRE(candidates.size() == 2u);
  BOOST_TEST(candidates[0].text() == "a c at.");
  BOOST_TEST(candidates[1].text() == "a ca t.");
}

BOOST_AUTO_TEST_CASE(random_letter_insertion_adds_one_letter_per_point_reproducibly) {
  const moerb::CharacterInsertion letter;  // random letter, every point including both ends
  for (const std::string_view word : {"cat", "café", "a"}) {
    const Words got = edited_words(letter, word, 11);
    const std::size_t n = moerb::utf8::length(word);
    BOOST_TEST(got.size() <= n + 1);  // n + 1 points, fewer if two give the same word
    BOOST_TEST(got.size() >= 1u);
    for (const std::string& w : got) {
      BOOST_TEST(moerb::utf8::is_valid(w));
      BOOST_TEST(moerb::utf8::length(w) == n + 1);
      BOOST_TEST(moerb::edit_distance(word, w) == 1u);
      for (const char c : w) {
        const bool original = std::string_view(word).find(c) != std::string_view::npos;
        BOOST_TEST((original || (c >= 'a' && c <= 'z')));
      }
    }
    BOOST_TEST(edited_words(letter, word, 11) == got, boost::test_tools::per_element());
  }
  BOOST_TEST(edited_words(letter, "a", 11).size() == 2u);  // before and after
  // Upper-case between upper-case letters, lower-case next to a capital initial.
  for (const std::string& w : edited_words(letter, "CAT", 3)) {
    for (const char c : w) BOOST_TEST((c >= 'A' && c <= 'Z'));
  }
  for (const std::string& w : edited_words(letter, "Cat", 3)) {
    BOOST_TEST(std::count_if(w.begin(), w.end(), [](char c) { return c >= 'A' && c <= 'Z'; }) == 1);
  }
  const moerb::CharacterInsertion inner({.keep_first_and_last = true});
  const Words got = edited_words(inner, "hello", 5);
  BOOST_TEST(got.size() <= 4u);
  for (const std::string& w : got) {
    BOOST_TEST(w.front() == 'h');
    BOOST_TEST(w.back() == 'o');
  }
  // Different seeds draw different letters somewhere.
  std::set<Words> draws;
  for (std::uint64_t seed = 0; seed < 8; ++seed) draws.insert(edited_words(letter, "hello", seed));
  BOOST_TEST(draws.size() > 1u);
}

BOOST_AUTO_TEST_CASE(qwerty_substitution_uses_keyboard_neighbours_and_keeps_case) {
  const moerb::QwertySubstitution qwerty;
  // c: x v | d f above; a: s | q w above | z below; t: r y | f g below.
  const Words cat = {"xat", "vat", "dat", "fat", "cst", "cqt",
                     "cwt", "czt", "car", "cay", "caf", "cag"};
  BOOST_TEST(edited_words(qwerty, "cat") == cat, boost::test_tools::per_element());
  const Words upper = {"Xat", "Vat", "Dat", "Fat", "Cst", "Cqt",
                       "Cwt", "Czt", "Car", "Cay", "Caf", "Cag"};
  BOOST_TEST(edited_words(qwerty, "Cat") == upper, boost::test_tools::per_element());
  BOOST_TEST(edited_words(qwerty, "q") == Words({"w", "a"}), boost::test_tools::per_element());
  BOOST_TEST(edited_words(qwerty, "p") == Words({"o", "l"}), boost::test_tools::per_element());
  BOOST_TEST(edited_words(qwerty, "s") == Words({"a", "d", "w", "e", "z", "x"}),
             boost::test_tools::per_element());
  // 'é' and digits have no neighbours; the letters around 'é' do.
  BOOST_TEST(edited_words(qwerty, "é").empty());
  BOOST_TEST(edited_words(qwerty, "42").empty());
  const Words cafe = edited_words(qwerty, "café");
  BOOST_TEST(cafe.size() == 4u + 4u + 6u);  // c, a, f (d g | r t | c v); é none
  for (const std::string& w : cafe) BOOST_TEST(w.ends_with("é"));
  const moerb::QwertySubstitution inner({.keep_first_and_last = true});
  BOOST_TEST(edited_words(inner, "cat") == Words({"cst", "cqt", "cwt", "czt"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(homoglyphs_give_valid_utf8_differing_in_one_code_point) {
  const moerb::HomoglyphSubstitution all;
  // c → Cyrillic с, Greek ϲ; a → @, Cyrillic а, Latin alpha ɑ; t → 7.
  BOOST_TEST(edited_words(all, "cat") ==
                 Words({"\u0441at", "\u03F2at", "c@t", "c\u0430t", "c\u0251t", "ca7"}),
             boost::test_tools::per_element());
  const moerb::HomoglyphSubstitution ascii({.set = moerb::HomoglyphSet::ascii});
  BOOST_TEST(edited_words(ascii, "cat") == Words({"c@t", "ca7"}), boost::test_tools::per_element());
  BOOST_TEST(edited_words(ascii, "hello") == Words({"h3llo", "he1lo", "hel1o", "hell0"}),
             boost::test_tools::per_element());
  const moerb::HomoglyphSubstitution unicode({.set = moerb::HomoglyphSet::unicode});
  BOOST_TEST(edited_words(unicode, "a") == Words({"\u0430", "\u0251"}),
             boost::test_tools::per_element());
  BOOST_TEST(edited_words(all, "a") == Words({"@", "\u0430", "\u0251"}),
             boost::test_tools::per_element());
  BOOST_TEST((unicode.homoglyphs(U'o') == std::vector<char32_t>({U'\u043E', U'\u03BF'})));
  for (const std::string_view word : {"hello", "café", "Robust", "x"}) {
    const std::u32string original = code_points(word);
    const Words got = edited_words(all, word);
    BOOST_TEST(!got.empty());
    for (const std::string& w : got) {
      BOOST_TEST_REQUIRE(moerb::utf8::is_valid(w));
      const std::u32string edited = code_points(w);
      BOOST_TEST_REQUIRE(edited.size() == original.size());
      std::size_t differing = 0;
      for (std::size_t i = 0; i < edited.size(); ++i) differing += edited[i] != original[i] ? 1 : 0;
      BOOST_TEST(differing == 1u);
    }
  }
  // 'é' has no homoglyph and is never split: "café" edits c and a only (2 + 3).
  const Words cafe = edited_words(all, "café");
  BOOST_TEST(cafe.size() == 5u);
  for (const std::string& w : cafe) BOOST_TEST(w.ends_with("fé"));
}

BOOST_AUTO_TEST_CASE(only_the_given_positions_are_edited_in_position_order) {
  const AttackedText text("the cat sat on the mat");
  const std::vector<WordPosition> positions = {{0, 1}, {0, 5}};
  std::vector<AttackedText> out;
  moerb::Rng rng(1);
  moerb::CharacterDeletion().transform(text, positions, out, rng);
  BOOST_TEST_REQUIRE(out.size() == 6u);  // "cat" and "mat": 3 each
  check_single_slot_edits(out, text);
  for (std::size_t i = 0; i < out.size(); ++i) {
    BOOST_TEST((out[i].last_edit()[0] == positions[i < 3 ? 0 : 1]));
  }
  BOOST_TEST(out[0].text() == "the at sat on the mat");
  BOOST_TEST(out[5].text() == "the cat sat on the ma");
  BOOST_TEST(out[0].words_changed() == 1u);

  // A pair: only the hypothesis (second side) is attacked; the premise stays.
  const AttackedText pair("A man sleeps.", "A cat naps.");
  const auto candidates = candidates_of(moerb::QwertySubstitution(), pair);
  BOOST_TEST(!candidates.empty());
  check_single_slot_edits(candidates, pair);
  for (const AttackedText& c : candidates) {
    BOOST_TEST(int{c.last_edit()[0].side} == 1);
    BOOST_TEST(c.text(0) == "A man sleeps.");
  }
  // Every transformation edits single slots.
  const AttackedText sentence("Hello world, café au lait.");
  check_single_slot_edits(candidates_of(moerb::NeighbourCharacterSwap(), sentence), sentence);
  check_single_slot_edits(candidates_of(moerb::CharacterInsertion(), sentence), sentence);
  check_single_slot_edits(candidates_of(moerb::HomoglyphSubstitution(), sentence), sentence);
}

BOOST_AUTO_TEST_CASE(short_words_are_left_alone) {
  const AttackedText text("a cat jumps");
  const moerb::CharacterDeletion del({.min_word_length = 4});
  const auto out = candidates_of(del, text);
  BOOST_TEST(out.size() == 5u);  // "jumps" only
  for (const AttackedText& c : out) BOOST_TEST(c.last_edit()[0].word == 2u);
  // min_word_length counts code points, not bytes: "café" has 4.
  BOOST_TEST(edited_words(moerb::CharacterDeletion({.min_word_length = 5}), "café").empty());
  BOOST_TEST(edited_words(moerb::CharacterDeletion({.min_word_length = 4}), "café").size() == 4u);
}

BOOST_AUTO_TEST_CASE(sampling_draws_a_reproducible_subset_in_generation_order) {
  const Words all = edited_words(moerb::QwertySubstitution(), "cat");
  const moerb::QwertySubstitution sample({.candidates_per_word = 3});
  std::set<Words> draws;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    const Words got = edited_words(sample, "cat", seed);
    BOOST_TEST_REQUIRE(got.size() == 3u);
    BOOST_TEST(edited_words(sample, "cat", seed) == got, boost::test_tools::per_element());
    // A subset of the full list, in its order.
    std::size_t at = 0;
    for (const std::string& w : got) {
      while (at < all.size() && all[at] != w) ++at;
      BOOST_TEST_REQUIRE(at < all.size());
      ++at;
    }
    draws.insert(got);
  }
  BOOST_TEST(draws.size() > 1u);
  // n at least the number of candidates: all of them, and the rng is not touched.
  const moerb::QwertySubstitution large({.candidates_per_word = 12});
  const AttackedText cat("cat");
  const auto positions = cat.attackable_positions();
  std::vector<AttackedText> out;
  moerb::Rng rng(9);
  large.transform(cat, positions, out, rng);
  BOOST_TEST(out.size() == 12u);
  moerb::Rng fresh(9);
  BOOST_TEST(rng.next_u64() == fresh.next_u64());
  // Per word: two words, two candidates each.
  const auto two = candidates_of(moerb::CharacterDeletion({.candidates_per_word = 2}),
                                 AttackedText("hello world"));
  BOOST_TEST_REQUIRE(two.size() == 4u);
  BOOST_TEST(two[0].last_edit()[0].word == 0u);
  BOOST_TEST(two[3].last_edit()[0].word == 1u);
}

BOOST_AUTO_TEST_CASE(deleted_slots_and_empty_positions_give_nothing) {
  const AttackedText text = AttackedText("big cat").with_word({0, 0}, "");
  const std::vector<WordPosition> positions = {{0, 0}};
  std::vector<AttackedText> out;
  moerb::Rng rng(2);
  moerb::HomoglyphSubstitution().transform(text, positions, out, rng);
  moerb::CharacterInsertion().transform(text, positions, out, rng);
  moerb::CharacterDeletion().transform(text, {}, out, rng);
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_character_transformations

// Tests for include/moerb/attacks/wordnet_synonyms.hpp
//
// The lexicon is checked on a hand-written snippet of every part of speech (exact synonym lists),
// the loader on a scratch directory, and the real WordNet 3.0 when Debian's wordnet-base is
// installed (loaded once).
#include "moerb/attacks/wordnet_synonyms.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "attacks/lexical_testing.hpp"
#include "support/messages.hpp"
#include "support/scratch_dir.hpp"

namespace moerb_test_attacks_wordnet_synonyms {

using moerb::PartOfSpeech;
using moerb::PartsOfSpeech;
using moerb::WordNetSynonyms;
using moerb::test::message_has;
using moerb::test::ScratchDir;
using moerb::test::lexical::real_synonyms;
using moerb::test::lexical::snippet_lexicon;
using moerb::test::lexical::WordNetSynonymsInstalled;
using Strings = std::vector<std::string>;

namespace {

Strings synonyms(const WordNetSynonyms& lexicon, const std::string& word, PartOfSpeech pos) {
  const auto s = lexicon.synonyms(word, pos);
  return {s.begin(), s.end()};
}

bool has(const Strings& list, const std::string& word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wordnet_synonyms)

BOOST_AUTO_TEST_CASE(snippet_synonyms_per_part_of_speech) {
  const WordNetSynonyms lexicon = snippet_lexicon();
  // good, goodness, dog, domestic dog, canis familiaris, walk, stroll, hound, amble, run, dash,
  // go fast, fine, well, o.k., fast, quickly
  BOOST_TEST(lexicon.size() == 17u);
  BOOST_TEST(synonyms(lexicon, "good", PartOfSpeech::noun) == Strings{"goodness"},
             boost::test_tools::per_element());
  BOOST_TEST(synonyms(lexicon, "good", PartOfSpeech::verb).empty());
  // "fine(a)" and "well(p)" lose their markers; "o.k." is not one word, so never a substitute.
  BOOST_TEST(synonyms(lexicon, "good", PartOfSpeech::adjective) == (Strings{"fine", "well"}),
             boost::test_tools::per_element());
  BOOST_TEST(synonyms(lexicon, "good", PartOfSpeech::adverb) == Strings{"well"},
             boost::test_tools::per_element());
  // Two noun synsets, in file order; multi-word lemmas are never synonyms.
  BOOST_TEST(synonyms(lexicon, "dog", PartOfSpeech::noun) == Strings{"hound"},
             boost::test_tools::per_element());
  BOOST_TEST(synonyms(lexicon, "walk", PartOfSpeech::noun) == Strings{"stroll"},
             boost::test_tools::per_element());
  BOOST_TEST(synonyms(lexicon, "walk", PartOfSpeech::verb) == Strings{"amble"},
             boost::test_tools::per_element());
  BOOST_TEST(synonyms(lexicon, "run", PartOfSpeech::verb) == Strings{"dash"},
             boost::test_tools::per_element());
  BOOST_TEST(synonyms(lexicon, "well", PartOfSpeech::adjective) == Strings{"good"},
             boost::test_tools::per_element());
  BOOST_TEST(synonyms(lexicon, "fast", PartOfSpeech::adverb) == Strings{"quickly"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(parts_of_speech_and_lookup_forms) {
  const WordNetSynonyms lexicon = snippet_lexicon();
  BOOST_TEST((lexicon.parts_of_speech("good") ==
              PartsOfSpeech{PartOfSpeech::noun, PartOfSpeech::adjective, PartOfSpeech::adverb}));
  BOOST_TEST(
      (lexicon.parts_of_speech("walk") == PartsOfSpeech{PartOfSpeech::noun, PartOfSpeech::verb}));
  BOOST_TEST((lexicon.parts_of_speech("fine") == PartsOfSpeech{PartOfSpeech::adjective}));
  // Any case; multi-word lemmas with '_' or ' '; they have synonyms of their own.
  BOOST_TEST((lexicon.parts_of_speech("GoOd") == lexicon.parts_of_speech("good")));
  BOOST_TEST(lexicon.contains("Domestic_Dog"));
  BOOST_TEST(lexicon.contains("canis familiaris"));
  BOOST_TEST(synonyms(lexicon, "domestic dog", PartOfSpeech::noun) == Strings{"dog"},
             boost::test_tools::per_element());
  BOOST_TEST(lexicon.contains("o.k."));
  // No morphology: inflected forms are unknown.
  BOOST_TEST(!lexicon.contains("dogs"));
  BOOST_TEST(lexicon.parts_of_speech("dogs").empty());
  BOOST_TEST(lexicon.synonyms("dogs", PartOfSpeech::noun).empty());
  BOOST_TEST(lexicon.synonyms("", PartOfSpeech::noun).empty());
  BOOST_TEST(WordNetSynonyms().synonyms("good", PartOfSpeech::noun).empty());
  BOOST_TEST((moerb::part_of_speech_of('s') == PartOfSpeech::adjective));
  BOOST_CHECK_THROW((void)moerb::part_of_speech_of('x'), moerb::error);
}

BOOST_AUTO_TEST_CASE(load_reads_the_four_files_and_names_what_is_missing) {
  ScratchDir dir("wordnet-synonyms");
  using namespace moerb::test::lexical;
  BOOST_CHECK_EXCEPTION((void)WordNetSynonyms::load(dir / "absent"), moerb::error,
                        message_has({"WordNetSynonyms::load", "absent", "wordnet-base"}));
  (void)dir.write("data.noun", noun_snippet);
  (void)dir.write("data.verb", verb_snippet);
  BOOST_TEST(!WordNetSynonyms::available(dir.path()));
  BOOST_CHECK_EXCEPTION((void)WordNetSynonyms::load(dir.path()), moerb::error,
                        message_has({"data.adj", "wordnet-base"}));
  (void)dir.write("data.adj", adjective_snippet);
  (void)dir.write("data.adv", adverb_snippet);
  BOOST_TEST(WordNetSynonyms::available(dir.path()));
  const WordNetSynonyms loaded = WordNetSynonyms::load(dir.path());
  const WordNetSynonyms built = snippet_lexicon();
  BOOST_TEST(loaded.size() == built.size());
  for (const char* word : {"good", "dog", "walk", "well", "run", "domestic dog"}) {
    for (std::size_t p = 0; p < moerb::num_parts_of_speech; ++p) {
      const auto pos = static_cast<PartOfSpeech>(p);
      BOOST_TEST(synonyms(loaded, word, pos) == synonyms(built, word, pos),
                 boost::test_tools::per_element());
    }
  }
  // A malformed line is reported with its file and line.
  (void)dir.write("data.adv", "00009000 02 r 02 well 0 good 0 000 no bar here\n");
  BOOST_CHECK_EXCEPTION((void)WordNetSynonyms::load(dir.path()), moerb::error,
                        message_has({"data.adv:1"}));
}

BOOST_AUTO_TEST_CASE(real_wordnet, *boost::unit_test::precondition(WordNetSynonymsInstalled())) {
  const auto start = std::chrono::steady_clock::now();
  const WordNetSynonyms& lexicon = real_synonyms();
  BOOST_TEST_MESSAGE(
      "WordNetSynonyms: "
      << lexicon.size() << " words, loaded in "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
  BOOST_TEST(lexicon.size() > 140000u);  // WordNet 3.0 has 147,306 distinct lemmas
  BOOST_TEST((lexicon.parts_of_speech("good") ==
              PartsOfSpeech{PartOfSpeech::noun, PartOfSpeech::adjective, PartOfSpeech::adverb}));
  const Strings adjectives = synonyms(lexicon, "good", PartOfSpeech::adjective);
  BOOST_TEST(has(adjectives, "beneficial"));
  BOOST_TEST(has(adjectives, "proficient"));
  BOOST_TEST(!has(adjectives, "good"));
  BOOST_TEST(has(synonyms(lexicon, "good", PartOfSpeech::noun), "goodness"));
  BOOST_TEST(has(synonyms(lexicon, "good", PartOfSpeech::adverb), "well"));
  const Strings dog_nouns = synonyms(lexicon, "Dog", PartOfSpeech::noun);
  BOOST_TEST(has(dog_nouns, "hound"));
  BOOST_TEST(has(dog_nouns, "dog-iron"));       // hyphenated: one word
  BOOST_TEST(!has(dog_nouns, "domestic dog"));  // multi-word: never a substitute
  BOOST_TEST(has(synonyms(lexicon, "dog", PartOfSpeech::verb), "chase"));
  BOOST_TEST(!has(synonyms(lexicon, "dog", PartOfSpeech::verb), "hound"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_wordnet_synonyms

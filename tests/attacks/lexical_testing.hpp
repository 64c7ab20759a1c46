#pragma once
// Shared by the suites of the lexical attack pieces (WordNet synonyms, word substitutions, lexical
// constraints): a hand-written WordNet snippet in the data-file format, the lexicon built from it,
// the real lexicon (loaded once per test binary) and a small embedding table with known cosines.
#include <boost/test/unit_test.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/attacks/word_embeddings.hpp"
#include "moerb/attacks/wordnet_synonyms.hpp"
#include "moerb/data/wordnet.hpp"

namespace moerb::test::lexical {

// Four parts of speech, in the real line format (two trailing spaces; verbs have a frame count).
// good: noun {good, goodness}, adjective {good, fine(a)}, satellite {good, well(p), o.k.},
// adverb {well, good}; dog: noun {dog, domestic_dog, Canis_familiaris} and {hound, dog}; walk:
// noun {walk, stroll}, verb {walk, amble}; run: verb {run, dash, go_fast}; fast: adverb
// {fast, quickly}.
inline const char* const noun_snippet =
    "  1 Synthetic header standing where the license text is.  \n"
    "00001000 07 n 02 good 0 goodness 0 000 | moral excellence  \n"
    "00002000 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 000 | a canine  \n"
    "00003000 04 n 02 walk 0 stroll 0 000 | a leisurely walk  \n"
    "00004000 05 n 02 hound 0 dog 0 000 | a hunting dog  \n";
inline const char* const verb_snippet =
    "  1 Synthetic header.  \n"
    "00005000 38 v 02 walk 0 amble 0 000 01 + 02 00 | move on foot  \n"
    "00006000 38 v 03 run 0 dash 0 go_fast 0 000 00 | move quickly  \n";
inline const char* const adjective_snippet =
    "  1 Synthetic header.  \n"
    "00007000 00 a 02 good 0 fine(a) 0 000 | having desirable qualities  \n"
    "00008000 00 s 03 good 0 well(p) 0 o.k. 0 000 | in good health  \n";
inline const char* const adverb_snippet =
    "  1 Synthetic header.  \n"
    "00009000 02 r 02 well 0 good 0 000 | competently  \n"
    "00010000 02 r 02 fast 0 quickly 0 000 | rapidly  \n";

inline std::vector<Synset> parse_snippet(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  return read_wordnet_data(in, source);
}

/// The snippet's synsets, nouns, verbs, adjectives, adverbs in that order.
inline std::vector<Synset> snippet_synsets() {
  std::vector<Synset> all;
  for (const auto& [text, source] :
       {std::pair{noun_snippet, "data.noun"}, std::pair{verb_snippet, "data.verb"},
        std::pair{adjective_snippet, "data.adj"}, std::pair{adverb_snippet, "data.adv"}}) {
    for (Synset& s : parse_snippet(text, source)) all.push_back(std::move(s));
  }
  return all;
}

inline WordNetSynonyms snippet_lexicon() {
  return WordNetSynonyms(snippet_synsets());
}

/// Precondition of the real-data cases: the four WordNet 3.0 data files are installed.
struct WordNetSynonymsInstalled {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result ok(WordNetSynonyms::available());
    ok.message() << "WordNet 3.0 data files not found in " << WordNet::default_directory()
                 << " (install Debian's wordnet-base); real-WordNet synonym tests skipped";
    return ok;
  }
};

/// The lexicon of the real WordNet, loaded on first use.
inline const WordNetSynonyms& real_synonyms() {
  static const WordNetSynonyms lexicon = WordNetSynonyms::load();
  return lexicon;
}

/// Rows with known cosines to "good" = (1, 0, 0) (vectors not unit length, to check the
/// normalisation): fine 0.8, great 0.6, nice 0.8 (a tie with fine, broken by row), movie 0,
/// bad −1; "[UNK]" and "##ly" point like "good" but are never proposed, "zero" has no direction.
/// cos(fine, great) = 0.96, cos(movie, nice) = 0.6.
inline WordEmbeddings<double> small_table() {
  WordEmbeddings<double> t;
  t.words = {"good", "fine", "great", "bad", "nice", "[UNK]", "##ly", "zero", "movie"};
  t.vectors.resize(9, 3);
  t.vectors << 2, 0, 0,  //
      4, 3, 0,           //
      3, 4, 0,           //
      -1, 0, 0,          //
      0.8, 0, 0.6,       //
      1, 0, 0,           //
      5, 0, 0,           //
      0, 0, 0,           //
      0, 0, 7;
  return t;
}

}  // namespace moerb::test::lexical

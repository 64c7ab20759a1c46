#pragma once
// Shared by the suites that read the real WordNet 3.0 files (test_wordnet,
// test_wordnet_truthfulness, test_wordnet_safety): the database parsed once per test binary, a
// precondition that skips the real-data cases when Debian's wordnet-base is missing, and small
// lookups.
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <string>

#include "moerb/data/wordnet.hpp"
#include "moerb/text/pre_tokenizer.hpp"

namespace moerb::test {

/// The real database (nouns and verbs), parsed on first use and shared by every suite.
inline const WordNet& real_wordnet() {
  static const WordNet wn = WordNet::load();
  return wn;
}

/// Precondition of the real-data cases: WordNet 3.0 is installed where moerb looks for it.
struct WordNetInstalled {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result ok(WordNet::available());
    ok.message() << "WordNet 3.0 not found in " << moerb::wordnet_default_directory()
                 << " (install Debian's wordnet-base); real-data task tests skipped";
    return ok;
  }
};

/// The noun synset with id "n<offset>" (the test fails when there is none).
inline const Synset& noun_synset(const WordNet& wn, const std::string& id) {
  BOOST_REQUIRE(id.size() == 9 && id[0] == 'n');
  const Synset* s = wn.find_noun(static_cast<std::uint32_t>(std::stoul(id.substr(1))));
  BOOST_REQUIRE(s != nullptr);
  return *s;
}

/// `text` in the tokenizers' normal form (lower case, punctuation split off).
inline std::string normalized(const std::string& text) {
  return PreTokenizer().normalize(text);
}

}  // namespace moerb::test

// Fuzzes the WordNet database parser (include/moerb/data/wordnet.hpp): read_wordnet_data on a
// data.<pos> text, the WordNet index built from its synsets and the hypernym walks over it, and
// split_wordnet_gloss.
//
// Checks: parsing, indexing and every hypernym_chain succeed or throw moerb::error; a parsed synset
// has a known lexicographer file and part of speech, at least one word, an 8-digit id, and a
// definition and examples that are trimmed and non-empty; a chain starts at its synset and has no
// repeated synset.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/wordnet.hpp"

namespace {

void check_gloss(const std::string& definition, const std::vector<std::string>& examples) {
  MOERB_FUZZ_CHECK(moerb::detail::trim(definition) == definition, "definition trimmed");
  for (const std::string& e : examples) {
    MOERB_FUZZ_CHECK(!e.empty() && moerb::detail::trim(e) == e, "examples trimmed, non-empty");
  }
}

void check_synset(const moerb::Synset& s) {
  MOERB_FUZZ_CHECK(s.lex_filenum < moerb::wordnet_lexicographer_files.size(), "lex_filenum");
  MOERB_FUZZ_CHECK(std::string_view("nvasr").find(s.ss_type) != std::string_view::npos, "ss_type");
  MOERB_FUZZ_CHECK(!s.words.empty(), "a synset has a word");
  MOERB_FUZZ_CHECK(s.id().size() == 9, s.id());
  (void)s.lexname();
  (void)s.head_word();
  check_gloss(s.definition, s.examples);
}

void check_chains(const moerb::WordNet& wn, const std::vector<moerb::Synset>& synsets) {
  for (const moerb::Synset& s : synsets) {
    std::vector<const moerb::Synset*> chain;
    if (!moerb::fuzz::parses([&] { chain = wn.hypernym_chain(s); })) continue;
    MOERB_FUZZ_CHECK(!chain.empty() && chain.front() == &s, "a chain starts at its synset");
    const std::set<const moerb::Synset*> distinct(chain.begin(), chain.end());
    MOERB_FUZZ_CHECK(distinct.size() == chain.size(), "a chain without a cycle");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = moerb::fuzz::as_text(data, size);
  const moerb::WordNetGloss gloss = moerb::split_wordnet_gloss(text);
  check_gloss(gloss.definition, gloss.examples);

  std::vector<moerb::Synset> synsets;
  std::istringstream in{std::string(text)};
  if (!moerb::fuzz::parses([&] { synsets = moerb::read_wordnet_data(in, "data.fuzz"); })) return 0;
  std::vector<moerb::Synset> nouns, verbs;
  for (const moerb::Synset& s : synsets) {
    check_synset(s);
    (s.ss_type == 'v' ? verbs : nouns).push_back(s);
  }
  std::optional<moerb::WordNet> wn;
  if (!moerb::fuzz::parses([&] { wn.emplace(std::move(nouns), std::move(verbs)); })) return 0;
  check_chains(*wn, wn->nouns());
  check_chains(*wn, wn->verbs());
  return 0;
}

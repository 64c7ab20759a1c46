#pragma once
// Helpers shared by the WordNet language-model tasks (wordnet_truthfulness.hpp and
// wordnet_safety.hpp): lemmas and definitions as lower-case text in the tokenizers' normal form,
// the "what is a ...?" question, and hypernym relations beyond the primary chain.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/wordnet.hpp"
#include "moerb/text/pre_tokenizer.hpp"

namespace moerb::detail {

/// `text` in the normal form of moerb's tokenizers (PreTokenizer::normalize: lower case, every
/// punctuation character a word of its own, single spaces), so that a WordTokenizer's
/// decode(encode(text)) gives it back.
[[nodiscard]] inline std::string wordnet_lm_normalize(std::string_view text) {
  return PreTokenizer().normalize(text);
}

/// Number of words of a normalised text (punctuation characters count as words).
[[nodiscard]] inline std::size_t wordnet_lm_word_count(std::string_view normalized) {
  if (normalized.empty()) return 0;
  return static_cast<std::size_t>(std::count(normalized.begin(), normalized.end(), ' ')) + 1;
}

/// The synset's first word as normalised question text ("domestic dog", "jack - o ' - lantern"), or
/// nullopt when WordNet does not write it as a plain lower-case word or phrase (letters, '_', '-'
/// and '\'', starting with a letter): this leaves out proper nouns and taxonomic names, which
/// WordNet capitalises ("Canis", "Felidae"), and words with digits or dots ("B-52", "Dr.").
[[nodiscard]] inline std::optional<std::string> wordnet_plain_lemma(const Synset& s) {
  if (s.words.empty()) return std::nullopt;
  const std::string& w = s.words.front();
  if (w.empty() || w.front() < 'a' || w.front() > 'z') return std::nullopt;
  for (const char c : w) {
    if (!((c >= 'a' && c <= 'z') || c == '_' || c == '-' || c == '\'')) return std::nullopt;
  }
  std::string lemma = wordnet_lm_normalize(s.head_word());
  if (lemma.empty()) return std::nullopt;
  return lemma;
}

/// The synset's definition in normal form, or nullopt when it is empty or longer than `max_words`
/// words (wordnet_lm_word_count).
[[nodiscard]] inline std::optional<std::string> wordnet_plain_definition(const Synset& s,
                                                                         std::size_t max_words) {
  std::string text = wordnet_lm_normalize(s.definition);
  const std::size_t words = wordnet_lm_word_count(text);
  if (words == 0 || words > max_words) return std::nullopt;
  return text;
}

/// "a" or "an" before a normalised lemma (by its first letter: a, e, i, o, u take "an").
[[nodiscard]] inline std::string_view wordnet_lm_article(std::string_view lemma) {
  return !lemma.empty() && std::string_view("aeiou").find(lemma.front()) != std::string_view::npos
             ? "an"
             : "a";
}

/// "what is a <lemma> ?" ("what is an apple ?").
[[nodiscard]] inline std::string wordnet_what_is(std::string_view lemma) {
  return concat("what is ", wordnet_lm_article(lemma), " ", lemma, " ?");
}

/// "what is a <lemma> , a kind of <hypernym> ?".
[[nodiscard]] inline std::string wordnet_what_is(std::string_view lemma,
                                                 std::string_view hypernym) {
  return concat("what is ", wordnet_lm_article(lemma), " ", lemma, " , a kind of ", hypernym, " ?");
}

/// "a kind of <lemma>".
[[nodiscard]] inline std::string wordnet_kind_of(std::string_view lemma) {
  return concat("a kind of ", lemma);
}

/// Every ancestor of a noun synset along all its hypernym and instance-hypernym pointers (not only
/// the primary chain), each once, in breadth-first order; `s` itself is not included. Throws when a
/// pointer's target is not in the database.
[[nodiscard]] inline std::vector<const Synset*> wordnet_all_ancestors(const WordNet& wn,
                                                                      const Synset& s) {
  std::vector<const Synset*> out;
  std::vector<const Synset*> frontier{&s};
  while (!frontier.empty()) {
    std::vector<const Synset*> next;
    for (const Synset* x : frontier) {
      for (const auto* targets : {&x->hypernyms, &x->instance_hypernyms}) {
        for (const std::uint32_t offset : *targets) {
          const Synset* p = wn.find_noun(offset);
          if (p == nullptr) {
            throw error(concat("WordNet: synset ", x->id(), " has hypernym offset ", offset,
                               " that is not in the database"));
          }
          if (p == &s || std::find(out.begin(), out.end(), p) != out.end()) continue;
          out.push_back(p);
          next.push_back(p);
        }
      }
    }
    frontier = std::move(next);
  }
  return out;
}

/// The noun synsets whose primary hypernym is each synset, in data-file order.
[[nodiscard]] inline std::unordered_map<const Synset*, std::vector<const Synset*>>
wordnet_primary_children(const WordNet& wn) {
  std::unordered_map<const Synset*, std::vector<const Synset*>> children;
  for (const Synset& s : wn.nouns()) {
    if (const Synset* p = wn.primary_hypernym(s)) children[p].push_back(&s);
  }
  return children;
}

/// Each distinct word of the (normalised) texts.
[[nodiscard]] inline std::unordered_set<std::string> wordnet_lm_vocabulary(
    const std::vector<std::string>& texts, std::size_t* total_words = nullptr) {
  std::unordered_set<std::string> words;
  std::size_t total = 0;
  for (const std::string& t : texts) {
    std::size_t begin = 0;
    while (begin < t.size()) {
      std::size_t end = t.find(' ', begin);
      if (end == std::string::npos) end = t.size();
      if (end > begin) {
        words.emplace(t.substr(begin, end - begin));
        ++total;
      }
      begin = end + 1;
    }
  }
  if (total_words != nullptr) *total_words = total;
  return words;
}

/// Minimum, mean and maximum of counts, "min 2, mean 2.00, max 3" ("none" when empty).
[[nodiscard]] inline std::string wordnet_lm_count_range(const std::vector<std::size_t>& counts) {
  if (counts.empty()) return "none";
  std::size_t sum = 0;
  for (const std::size_t c : counts) sum += c;
  std::ostringstream os;
  os << "min " << *std::min_element(counts.begin(), counts.end()) << ", mean " << std::fixed
     << std::setprecision(2) << static_cast<double>(sum) / static_cast<double>(counts.size())
     << ", max " << *std::max_element(counts.begin(), counts.end());
  return os.str();
}

}  // namespace moerb::detail

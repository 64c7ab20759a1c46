#pragma once
// Word-substitution transformations: each candidate replaces the word of one slot by a substitute.
//
//   WordNetSynonymSwap        WordNet synonyms of the word, part of speech by part of speech (PWWS:
//                             Ren et al. 2019, "Generating Natural Language Adversarial Examples
//                             through Probability Weighted Word Saliency", §3.1).
//   EmbeddingNeighbourSwap<S> the k nearest neighbours by cosine in a word embedding table, above a
//                             cosine floor (TextFooler: Jin et al. 2020, "Is BERT Really Robust?",
//                             §3.2 step 2; TextAttack's textfooler recipe uses k = 50 and 0.5).
//
// A substitute takes the case pattern of the word it replaces (match_case: "Good" → "Fine", "GOOD"
// → "FINE"); substitutes equal to the word up to case are not proposed. Both are deterministic (the
// Rng is not used) and propose, for each position in order, the substitutes in a fixed order.
// Neither knows the word's part of speech in context: pair them with PartOfSpeechMatch
// (lexical_constraints.hpp) or restrict the parts of speech in the options.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/detail/lexical.hpp"
#include "moerb/attacks/transformation.hpp"
#include "moerb/attacks/word_embeddings.hpp"
#include "moerb/attacks/wordnet_synonyms.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

/// `word` written with the case pattern of `model` (ASCII letters only): all upper case when
/// `model` has at least two letters and all are upper case ("GOOD" → "FINE"), capitalised when
/// only its first character is an upper-case letter ("Good" → "Fine"), otherwise unchanged.
[[nodiscard]] inline std::string match_case(std::string_view model, std::string word) {
  using detail::lexical::is_ascii_lower;
  using detail::lexical::is_ascii_upper;
  std::size_t upper = 0, lower = 0;
  for (const char c : model) {
    upper += is_ascii_upper(c) ? 1 : 0;
    lower += is_ascii_lower(c) ? 1 : 0;
  }
  if (upper >= 2 && lower == 0) {
    for (char& c : word) c = is_ascii_lower(c) ? static_cast<char>(c - 'a' + 'A') : c;
  } else if (upper == 1 && !model.empty() && is_ascii_upper(model.front()) && !word.empty() &&
             is_ascii_lower(word.front())) {
    word.front() = static_cast<char>(word.front() - 'a' + 'A');
  }
  return word;
}

namespace detail::lexical {

/// Whether a and b are equal up to case (the lower-case forms agree).
[[nodiscard]] inline bool same_up_to_case(std::string_view a, std::string_view lower_b) {
  return a == lower_b || lower(a, "same_up_to_case") == lower_b;
}

}  // namespace detail::lexical

struct WordNetSynonymSwapOptions {
  /// Parts of speech whose synonyms are proposed, in the order noun, verb, adjective, adverb; a
  /// synonym shared by two parts of speech is proposed once, at its first one.
  PartsOfSpeech parts = PartsOfSpeech::all();
  /// At most this many candidates per word (0 = all).
  std::size_t max_candidates = 0;
};

/// Replaces a word by each of its WordNet synonyms (PWWS's candidate set). The lexicon is shared
/// (std::shared_ptr), so copies of the transformation are cheap.
class WordNetSynonymSwap {
 public:
  using Options = WordNetSynonymSwapOptions;

  explicit WordNetSynonymSwap(std::shared_ptr<const WordNetSynonyms> lexicon,
                              const Options& options = {})
      : lexicon_(std::move(lexicon)), options_(options) {
    MOERB_REQUIRE(lexicon_ != nullptr, "WordNetSynonymSwap: no lexicon");
    MOERB_REQUIRE(!options_.parts.empty(), "WordNetSynonymSwap: Options::parts is empty");
  }
  explicit WordNetSynonymSwap(WordNetSynonyms lexicon, const Options& options = {})
      : WordNetSynonymSwap(std::make_shared<const WordNetSynonyms>(std::move(lexicon)), options) {}

  [[nodiscard]] const WordNetSynonyms& lexicon() const { return *lexicon_; }
  [[nodiscard]] const Options& options() const { return options_; }

  /// The substitutes of `word` in proposal order, with its case pattern.
  [[nodiscard]] std::vector<std::string> substitutes(std::string_view word) const {
    std::vector<std::string> out;
    if (word.empty()) return out;
    const std::string key = WordNetSynonyms::normalize(word);
    std::vector<std::string_view> seen;
    for (std::size_t p = 0; p < num_parts_of_speech; ++p) {
      const auto pos = static_cast<PartOfSpeech>(p);
      if (!options_.parts.contains(pos)) continue;
      for (const std::string& synonym : lexicon_->synonyms(key, pos)) {
        if (synonym == key || std::find(seen.begin(), seen.end(), synonym) != seen.end()) continue;
        if (options_.max_candidates != 0 && out.size() == options_.max_candidates) return out;
        seen.push_back(synonym);
        out.push_back(match_case(word, synonym));
      }
    }
    return out;
  }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& /*rng*/) const {
    for (const WordPosition p : positions) {
      const std::string& word = text.word(p);
      if (!detail::lexical::is_single_word(word)) continue;  // empty or repeated slot
      for (std::string& s : substitutes(word)) out.push_back(text.with_word(p, std::move(s)));
    }
  }

 private:
  std::shared_ptr<const WordNetSynonyms> lexicon_;
  Options options_;
};

static_assert(Transformation<WordNetSynonymSwap>);

struct EmbeddingNeighbourSwapOptions {
  std::size_t k = 50;       ///< neighbours per word, >= 1
  double min_cosine = 0.5;  ///< cosine floor, in [-1, 1]
};

/// Replaces a word by each of its k nearest neighbours (cosine >= min_cosine) in a word embedding
/// table: a table the user loads (WordEmbeddings) or the victim's own word_embedding_table() with
/// its Vocabulary. A word outside the table gets no candidate. Each word's neighbours are computed
/// once (one GEMV over the table) and cached; copies share the index and the cache, which is
/// guarded by a mutex so attacks on several threads can share one transformation.
template <FloatingScalar S>
class EmbeddingNeighbourSwap {
 public:
  using Options = EmbeddingNeighbourSwapOptions;

  explicit EmbeddingNeighbourSwap(std::shared_ptr<const WordEmbeddingIndex<S>> index,
                                  const Options& options = {})
      : index_(std::move(index)), options_(options), cache_(std::make_shared<Cache>()) {
    MOERB_REQUIRE(index_ != nullptr, "EmbeddingNeighbourSwap: no embedding index");
    WordEmbeddingIndex<S>::check_neighbour_options(options_.k, options_.min_cosine,
                                                   "EmbeddingNeighbourSwap");
  }
  explicit EmbeddingNeighbourSwap(const WordEmbeddings<S>& table, const Options& options = {})
      : EmbeddingNeighbourSwap(std::make_shared<const WordEmbeddingIndex<S>>(table), options) {}
  EmbeddingNeighbourSwap(const Matrix<S>& table, const Vocabulary& vocabulary,
                         const Options& options = {})
      : EmbeddingNeighbourSwap(std::make_shared<const WordEmbeddingIndex<S>>(table, vocabulary),
                               options) {}

  [[nodiscard]] const WordEmbeddingIndex<S>& index() const { return *index_; }
  [[nodiscard]] std::shared_ptr<const WordEmbeddingIndex<S>> shared_index() const { return index_; }
  [[nodiscard]] const Options& options() const { return options_; }

  /// The neighbours of `word` (best first; empty when the word is not in the table), cached. The
  /// span stays valid as long as any copy of this transformation lives.
  [[nodiscard]] std::span<const WordNeighbour> neighbours(std::string_view word) const {
    const std::optional<Index> row = index_->find(word);
    if (!row) return {};
    return neighbours_of_row(*row);
  }

  /// The substitutes of `word` in proposal order, with its case pattern.
  [[nodiscard]] std::vector<std::string> substitutes(std::string_view word) const {
    std::vector<std::string> out;
    const std::span<const WordNeighbour> near = neighbours(word);
    if (near.empty()) return out;
    const std::string lower = detail::lexical::lower(word, "EmbeddingNeighbourSwap");
    for (const WordNeighbour& n : near) {
      const std::string& w = index_->word(n.row);
      if (detail::lexical::same_up_to_case(w, lower)) continue;
      out.push_back(match_case(word, w));
    }
    return out;
  }

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& /*rng*/) const {
    for (const WordPosition p : positions) {
      const std::string& word = text.word(p);
      if (!detail::lexical::is_single_word(word)) continue;
      for (std::string& s : substitutes(word)) out.push_back(text.with_word(p, std::move(s)));
    }
  }

 private:
  struct Cache {
    std::mutex mutex;
    // Node-based: the spans handed out stay valid when the map grows.
    std::unordered_map<Index, std::vector<WordNeighbour>> rows;
  };

  std::span<const WordNeighbour> neighbours_of_row(Index row) const {
    {
      const std::lock_guard<std::mutex> lock(cache_->mutex);
      if (const auto it = cache_->rows.find(row); it != cache_->rows.end()) return it->second;
    }
    std::vector<WordNeighbour> near;  // computed outside the lock; a race computes it twice
    Vector<S> scores(index_->size());
    index_->nearest(row, options_.k, options_.min_cosine, near, scores);
    const std::lock_guard<std::mutex> lock(cache_->mutex);
    return cache_->rows.emplace(row, std::move(near)).first->second;
  }

  std::shared_ptr<const WordEmbeddingIndex<S>> index_;
  Options options_;
  std::shared_ptr<Cache> cache_;
};

static_assert(Transformation<EmbeddingNeighbourSwap<float>>);
static_assert(Transformation<EmbeddingNeighbourSwap<double>>);

}  // namespace moerb

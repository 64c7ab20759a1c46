#pragma once
// WordNetSynonyms: the synonym lexicon of WordNet 3.0 (Miller 1995; Fellbaum 1998) that the
// synonym-swap transformation (PWWS: Ren et al. 2019, "Generating Natural Language Adversarial
// Examples through Probability Weighted Word Saliency", §3.1) and the part-of-speech constraint
// read.
//
// Built from the four data files of Debian's wordnet-base (/usr/share/wordnet/data.noun, data.verb,
// data.adj, data.adv; format wndb(5WN), parsed by read_wordnet_data). Every lemma of every synset
// is a word of the lexicon, in lower case with '_' read as a space ("domestic dog"), and adjective
// syntactic markers ("galore(ip)", "outback(a)") stripped. A word's parts of speech are those of
// its synsets (satellites 's' count as adjectives); its synonyms as part of speech p are the other
// lemmas of its p synsets, in synset order (file order) and lemma order, each once. Multi-word
// lemmas and lemmas that are not one AttackedText word ("a.m.") are never synonyms: a
// substitute must fill exactly one word slot. There is no morphological analysis (WordNet's
// morphy): inflected forms such as "dogs" or "ran" are unknown words.
//
// Loading the whole database takes about 0.5-0.7 s (Release, parsing included); a lookup
// is one hash probe.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moerb/attacks/detail/lexical.hpp"
#include "moerb/core/error.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/wordnet.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb {

/// The four WordNet parts of speech (adjective satellites are adjectives).
enum class PartOfSpeech : std::uint8_t { noun = 0, verb = 1, adjective = 2, adverb = 3 };

inline constexpr std::size_t num_parts_of_speech = 4;

[[nodiscard]] constexpr std::string_view part_of_speech_name(PartOfSpeech pos) noexcept {
  switch (pos) {
    case PartOfSpeech::noun:
      return "noun";
    case PartOfSpeech::verb:
      return "verb";
    case PartOfSpeech::adjective:
      return "adjective";
    case PartOfSpeech::adverb:
      return "adverb";
  }
  return "?";
}

/// The part of speech of a synset type letter: n, v, a or s (satellite), r. Throws otherwise.
[[nodiscard]] inline PartOfSpeech part_of_speech_of(char ss_type) {
  switch (ss_type) {
    case 'n':
      return PartOfSpeech::noun;
    case 'v':
      return PartOfSpeech::verb;
    case 'a':
    case 's':
      return PartOfSpeech::adjective;
    case 'r':
      return PartOfSpeech::adverb;
    default:
      throw error(
          detail::concat("part_of_speech_of: synset type '", ss_type, "' is not one of n v a s r"));
  }
}

/// A set of parts of speech (a 4-bit mask).
class PartsOfSpeech {
 public:
  constexpr PartsOfSpeech() = default;
  constexpr PartsOfSpeech(std::initializer_list<PartOfSpeech> parts) {
    for (const PartOfSpeech p : parts) insert(p);
  }
  [[nodiscard]] static constexpr PartsOfSpeech all() {
    return {PartOfSpeech::noun, PartOfSpeech::verb, PartOfSpeech::adjective, PartOfSpeech::adverb};
  }
  constexpr void insert(PartOfSpeech p) { bits_ |= bit(p); }
  [[nodiscard]] constexpr bool contains(PartOfSpeech p) const { return (bits_ & bit(p)) != 0; }
  [[nodiscard]] constexpr bool empty() const { return bits_ == 0; }
  [[nodiscard]] constexpr bool intersects(PartsOfSpeech other) const {
    return (bits_ & other.bits_) != 0;
  }
  [[nodiscard]] constexpr std::uint8_t bits() const { return bits_; }
  friend constexpr bool operator==(PartsOfSpeech, PartsOfSpeech) = default;

 private:
  static constexpr std::uint8_t bit(PartOfSpeech p) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(p));
  }
  std::uint8_t bits_ = 0;
};

class WordNetSynonyms {
 public:
  /// The data files read, in this order.
  static constexpr std::array<std::string_view, num_parts_of_speech> data_files = {
      "data.noun", "data.verb", "data.adj", "data.adv"};

  /// True when `dir` holds the four data files.
  [[nodiscard]] static bool available(
      const std::filesystem::path& dir = WordNet::default_directory()) {
    std::error_code ec;
    return std::all_of(data_files.begin(), data_files.end(), [&](std::string_view name) {
      return std::filesystem::is_regular_file(dir / name, ec);
    });
  }

  /// Reads data.noun, data.verb, data.adj and data.adv from `dir`. A missing directory or file
  /// throws an error that says to install wordnet-base; a malformed line throws with its location.
  [[nodiscard]] static WordNetSynonyms load(
      const std::filesystem::path& dir = WordNet::default_directory()) {
    constexpr std::string_view where = "WordNetSynonyms::load";
    std::error_code ec;
    MOERB_REQUIRE(std::filesystem::is_directory(dir, ec), where, ": no directory ", dir.string(),
                  "; install the WordNet 3.0 database (Debian/Ubuntu: apt-get install "
                  "wordnet-base) or pass the directory holding data.noun, data.verb, data.adj and "
                  "data.adv");
    Builder builder;
    builder.reserve(160000);  // WordNet 3.0 has 147,306 distinct lemmas
    for (const std::string_view name : data_files) {
      const std::filesystem::path file = dir / name;
      MOERB_REQUIRE(std::filesystem::is_regular_file(file, ec), where, ": no ", file.string(),
                    "; install the WordNet 3.0 database (Debian/Ubuntu: apt-get install "
                    "wordnet-base) or pass the directory holding data.noun, data.verb, data.adj "
                    "and data.adv");
      std::ifstream in = detail::open_input(file, where);
      const std::vector<Synset> synsets = read_wordnet_data(in, file.string());
      for (const Synset& s : synsets) builder.add(s);
    }
    return builder.finish();
  }

  WordNetSynonyms() = default;

  /// The lexicon of the given synsets (any parts of speech, in any number; e.g. a hand-written
  /// snippet parsed with read_wordnet_data). Synonym order follows the order of `synsets`.
  explicit WordNetSynonyms(std::span<const Synset> synsets) {
    Builder builder;
    for (const Synset& s : synsets) builder.add(s);
    *this = builder.finish();
  }

  /// Number of distinct words (lemmas, multi-word ones included).
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] bool empty() const { return entries_.empty(); }

  /// Whether `word` (any case; '_' or ' ' between the words of a multi-word lemma) is a lemma.
  [[nodiscard]] bool contains(std::string_view word) const { return find(word) != nullptr; }

  /// The parts of speech of `word` (empty for a word WordNet does not know).
  [[nodiscard]] PartsOfSpeech parts_of_speech(std::string_view word) const {
    const Entry* e = find(word);
    return e == nullptr ? PartsOfSpeech{} : e->parts;
  }

  /// The synonyms of `word` as part of speech `pos`: lower case, single words, without `word`
  /// itself, each once, in WordNet order. Empty when the word is unknown or has no such synonym.
  [[nodiscard]] std::span<const std::string> synonyms(std::string_view word,
                                                      PartOfSpeech pos) const {
    const Entry* e = find(word);
    if (e == nullptr) return {};
    const auto p = static_cast<std::size_t>(pos);
    return std::span<const std::string>(synonyms_).subspan(e->begin[p],
                                                           e->begin[p + 1] - e->begin[p]);
  }

  /// The lexicon's form of a word: lower case, '_' read as a space.
  [[nodiscard]] static std::string normalize(std::string_view word) {
    std::string key = detail::lexical::lower(word, "WordNetSynonyms");
    std::replace(key.begin(), key.end(), '_', ' ');
    return key;
  }

 private:
  struct Entry {
    PartsOfSpeech parts;
    /// Synonyms of part of speech p are synonyms_[begin[p], begin[p + 1]).
    std::array<std::uint32_t, num_parts_of_speech + 1> begin{};
  };

  [[nodiscard]] const Entry* find(std::string_view word) const {
    if (entries_.empty() || word.empty()) return nullptr;
    const auto it = entries_.find(normalize(word));
    return it == entries_.end() ? nullptr : &it->second;
  }

  /// Collects the lemmas of each synset, then groups (word, part of speech, synset) occurrences.
  class Builder {
   public:
    void reserve(std::size_t words) {
      ids_.reserve(words);
      keys_.reserve(words);
      substitutable_.reserve(words);
    }
    void add(const Synset& s) {
      const PartOfSpeech pos = part_of_speech_of(s.ss_type);
      const auto synset = static_cast<std::uint32_t>(lemma_begin_.size() - 1);
      for (const std::string& raw : s.words) {
        std::string_view w = raw;
        // Adjective syntactic markers: "(a)" prenominal, "(p)" predicate, "(ip)" postnominal.
        if (pos == PartOfSpeech::adjective && !w.empty() && w.back() == ')') {
          const std::size_t open = w.rfind('(');
          if (open != std::string_view::npos && open > 0) w = w.substr(0, open);
        }
        if (w.empty()) continue;
        const std::uint32_t key = key_id(normalize(w));
        lemmas_.push_back(key);
        occurrences_.push_back({key, static_cast<std::uint8_t>(pos), synset});
      }
      lemma_begin_.push_back(static_cast<std::uint32_t>(lemmas_.size()));
    }

    WordNetSynonyms finish() {
      std::sort(occurrences_.begin(), occurrences_.end(), [](const auto& a, const auto& b) {
        if (a.key != b.key) return a.key < b.key;
        if (a.pos != b.pos) return a.pos < b.pos;
        return a.synset < b.synset;
      });
      WordNetSynonyms out;
      std::vector<Entry> entries(keys_.size());
      std::vector<std::uint32_t> stamp(keys_.size(), 0);  // stamp[l] == group: l already listed
      std::uint32_t group = 0;
      std::size_t i = 0;
      for (std::uint32_t key = 0; key < keys_.size(); ++key) {
        Entry& e = entries[key];
        for (std::size_t p = 0; p < num_parts_of_speech; ++p) {
          e.begin[p] = static_cast<std::uint32_t>(out.synonyms_.size());
          ++group;
          for (; i < occurrences_.size() && occurrences_[i].key == key && occurrences_[i].pos == p;
               ++i) {
            e.parts.insert(static_cast<PartOfSpeech>(p));
            const std::uint32_t synset = occurrences_[i].synset;
            for (std::uint32_t j = lemma_begin_[synset]; j < lemma_begin_[synset + 1]; ++j) {
              const std::uint32_t lemma = lemmas_[j];
              if (lemma == key || substitutable_[lemma] == 0 || stamp[lemma] == group) continue;
              stamp[lemma] = group;
              out.synonyms_.push_back(keys_[lemma]);
            }
          }
        }
        e.begin[num_parts_of_speech] = static_cast<std::uint32_t>(out.synonyms_.size());
      }
      out.entries_.reserve(keys_.size());
      for (std::uint32_t key = 0; key < keys_.size(); ++key) {
        out.entries_.emplace(std::move(keys_[key]), entries[key]);
      }
      return out;
    }

   private:
    struct Occurrence {
      std::uint32_t key;
      std::uint8_t pos;
      std::uint32_t synset;
    };

    std::uint32_t key_id(std::string key) {
      const auto it = ids_.find(key);
      if (it != ids_.end()) return it->second;
      const auto id = static_cast<std::uint32_t>(keys_.size());
      substitutable_.push_back(detail::lexical::is_single_word(key) ? 1 : 0);
      keys_.push_back(key);
      ids_.emplace(std::move(key), id);
      return id;
    }

    std::unordered_map<std::string, std::uint32_t, detail::text::StringHash, std::equal_to<>> ids_;
    std::vector<std::string> keys_;
    std::vector<std::uint8_t> substitutable_;
    std::vector<std::uint32_t> lemmas_;             ///< key ids, synset after synset
    std::vector<std::uint32_t> lemma_begin_ = {0};  ///< synset s: lemmas_[begin[s], begin[s+1])
    std::vector<Occurrence> occurrences_;
  };

  std::unordered_map<std::string, Entry, detail::text::StringHash, std::equal_to<>> entries_;
  std::vector<std::string> synonyms_;
};

}  // namespace moerb

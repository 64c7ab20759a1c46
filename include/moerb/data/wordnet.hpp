#pragma once
// WordNet 3.0 (Miller 1995; Fellbaum 1998) read from its database files, and text-classification
// tasks built from it for distribution-shift studies.
//
// The database is the one Debian ships in the package wordnet-base (/usr/share/wordnet/data.noun
// and data.verb; format wndb(5WN)). Each synset line gives the synset's offset, its lexicographer
// file (one of 45 coarse semantic categories such as noun.animal or noun.artifact, lexnames(5WN)),
// its words, its pointers (only the hypernym pointers '@' and instance-hypernym pointers '@i' are
// kept) and its gloss, which is split into the definition and the quoted example sentences.
//
// The tasks classify a WordNet definition (or example sentence) by the lexicographer file of its
// synset. All text is real WordNet text; every task is a deterministic function of its options
// (including the seed). Synsets whose definition is identical to another noun synset's (1,011 in
// WordNet 3.0) are left out of every task, so no text can appear in two splits.
//
// Measured on Debian's wordnet-base (WordNet 3.0: 82,115 noun and 13,767 verb synsets), default
// options, seed 0:
//
//   usable noun synsets per category (after de-duplication), in brackets those with ≥ 1 example
//   sentence:
//     act 6,633 (1,490)   animal 7,120 (39)        artifact 11,554 (776)  attribute 3,021 (884)
//     body 2,014 (130)    cognition 2,962 (732)    communication 5,492 (945)  food 2,568 (70)
//     location 3,119 (255)  person 11,016 (635)    plant 7,859 (22)       state 3,538 (609)
//     substance 2,948 (106)  time 1,014 (214)
//
//   (a) wordnet_topic_task: 8 classes (act, animal, artifact, communication, food, location,
//       person, plant), 2,000 synsets per class: train 12,800 / dev 1,600 / test 1,600, every
//       split exactly balanced (majority fraction 0.125).
//   (b) wordnet_subpopulation_task: the same 8 classes, 943 subpopulations (ancestor at depth 1
//       below the class top, refined until none holds > 25% of its class, ≥ 3 synsets each);
//       per class 10-197 source and 9-104 target subpopulations (noun.animal: mammal, aquatic
//       vertebrate, arthropod, ... vs bird, reptile, virus, ...). Train 10,800 / dev 1,200 (1,500
//       per class, source side), test 4,000 (500 per class, target side); exactly balanced.
//   (c) wordnet_style_shift_task: 7 classes (act, artifact, attribute, cognition, communication,
//       person, state): train 12,600 / dev 1,400 definitions (2,000 per class), test 3,500
//       example sentences (500 per class, the first example of synsets not used in train/dev);
//       exactly balanced (majority fraction 1/7).
//   (d) wordnet_ood_task: in-distribution splits identical to (a) for the same seed; ood 1,800
//       definitions (300 each from noun.attribute, body, cognition, state, substance, time) with
//       label -1 and label_name = their category.
//
// Loading both data files takes about 0.1-0.3 s; building a task from a loaded WordNet 0.1-0.3 s.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <istream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/example.hpp"

namespace moerb {

// ---- lexicographer files ------------------------------------------------------------------------

/// The 45 lexicographer file names, indexed by lex_filenum (WordNet 3.0, lexnames(5WN)).
inline constexpr std::array<std::string_view, 45> wordnet_lexicographer_files = {
    "adj.all",          "adj.pert",           "adv.all",
    "noun.Tops",        "noun.act",           "noun.animal",
    "noun.artifact",    "noun.attribute",     "noun.body",
    "noun.cognition",   "noun.communication", "noun.event",
    "noun.feeling",     "noun.food",          "noun.group",
    "noun.location",    "noun.motive",        "noun.object",
    "noun.person",      "noun.phenomenon",    "noun.plant",
    "noun.possession",  "noun.process",       "noun.quantity",
    "noun.relation",    "noun.shape",         "noun.state",
    "noun.substance",   "noun.time",          "verb.body",
    "verb.change",      "verb.cognition",     "verb.communication",
    "verb.competition", "verb.consumption",   "verb.contact",
    "verb.creation",    "verb.emotion",       "verb.motion",
    "verb.perception",  "verb.possession",    "verb.social",
    "verb.stative",     "verb.weather",       "adj.ppl"};

/// Name of lexicographer file `filenum` (0..44); throws otherwise.
[[nodiscard]] inline std::string_view wordnet_lexname(int filenum) {
  MOERB_REQUIRE(filenum >= 0 && filenum < static_cast<int>(wordnet_lexicographer_files.size()),
          "wordnet_lexname: lex_filenum = ", filenum, ", expected in [0, 44]");
  return wordnet_lexicographer_files[static_cast<std::size_t>(filenum)];
}

/// Number of the lexicographer file called `name` ("noun.animal" → 5), or nullopt.
[[nodiscard]] inline std::optional<int> wordnet_lexfile_number(std::string_view name) {
  for (std::size_t i = 0; i < wordnet_lexicographer_files.size(); ++i) {
    if (wordnet_lexicographer_files[i] == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

// ---- synsets and glosses ------------------------------------------------------------------------

/// A gloss split into its definition and its quoted example sentences.
struct WordNetGloss {
  std::string definition;             ///< the unquoted parts, joined by "; "
  std::vector<std::string> examples;  ///< the quoted parts without quotes or attribution
};

/// Splits a gloss at the semicolons outside double quotes. A part that starts with '"' is an
/// example: the text between its first and last quote (an attribution after the closing quote, as
/// in `"..." - Shakespeare`, is dropped). A part of the form `definition: "example"` contributes
/// both. Every other part belongs to the definition.
[[nodiscard]] inline WordNetGloss split_wordnet_gloss(std::string_view gloss) {
  WordNetGloss out;
  auto add_definition = [&](std::string_view part) {
    part = detail::trim(part);
    if (part.empty()) return;
    if (!out.definition.empty()) out.definition += "; ";
    out.definition += part;
  };
  auto add_example = [&](std::string_view quoted) {  // quoted starts with '"'
    const std::size_t close = quoted.rfind('"');
    const std::string_view inner =
        close > 0 ? quoted.substr(1, close - 1) : quoted.substr(1);  // unbalanced: to the end
    const std::string_view text = detail::trim(inner);
    if (!text.empty()) out.examples.emplace_back(text);
  };
  std::size_t begin = 0;
  bool in_quotes = false;
  for (std::size_t i = 0; i <= gloss.size(); ++i) {
    if (i < gloss.size() && gloss[i] == '"') in_quotes = !in_quotes;
    if (i < gloss.size() && (gloss[i] != ';' || in_quotes)) continue;
    const std::string_view part = detail::trim(gloss.substr(begin, i - begin));
    begin = i + 1;
    if (part.empty()) continue;
    if (part.front() == '"') {
      add_example(part);
      continue;
    }
    const std::size_t colon = part.find(": \"");
    if (colon != std::string_view::npos && part.back() == '"') {
      add_definition(part.substr(0, colon));
      add_example(part.substr(colon + 2));
      continue;
    }
    add_definition(part);
  }
  return out;
}

/// One synset line of a data.<pos> file.
struct Synset {
  std::uint32_t offset = 0;  ///< byte offset of the line in its data file: the synset's key
  std::uint8_t lex_filenum = 0;
  char ss_type = 'n';                             ///< n, v, a, s (adjective satellite) or r
  std::vector<std::string> words;                 ///< as in the file: '_' stands for a space
  std::vector<std::uint32_t> hypernyms;           ///< targets of '@' pointers (same part of speech)
  std::vector<std::uint32_t> instance_hypernyms;  ///< targets of '@i' pointers ("Paris" → city)
  std::string definition;
  std::vector<std::string> examples;

  [[nodiscard]] std::string_view lexname() const { return wordnet_lexname(lex_filenum); }
  /// "n02084071": part of speech and 8-digit offset, unique across the database.
  [[nodiscard]] std::string id() const {
    std::ostringstream os;
    os << (ss_type == 's' ? 'a' : ss_type) << std::setw(8) << std::setfill('0') << offset;
    return os.str();
  }
  /// The first word with spaces for underscores ("domestic dog").
  [[nodiscard]] std::string head_word() const {
    std::string w = words.empty() ? std::string() : words.front();
    std::replace(w.begin(), w.end(), '_', ' ');
    return w;
  }
};

namespace detail {

/// Whitespace tokenizer over one line that reports the field it expected when a token is missing
/// or malformed.
class WordNetLineCursor {
 public:
  WordNetLineCursor(std::string_view line, std::string_view source, std::size_t line_number)
      : line_(line), source_(source), line_number_(line_number) {}

  std::string_view token(std::string_view field) {
    while (pos_ < line_.size() && line_[pos_] == ' ') ++pos_;
    const std::size_t begin = pos_;
    while (pos_ < line_.size() && line_[pos_] != ' ') ++pos_;
    if (begin == pos_) fail(concat("line ends before ", field));
    return line_.substr(begin, pos_ - begin);
  }

  template <class T>
  T number(std::string_view field, int base, std::size_t digits = 0) {
    const std::string_view t = token(field);
    const std::optional<T> v = parse_unsigned<T>(t, base);
    if (!v || (digits != 0 && t.size() != digits)) {
      fail(concat(field, " '", excerpt(t, 20), "' is not a ",
                  base == 16 ? "hexadecimal" : "decimal", " number",
                  digits != 0 ? concat(" of ", digits, " digits") : ""));
    }
    return *v;
  }

  /// The text after the remaining "| " separator (trailing spaces trimmed).
  std::string_view rest_after_bar() {
    const std::string_view bar = token("the '|' before the gloss");
    if (bar != "|") fail(concat("expected '|' before the gloss, found '", excerpt(bar, 20), "'"));
    return trim(line_.substr(pos_));
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw error(concat(location(source_, line_number_), ": malformed WordNet synset line: ", what));
  }

 private:
  std::string_view line_;
  std::string_view source_;
  std::size_t line_number_;
  std::size_t pos_ = 0;
};

}  // namespace detail

/// Parses one synset line (wndb(5WN) "Data File Format"); `source` and `line_number` locate it in
/// error messages ("data.noun:42: malformed WordNet synset line: ...").
[[nodiscard]] inline Synset parse_wordnet_data_line(std::string_view line, std::string_view source,
                                                    std::size_t line_number) {
  detail::WordNetLineCursor cur(line, source, line_number);
  Synset s;
  s.offset = cur.number<std::uint32_t>("synset_offset", 10, 8);
  const auto lex = cur.number<unsigned>("lex_filenum", 10, 2);
  if (lex >= wordnet_lexicographer_files.size()) {
    cur.fail(detail::concat("lex_filenum ", lex, " is not in [0, 44]"));
  }
  s.lex_filenum = static_cast<std::uint8_t>(lex);
  const std::string_view type = cur.token("ss_type");
  if (type.size() != 1 || std::string_view("nvasr").find(type[0]) == std::string_view::npos) {
    cur.fail(detail::concat("ss_type '", detail::excerpt(type, 20), "' is not one of n v a s r"));
  }
  s.ss_type = type[0];
  const auto w_cnt = cur.number<unsigned>("w_cnt", 16, 2);
  if (w_cnt == 0) cur.fail("w_cnt is 0, a synset has at least one word");
  s.words.reserve(w_cnt);
  for (unsigned w = 0; w < w_cnt; ++w) {
    s.words.emplace_back(cur.token("a word"));
    (void)cur.number<unsigned>("lex_id", 16, 1);
  }
  const auto p_cnt = cur.number<unsigned>("p_cnt", 10, 3);
  for (unsigned p = 0; p < p_cnt; ++p) {
    const std::string_view symbol = cur.token("a pointer_symbol");
    const auto target = cur.number<std::uint32_t>("a pointer's synset_offset", 10, 8);
    const std::string_view pos = cur.token("a pointer's pos");
    if (pos.size() != 1 || std::string_view("nvasr").find(pos[0]) == std::string_view::npos) {
      cur.fail(
          detail::concat("pointer pos '", detail::excerpt(pos, 20), "' is not one of n v a s r"));
    }
    (void)cur.number<unsigned>("a pointer's source/target", 16, 4);
    if (symbol == "@") s.hypernyms.push_back(target);
    if (symbol == "@i") s.instance_hypernyms.push_back(target);
  }
  if (s.ss_type == 'v') {  // verb frames: f_cnt, then f_cnt × "+ f_num w_num"
    const auto f_cnt = cur.number<unsigned>("f_cnt", 10, 2);
    for (unsigned f = 0; f < f_cnt; ++f) {
      if (cur.token("a frame's '+'") != "+") cur.fail("a verb frame does not start with '+'");
      (void)cur.number<unsigned>("f_num", 10, 2);
      (void)cur.number<unsigned>("w_num", 16, 2);
    }
  }
  WordNetGloss gloss = split_wordnet_gloss(cur.rest_after_bar());
  s.definition = std::move(gloss.definition);
  s.examples = std::move(gloss.examples);
  return s;
}

/// Reads every synset of a data.<pos> stream. Lines starting with two spaces (the license header)
/// are skipped; any other malformed line throws "<source>:<line>: ...".
[[nodiscard]] inline std::vector<Synset> read_wordnet_data(std::istream& in,
                                                           std::string_view source) {
  std::vector<Synset> synsets;
  std::string line;
  std::size_t line_number = 0;
  while (detail::read_line(in, line)) {
    ++line_number;
    if (line.rfind("  ", 0) == 0) continue;
    if (line.empty()) continue;
    synsets.push_back(parse_wordnet_data_line(line, source, line_number));
  }
  return synsets;
}

// ---- the database -------------------------------------------------------------------------------

/// Where Debian's wordnet-base installs the database.
[[nodiscard]] inline std::filesystem::path wordnet_default_directory() {
  return "/usr/share/wordnet";
}

struct WordNetOptions {
  /// Directory holding data.noun and data.verb (Debian: package wordnet-base).
  std::filesystem::path dir = wordnet_default_directory();
  bool load_verbs = true;
};

/// Noun and verb synsets of WordNet 3.0 with lookup by offset and hypernym walks.
class WordNet {
 public:
  using Options = WordNetOptions;

  [[nodiscard]] static std::filesystem::path default_directory() {
    return wordnet_default_directory();
  }

  /// True when `dir` holds data.noun.
  [[nodiscard]] static bool available(const std::filesystem::path& dir = default_directory()) {
    std::error_code ec;
    return std::filesystem::is_regular_file(dir / "data.noun", ec);
  }

  /// Reads data.noun (and data.verb) from options.dir. A missing file throws an error that says to
  /// install wordnet-base.
  [[nodiscard]] static WordNet load(const Options& options = {}) {
    auto read = [&](std::string_view name) {
      const std::filesystem::path file = options.dir / name;
      std::error_code ec;
      MOERB_REQUIRE(std::filesystem::is_regular_file(file, ec), "WordNet::load: no ", file.string(),
              "; install the WordNet 3.0 database (Debian/Ubuntu: apt-get install wordnet-base) "
              "or set WordNet::Options::dir to the directory holding data.noun and data.verb");
      std::ifstream in = detail::open_input(file, "WordNet::load");
      return read_wordnet_data(in, file.string());
    };
    std::vector<Synset> nouns = read("data.noun");
    std::vector<Synset> verbs;
    if (options.load_verbs) verbs = read("data.verb");
    return WordNet(std::move(nouns), std::move(verbs));
  }

  WordNet() = default;
  /// Builds the database from parsed synsets (e.g. a synthetic snippet in tests). Duplicate
  /// offsets throw.
  explicit WordNet(std::vector<Synset> nouns, std::vector<Synset> verbs = {})
      : nouns_(std::move(nouns)), verbs_(std::move(verbs)) {
    index(nouns_, noun_index_, "noun");
    index(verbs_, verb_index_, "verb");
  }

  [[nodiscard]] const std::vector<Synset>& nouns() const { return nouns_; }
  [[nodiscard]] const std::vector<Synset>& verbs() const { return verbs_; }

  [[nodiscard]] const Synset* find_noun(std::uint32_t offset) const {
    const auto it = noun_index_.find(offset);
    return it == noun_index_.end() ? nullptr : &nouns_[it->second];
  }
  [[nodiscard]] const Synset* find_verb(std::uint32_t offset) const {
    const auto it = verb_index_.find(offset);
    return it == verb_index_.end() ? nullptr : &verbs_[it->second];
  }

  /// The hypernym a tree walk follows: the first '@' target, else the first '@i' target, else
  /// nullptr (a root such as entity). Throws when the target is not in the database.
  [[nodiscard]] const Synset* primary_hypernym(const Synset& s) const {
    const std::vector<std::uint32_t>& targets =
        !s.hypernyms.empty() ? s.hypernyms : s.instance_hypernyms;
    if (targets.empty()) return nullptr;
    const Synset* parent =
        s.ss_type == 'v' ? find_verb(targets.front()) : find_noun(targets.front());
    if (parent == nullptr) {  // not MOERB_REQUIRE(): s.id() would be formatted on every call
      throw error(detail::concat("WordNet: synset ", s.id(), " has hypernym offset ",
                                 targets.front(), " that is not in the database"));
    }
    return parent;
  }

  /// [s, parent, grandparent, ..., root] along primary hypernyms. Throws on a cycle.
  [[nodiscard]] std::vector<const Synset*> hypernym_chain(const Synset& s) const {
    std::vector<const Synset*> chain{&s};
    for (const Synset* p = primary_hypernym(s); p != nullptr; p = primary_hypernym(*p)) {
      if (chain.size() >= max_chain_length) {
        throw error(detail::concat("WordNet: hypernym chain of ", s.id(), " is longer than ",
                                   max_chain_length, " (cycle?)"));
      }
      chain.push_back(p);
    }
    return chain;
  }

 private:
  static constexpr std::size_t max_chain_length = 64;  // WordNet 3.0's deepest noun chain has 20

  static void index(const std::vector<Synset>& synsets,
                    std::unordered_map<std::uint32_t, std::size_t>& map, std::string_view what) {
    map.reserve(synsets.size());
    for (std::size_t i = 0; i < synsets.size(); ++i) {
      const bool inserted = map.emplace(synsets[i].offset, i).second;
      MOERB_REQUIRE(inserted, "WordNet: two ", what, " synsets have offset ", synsets[i].offset);
    }
  }

  std::vector<Synset> nouns_;
  std::vector<Synset> verbs_;
  std::unordered_map<std::uint32_t, std::size_t> noun_index_;
  std::unordered_map<std::uint32_t, std::size_t> verb_index_;
};

// ---- tasks --------------------------------------------------------------------------------------

/// The eight noun categories of the topic, subpopulation and OOD tasks: the well-populated files
/// (each has ≥ 2,568 usable synsets) with clearly different subject matter.
[[nodiscard]] inline std::vector<std::string> wordnet_default_topic_categories() {
  return {"noun.act",  "noun.animal",   "noun.artifact", "noun.communication",
          "noun.food", "noun.location", "noun.person",   "noun.plant"};
}

/// The seven categories of the style-shift task: those with ≥ 600 synsets that have an example
/// sentence (noun.animal has 39, noun.plant 22, so they cannot be test classes).
[[nodiscard]] inline std::vector<std::string> wordnet_default_style_categories() {
  return {"noun.act",           "noun.artifact", "noun.attribute", "noun.cognition",
          "noun.communication", "noun.person",   "noun.state"};
}

/// Held-out categories that supply the OOD inputs of wordnet_ood_task.
[[nodiscard]] inline std::vector<std::string> wordnet_default_ood_categories() {
  return {"noun.attribute", "noun.body",      "noun.cognition",
          "noun.state",     "noun.substance", "noun.time"};
}

/// A group of synsets of one class in wordnet_subpopulation_task.
struct WordNetSubpopulation {
  std::string root_id;    ///< the grouping synset (an ancestor of every member), e.g. "n01503061"
  std::string root_word;  ///< its first word, e.g. "bird"
  std::int32_t label = -1;
  bool target = false;  ///< true: a test (target) subpopulation; false: train/dev (source)
  std::vector<std::string> member_ids;  ///< every usable synset of the group, sampled or not
};

/// The splits of a built-in task and a readable account of them.
struct WordNetTask {
  TextDataset train;
  TextDataset dev;
  TextDataset test;
  TextDataset ood;  ///< wordnet_ood_task only: inputs from held-out categories, label -1
  std::vector<WordNetSubpopulation> subpopulations;  ///< wordnet_subpopulation_task only
  std::string summary;  ///< sizes and label balance of each split, the options used
};

/// (a) Definition → lexicographer category.
struct WordNetTopicOptions {
  std::filesystem::path wordnet_dir = WordNet::default_directory();
  std::vector<std::string> categories = wordnet_default_topic_categories();
  /// Synsets per class before splitting; every class gets min(max_per_class, the smallest
  /// category's usable synsets), so the classes are exactly balanced.
  std::size_t max_per_class = 2000;
  double dev_fraction = 0.1;
  double test_fraction = 0.1;
  std::uint64_t seed = 0;
};

/// (b) BREEDS-style subpopulation shift (Santurkar, Tsipras & Madry 2021, "BREEDS: Benchmarks for
/// Subpopulation Shift"): the classes of (a), each split into subpopulations by a hypernym
/// ancestor; train/dev and test draw from disjoint subpopulations of every class.
enum class WordNetGrouping {
  /// The ancestor `depth` levels below the class's top: walk primary hypernyms from the synset
  /// while they stay in the class's lexicographer file; the last one reached is the top (depth 0),
  /// e.g. chordate or invertebrate for noun.animal. Synsets shallower than `depth` are not used.
  ancestor_at_depth,
  /// The synset's primary hypernym (finer, many small groups).
  direct_hypernym,
};

struct WordNetSubpopulationOptions {
  std::filesystem::path wordnet_dir = WordNet::default_directory();
  std::vector<std::string> categories = wordnet_default_topic_categories();
  WordNetGrouping grouping = WordNetGrouping::ancestor_at_depth;
  std::size_t depth = 1;
  /// ancestor_at_depth only: a group holding more than this share of its class's grouped synsets
  /// is replaced by the groups one level further down (repeatedly), so that no single
  /// subpopulation dominates a class (at depth 1, noun.animal's "vertebrate" holds 72% of it).
  /// 0 disables the refinement.
  double max_subpopulation_share = 0.25;
  /// Smaller groups are dropped (too few synsets to be a subpopulation).
  std::size_t min_subpopulation_size = 3;
  /// Share of each class's grouped synsets whose subpopulations go to the test (target) side.
  /// Approximate: whole subpopulations are assigned, greedily in a seeded random order (the best
  /// of 64 orders is kept).
  double target_share = 0.3;
  /// Train+dev synsets per class (from source subpopulations); capped by the smallest class.
  std::size_t max_train_per_class = 1500;
  /// Test synsets per class (from target subpopulations); capped by the smallest class.
  std::size_t max_test_per_class = 500;
  double dev_fraction = 0.1;  ///< of the source-side sample
  std::uint64_t seed = 0;
};

/// (c) Style shift: train and dev on definitions, test on example sentences. A synset is used on
/// one side only: test synsets (those sampled from the synsets with examples) are excluded from
/// train and dev.
struct WordNetStyleShiftOptions {
  std::filesystem::path wordnet_dir = WordNet::default_directory();
  std::vector<std::string> categories = wordnet_default_style_categories();
  std::size_t max_train_per_class = 2000;  ///< train+dev definitions per class
  std::size_t max_test_per_class = 500;    ///< test synsets per class
  double dev_fraction = 0.1;               ///< of the train-side sample
  /// false: one test item per synset (its first example); true: every example sentence.
  bool all_examples = false;
  std::uint64_t seed = 0;
};

/// (d) Out-of-distribution detection: the in-distribution task of (a) plus definitions from
/// held-out categories.
struct WordNetOodOptions {
  std::filesystem::path wordnet_dir = WordNet::default_directory();
  std::vector<std::string> categories = wordnet_default_topic_categories();
  std::vector<std::string> ood_categories = wordnet_default_ood_categories();
  std::size_t max_per_class = 2000;
  double dev_fraction = 0.1;
  double test_fraction = 0.1;
  /// OOD definitions per held-out category (capped by the smallest one, so they are balanced).
  std::size_t ood_per_category = 300;
  std::uint64_t seed = 0;
};

namespace detail {

// Rng stream tags of the tasks (Rng(seed).split(tag)); distinct so the draws are independent.
inline constexpr std::uint64_t wordnet_tag_select = 0x1000;  // + class index
inline constexpr std::uint64_t wordnet_tag_split = 0x2000;   // + class index
inline constexpr std::uint64_t wordnet_tag_groups = 0x3000;  // + class index
inline constexpr std::uint64_t wordnet_tag_order = 0x4000;   // + split index
inline constexpr std::uint64_t wordnet_tag_ood = 0x5000;     // + OOD category index
/// Random orders tried when assigning subpopulations to the source and target sides.
inline constexpr std::size_t wordnet_assignment_attempts = 64;

/// Lexicographer file numbers of `categories`, validated: known noun files, no repeats, at least
/// `min_count`.
inline std::vector<int> wordnet_noun_categories(const std::vector<std::string>& categories,
                                                std::size_t min_count, std::string_view where) {
  MOERB_REQUIRE(categories.size() >= min_count, where, ": ", categories.size(),
          " categories, expected at least ", min_count);
  std::vector<int> numbers;
  for (const std::string& name : categories) {
    const std::optional<int> n = wordnet_lexfile_number(name);
    if (!n || name.rfind("noun.", 0) != 0 || name == "noun.Tops") {
      std::vector<std::string_view> nouns;
      for (const std::string_view f : wordnet_lexicographer_files) {
        if (f.rfind("noun.", 0) == 0 && f != "noun.Tops") nouns.push_back(f);
      }
      throw error(concat(where, ": '", name, "' is not a noun lexicographer file (one of ",
                         join(nouns, ", "), ")"));
    }
    MOERB_REQUIRE(std::find(numbers.begin(), numbers.end(), *n) == numbers.end(), where, ": category '",
            name, "' is listed twice");
    numbers.push_back(*n);
  }
  return numbers;
}

inline void check_fraction(double value, std::string_view where, std::string_view what) {
  MOERB_REQUIRE(value >= 0.0 && value < 1.0, where, ": ", what, " = ", value, ", expected in [0, 1)");
}

/// Usable noun synsets per lexicographer file: non-empty definition that no other noun synset
/// shares. Indexed by lex_filenum; each list in file order.
inline std::vector<std::vector<const Synset*>> wordnet_usable_nouns(const WordNet& wn) {
  std::unordered_map<std::string_view, std::size_t> definition_count;
  definition_count.reserve(wn.nouns().size());
  for (const Synset& s : wn.nouns()) ++definition_count[s.definition];
  std::vector<std::vector<const Synset*>> by_file(wordnet_lexicographer_files.size());
  for (const Synset& s : wn.nouns()) {
    if (s.definition.empty() || definition_count[s.definition] != 1) continue;
    by_file[s.lex_filenum].push_back(&s);
  }
  return by_file;
}

inline std::size_t rounded_share(double fraction, std::size_t n) {
  return static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
}

inline TextExample wordnet_example(const Synset& s, std::string text, std::int32_t label,
                                   std::string label_name) {
  TextExample ex;
  ex.text_a = std::move(text);
  ex.label = label;
  ex.label_name = std::move(label_name);
  ex.id = s.id();
  return ex;
}

inline TextDataset wordnet_dataset(std::string name, const std::vector<std::string>& labels) {
  TextDataset d;
  d.name = std::move(name);
  d.label_names = labels;
  return d;
}

/// Shuffles each split so that classes are interleaved (their examples are appended class by
/// class).
inline void wordnet_shuffle_splits(WordNetTask& task, std::uint64_t seed) {
  const Rng root(seed);
  TextDataset* splits[] = {&task.train, &task.dev, &task.test, &task.ood};
  for (std::size_t i = 0; i < 4; ++i) {
    Rng rng = root.split(wordnet_tag_order + i);
    shuffle_examples(*splits[i], rng);
  }
}

inline std::string wordnet_summary_header(std::string_view task, std::uint64_t seed,
                                          const std::vector<std::string>& categories) {
  return concat(task, " (WordNet 3.0, seed ", seed, "); classes: ", join(categories, ", "), "\n");
}

inline void wordnet_summary_splits(std::ostringstream& os, const WordNetTask& task) {
  for (const TextDataset* d : {&task.train, &task.dev, &task.test}) {
    os << "  " << d->balance_summary() << "\n";
  }
  if (!task.ood.empty()) {
    std::map<std::string, std::size_t> origin;
    for (const TextExample& e : task.ood.examples) ++origin[e.label_name];
    os << "  " << task.ood.name << ": " << task.ood.size() << " examples (label -1); from ";
    bool first = true;
    for (const auto& [name, count] : origin) {
      os << (first ? "" : ", ") << name << " " << count;
      first = false;
    }
    os << "\n";
  }
}

/// Takes up to `n` items cycling over `groups` (each shuffled, in a shuffled group order), so that
/// large groups do not crowd out small ones.
inline std::vector<const Synset*> round_robin_sample(std::vector<std::vector<const Synset*>> groups,
                                                     std::size_t n, Rng& rng) {
  for (auto& g : groups) fisher_yates(g, rng);
  fisher_yates(groups, rng);
  std::vector<const Synset*> out;
  out.reserve(n);
  for (std::size_t round = 0; out.size() < n; ++round) {
    bool any = false;
    for (const auto& g : groups) {
      if (round < g.size()) {
        any = true;
        out.push_back(g[round]);
        if (out.size() == n) break;
      }
    }
    if (!any) break;
  }
  return out;
}

/// Shared by the topic and OOD tasks: n balanced synsets per class split into train/dev/test.
inline WordNetTask wordnet_topic_splits(const std::vector<std::vector<const Synset*>>& usable,
                                        const std::vector<int>& classes,
                                        const std::vector<std::string>& names,
                                        std::size_t max_per_class, double dev_fraction,
                                        double test_fraction, std::uint64_t seed,
                                        std::string_view task_name) {
  std::size_t n = max_per_class;
  for (const int c : classes) n = std::min(n, usable[static_cast<std::size_t>(c)].size());
  MOERB_REQUIRE(n > 0, task_name, ": a category has no usable synsets");
  const std::size_t n_test = rounded_share(test_fraction, n);
  const std::size_t n_dev = rounded_share(dev_fraction, n);
  MOERB_REQUIRE(n_test + n_dev < n, task_name, ": dev_fraction + test_fraction leave no training data (",
          n, " synsets per class)");
  WordNetTask task;
  task.train = wordnet_dataset(concat(task_name, "/train"), names);
  task.dev = wordnet_dataset(concat(task_name, "/dev"), names);
  task.test = wordnet_dataset(concat(task_name, "/test"), names);
  const Rng root(seed);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    std::vector<const Synset*> pool = usable[static_cast<std::size_t>(classes[k])];
    Rng rng = root.split(wordnet_tag_select + k);
    fisher_yates(pool, rng);
    for (std::size_t i = 0; i < n; ++i) {
      TextDataset& split = i < n_test ? task.test : i < n_test + n_dev ? task.dev : task.train;
      split.examples.push_back(
          wordnet_example(*pool[i], pool[i]->definition, static_cast<std::int32_t>(k), names[k]));
    }
  }
  return task;
}

/// The subpopulations of one class (see WordNetGrouping): (root, members) in order of first
/// appearance in the data file, before the min_subpopulation_size filter.
inline std::vector<std::pair<const Synset*, std::vector<const Synset*>>>
wordnet_subpopulation_groups(const WordNet& wn, const std::vector<const Synset*>& pool, int file,
                             const WordNetSubpopulationOptions& options) {
  using Groups = std::vector<std::pair<const Synset*, std::vector<const Synset*>>>;
  // Appends `s` to the group of `key`, creating it on first sight.
  auto add = [](Groups& groups, std::unordered_map<const Synset*, std::size_t>& index,
                const Synset* key, const Synset* s) {
    const auto [it, inserted] = index.emplace(key, groups.size());
    if (inserted) groups.emplace_back(key, std::vector<const Synset*>{});
    groups[it->second].second.push_back(s);
  };
  Groups groups;
  std::unordered_map<const Synset*, std::size_t> index;
  if (options.grouping == WordNetGrouping::direct_hypernym) {
    for (const Synset* s : pool) {
      if (const Synset* parent = wn.primary_hypernym(*s)) add(groups, index, parent, s);
    }
    return groups;
  }
  // In-file part of each synset's hypernym chain, top first: path[0] is the class top, path.back()
  // the synset itself.
  std::unordered_map<const Synset*, std::vector<const Synset*>> path;
  std::vector<std::size_t> level;  // depth of each group's root below the top
  for (const Synset* s : pool) {
    std::vector<const Synset*> chain = wn.hypernym_chain(*s);
    std::size_t in_file = 0;
    while (in_file < chain.size() && chain[in_file]->lex_filenum == file) ++in_file;
    if (in_file <= options.depth) continue;  // shallower than the grouping level
    std::vector<const Synset*>& p = path[s];
    p.assign(chain.rbegin() + static_cast<std::ptrdiff_t>(chain.size() - in_file), chain.rend());
    const std::size_t before = groups.size();
    add(groups, index, p[options.depth], s);
    if (groups.size() > before) level.push_back(options.depth);
  }
  if (options.max_subpopulation_share <= 0.0) return groups;
  // Refinement: a group holding more than max_subpopulation_share of the class is replaced by
  // the groups one level below its root (its root synset itself is dropped), until none is.
  std::size_t total = 0;
  for (const auto& g : groups) total += g.second.size();
  const double limit = options.max_subpopulation_share * static_cast<double>(total);
  bool changed = true;
  while (changed) {
    changed = false;
    Groups next;
    std::vector<std::size_t> next_level;
    std::unordered_map<const Synset*, std::size_t> next_index;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      auto& [root, members] = groups[g];
      const std::size_t deeper = level[g] + 1;
      const bool splittable = std::any_of(members.begin(), members.end(), [&](const Synset* m) {
        return path.at(m).size() > deeper;
      });
      if (static_cast<double>(members.size()) <= limit || !splittable) {
        next_index.emplace(root, next.size());
        next.emplace_back(root, std::move(members));
        next_level.push_back(level[g]);
        continue;
      }
      changed = true;
      for (const Synset* m : members) {
        const std::vector<const Synset*>& p = path.at(m);
        if (p.size() <= deeper) continue;
        const std::size_t before = next.size();
        add(next, next_index, p[deeper], m);
        if (next.size() > before) next_level.push_back(deeper);
      }
    }
    groups = std::move(next);
    level = std::move(next_level);
  }
  return groups;
}

}  // namespace detail

/// (a) Topic classification: a noun synset's definition → its lexicographer file.
[[nodiscard]] inline WordNetTask wordnet_topic_task(const WordNet& wn,
                                                    const WordNetTopicOptions& options = {}) {
  constexpr std::string_view where = "wordnet_topic_task";
  const std::vector<int> classes = detail::wordnet_noun_categories(options.categories, 2, where);
  detail::check_fraction(options.dev_fraction, where, "dev_fraction");
  detail::check_fraction(options.test_fraction, where, "test_fraction");
  require_positive(options.max_per_class, where, "max_per_class");
  const auto usable = detail::wordnet_usable_nouns(wn);
  WordNetTask task = detail::wordnet_topic_splits(
      usable, classes, options.categories, options.max_per_class, options.dev_fraction,
      options.test_fraction, options.seed, "wordnet_topic");
  detail::wordnet_shuffle_splits(task, options.seed);
  std::ostringstream os;
  os << detail::wordnet_summary_header("wordnet_topic_task: definition -> category", options.seed,
                                       options.categories);
  detail::wordnet_summary_splits(os, task);
  task.summary = os.str();
  return task;
}

[[nodiscard]] inline WordNetTask wordnet_topic_task(const WordNetTopicOptions& options = {}) {
  return wordnet_topic_task(WordNet::load({options.wordnet_dir, false}), options);
}

/// (b) Subpopulation shift (BREEDS-style); see WordNetSubpopulationOptions and WordNetGrouping.
/// Every class needs ≥ 2 subpopulations. The result lists the subpopulations with their side.
[[nodiscard]] inline WordNetTask wordnet_subpopulation_task(
    const WordNet& wn, const WordNetSubpopulationOptions& options = {}) {
  constexpr std::string_view where = "wordnet_subpopulation_task";
  const std::vector<int> classes = detail::wordnet_noun_categories(options.categories, 2, where);
  MOERB_REQUIRE(options.target_share > 0.0 && options.target_share < 1.0, where,
          ": target_share = ", options.target_share, ", expected in (0, 1)");
  detail::check_fraction(options.dev_fraction, where, "dev_fraction");
  require_positive(options.max_train_per_class, where, "max_train_per_class");
  require_positive(options.max_test_per_class, where, "max_test_per_class");
  require_positive(options.min_subpopulation_size, where, "min_subpopulation_size");
  require_in_range(options.max_subpopulation_share, 0.0, 1.0, where, "max_subpopulation_share");
  const auto usable = detail::wordnet_usable_nouns(wn);
  const Rng root(options.seed);

  struct Side {
    std::vector<std::vector<const Synset*>> groups;
    std::size_t synsets = 0;
  };
  std::vector<Side> source(classes.size()), target(classes.size());
  std::vector<WordNetSubpopulation> subpopulations;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const int file = classes[k];
    auto groups = detail::wordnet_subpopulation_groups(wn, usable[static_cast<std::size_t>(file)],
                                                       file, options);
    std::erase_if(groups,
                  [&](const auto& g) { return g.second.size() < options.min_subpopulation_size; });
    MOERB_REQUIRE(groups.size() >= 2, where, ": category ", options.categories[k], " has ", groups.size(),
            " subpopulation(s) of at least ", options.min_subpopulation_size,
            " synsets; need 2 (lower depth or min_subpopulation_size)");
    // Whole subpopulations go to one side. Greedy assignment in a random order (the side further
    // below its share takes the next group) can overshoot when a large group comes late, so the
    // best of several seeded orders (closest to target_share) is kept.
    Rng rng = root.split(detail::wordnet_tag_groups + k);
    std::size_t total = 0;
    for (const auto& g : groups) total += g.second.size();
    std::vector<std::size_t> best_order;
    std::vector<char> best_to_target;
    double best_deviation = 0.0;
    for (std::size_t attempt = 0; attempt < detail::wordnet_assignment_attempts; ++attempt) {
      std::vector<std::size_t> order(groups.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      detail::fisher_yates(order, rng);
      std::vector<char> to_target(groups.size(), 0);
      std::size_t n_src = 0, n_tgt = 0;
      for (const std::size_t g : order) {
        const double source_fill = static_cast<double>(n_src) / (1.0 - options.target_share);
        const double target_fill = static_cast<double>(n_tgt) / options.target_share;
        to_target[g] = target_fill < source_fill ? 1 : 0;
        (to_target[g] ? n_tgt : n_src) += groups[g].second.size();
      }
      const double deviation =
          std::abs(static_cast<double>(n_tgt) - options.target_share * static_cast<double>(total));
      if (attempt == 0 || deviation < best_deviation) {
        best_deviation = deviation;
        best_order = std::move(order);
        best_to_target = std::move(to_target);
      }
    }
    for (const std::size_t g : best_order) {
      auto& [key, members] = groups[g];
      const bool to_target = best_to_target[g] != 0;
      Side& side = to_target ? target[k] : source[k];
      side.synsets += members.size();
      WordNetSubpopulation sub;
      sub.root_id = key->id();
      sub.root_word = key->head_word();
      sub.label = static_cast<std::int32_t>(k);
      sub.target = to_target;
      for (const Synset* m : members) sub.member_ids.push_back(m->id());
      subpopulations.push_back(std::move(sub));
      side.groups.push_back(std::move(members));
    }
  }
  std::size_t n_source = options.max_train_per_class, n_target = options.max_test_per_class;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    n_source = std::min(n_source, source[k].synsets);
    n_target = std::min(n_target, target[k].synsets);
  }
  const std::size_t n_dev = detail::rounded_share(options.dev_fraction, n_source);
  MOERB_REQUIRE(n_dev < n_source, where, ": dev_fraction leaves no training data");

  WordNetTask task;
  task.train = detail::wordnet_dataset("wordnet_subpopulation/train", options.categories);
  task.dev = detail::wordnet_dataset("wordnet_subpopulation/dev", options.categories);
  task.test = detail::wordnet_dataset("wordnet_subpopulation/test", options.categories);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const auto label = static_cast<std::int32_t>(k);
    Rng rng = root.split(detail::wordnet_tag_select + k);
    const std::vector<const Synset*> src =
        detail::round_robin_sample(source[k].groups, n_source, rng);
    const std::vector<const Synset*> tgt =
        detail::round_robin_sample(target[k].groups, n_target, rng);
    std::vector<const Synset*> order = src;  // dev: a random share of the source sample
    Rng split_rng = root.split(detail::wordnet_tag_split + k);
    detail::fisher_yates(order, split_rng);
    for (std::size_t i = 0; i < order.size(); ++i) {
      (i < n_dev ? task.dev : task.train)
          .examples.push_back(detail::wordnet_example(*order[i], order[i]->definition, label,
                                                      options.categories[k]));
    }
    for (const Synset* s : tgt) {
      task.test.examples.push_back(
          detail::wordnet_example(*s, s->definition, label, options.categories[k]));
    }
  }
  task.subpopulations = std::move(subpopulations);
  detail::wordnet_shuffle_splits(task, options.seed);

  std::ostringstream os;
  os << detail::wordnet_summary_header(
      "wordnet_subpopulation_task: definition -> category, "
      "train and test on disjoint subpopulations",
      options.seed, options.categories);
  os << "  grouping: "
     << (options.grouping == WordNetGrouping::direct_hypernym
             ? std::string("direct hypernym")
             : detail::concat("ancestor at depth ", options.depth, " below the class top"))
     << (options.grouping == WordNetGrouping::ancestor_at_depth &&
                 options.max_subpopulation_share > 0.0
             ? detail::concat(", refined until none holds > ", options.max_subpopulation_share,
                              " of its class")
             : std::string())
     << ", subpopulations of >= " << options.min_subpopulation_size << " synsets\n";
  for (std::size_t k = 0; k < classes.size(); ++k) {
    // The three largest subpopulations of each side, by name, to show what the shift is.
    auto largest = [&](bool on_target) {
      std::vector<const WordNetSubpopulation*> subs;
      for (const WordNetSubpopulation& sub : task.subpopulations) {
        if (sub.label == static_cast<std::int32_t>(k) && sub.target == on_target) {
          subs.push_back(&sub);
        }
      }
      std::stable_sort(subs.begin(), subs.end(), [](const auto* a, const auto* b) {
        return a->member_ids.size() > b->member_ids.size();
      });
      std::string names;
      for (std::size_t i = 0; i < subs.size() && i < 3; ++i) {
        names +=
            detail::concat(i == 0 ? "" : ", ", subs[i]->root_word, " ", subs[i]->member_ids.size());
      }
      return names;
    };
    os << "  " << options.categories[k] << ": source " << source[k].groups.size()
       << " subpopulations, " << source[k].synsets << " synsets (" << largest(false)
       << ", ...); target " << target[k].groups.size() << " subpopulations, " << target[k].synsets
       << " synsets (" << largest(true) << ", ...)\n";
  }
  detail::wordnet_summary_splits(os, task);
  task.summary = os.str();
  return task;
}

[[nodiscard]] inline WordNetTask wordnet_subpopulation_task(
    const WordNetSubpopulationOptions& options = {}) {
  return wordnet_subpopulation_task(WordNet::load({options.wordnet_dir, false}), options);
}

/// (c) Style shift: definitions for train/dev, example sentences for test, same classes.
[[nodiscard]] inline WordNetTask wordnet_style_shift_task(
    const WordNet& wn, const WordNetStyleShiftOptions& options = {}) {
  constexpr std::string_view where = "wordnet_style_shift_task";
  const std::vector<int> classes = detail::wordnet_noun_categories(options.categories, 2, where);
  detail::check_fraction(options.dev_fraction, where, "dev_fraction");
  require_positive(options.max_train_per_class, where, "max_train_per_class");
  require_positive(options.max_test_per_class, where, "max_test_per_class");
  const auto usable = detail::wordnet_usable_nouns(wn);
  const Rng root(options.seed);

  std::size_t n_test = options.max_test_per_class;
  for (const int c : classes) {
    const auto& pool = usable[static_cast<std::size_t>(c)];
    n_test = std::min(n_test, static_cast<std::size_t>(std::count_if(
                                  pool.begin(), pool.end(),
                                  [](const Synset* s) { return !s->examples.empty(); })));
  }
  MOERB_REQUIRE(n_test > 0, where, ": a category has no synset with an example sentence");
  // Test synsets first; the train pool is the rest of the class.
  std::vector<std::vector<const Synset*>> test_synsets(classes.size()), train_pool(classes.size());
  std::size_t n_train = options.max_train_per_class;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    std::vector<const Synset*> with_examples, without;
    for (const Synset* s : usable[static_cast<std::size_t>(classes[k])]) {
      (s->examples.empty() ? without : with_examples).push_back(s);
    }
    Rng rng = root.split(detail::wordnet_tag_select + k);
    detail::fisher_yates(with_examples, rng);
    test_synsets[k].assign(with_examples.begin(),
                           with_examples.begin() + static_cast<std::ptrdiff_t>(n_test));
    train_pool[k] = std::move(without);
    train_pool[k].insert(train_pool[k].end(),
                         with_examples.begin() + static_cast<std::ptrdiff_t>(n_test),
                         with_examples.end());
    n_train = std::min(n_train, train_pool[k].size());
  }
  const std::size_t n_dev = detail::rounded_share(options.dev_fraction, n_train);
  MOERB_REQUIRE(n_dev < n_train, where, ": dev_fraction leaves no training data");

  WordNetTask task;
  task.train = detail::wordnet_dataset("wordnet_style_shift/train", options.categories);
  task.dev = detail::wordnet_dataset("wordnet_style_shift/dev", options.categories);
  task.test = detail::wordnet_dataset("wordnet_style_shift/test", options.categories);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const auto label = static_cast<std::int32_t>(k);
    Rng rng = root.split(detail::wordnet_tag_split + k);
    detail::fisher_yates(train_pool[k], rng);
    for (std::size_t i = 0; i < n_train; ++i) {
      const Synset& s = *train_pool[k][i];
      (i < n_dev ? task.dev : task.train)
          .examples.push_back(
              detail::wordnet_example(s, s.definition, label, options.categories[k]));
    }
    for (const Synset* s : test_synsets[k]) {
      const std::size_t count = options.all_examples ? s->examples.size() : 1;
      for (std::size_t e = 0; e < count; ++e) {
        task.test.examples.push_back(
            detail::wordnet_example(*s, s->examples[e], label, options.categories[k]));
      }
    }
  }
  detail::wordnet_shuffle_splits(task, options.seed);
  std::ostringstream os;
  os << detail::wordnet_summary_header(
      "wordnet_style_shift_task: train/dev on definitions, test on example sentences of other "
      "synsets",
      options.seed, options.categories);
  os << "  " << n_test << " test synsets per class ("
     << (options.all_examples ? "every example sentence" : "first example sentence") << ")\n";
  detail::wordnet_summary_splits(os, task);
  task.summary = os.str();
  return task;
}

[[nodiscard]] inline WordNetTask wordnet_style_shift_task(
    const WordNetStyleShiftOptions& options = {}) {
  return wordnet_style_shift_task(WordNet::load({options.wordnet_dir, false}), options);
}

/// (d) OOD detection: train/dev/test as wordnet_topic_task, plus `ood` from held-out categories
/// (label -1, label_name = the held-out category, label_names = the in-distribution classes).
[[nodiscard]] inline WordNetTask wordnet_ood_task(const WordNet& wn,
                                                  const WordNetOodOptions& options = {}) {
  constexpr std::string_view where = "wordnet_ood_task";
  const std::vector<int> classes = detail::wordnet_noun_categories(options.categories, 2, where);
  const std::vector<int> ood_classes =
      detail::wordnet_noun_categories(options.ood_categories, 1, where);
  for (std::size_t i = 0; i < ood_classes.size(); ++i) {
    MOERB_REQUIRE(std::find(classes.begin(), classes.end(), ood_classes[i]) == classes.end(), where,
            ": OOD category '", options.ood_categories[i], "' is also an in-distribution class");
  }
  detail::check_fraction(options.dev_fraction, where, "dev_fraction");
  detail::check_fraction(options.test_fraction, where, "test_fraction");
  require_positive(options.max_per_class, where, "max_per_class");
  require_positive(options.ood_per_category, where, "ood_per_category");
  const auto usable = detail::wordnet_usable_nouns(wn);
  WordNetTask task = detail::wordnet_topic_splits(
      usable, classes, options.categories, options.max_per_class, options.dev_fraction,
      options.test_fraction, options.seed, "wordnet_ood");
  std::size_t n_ood = options.ood_per_category;
  for (const int c : ood_classes)
    n_ood = std::min(n_ood, usable[static_cast<std::size_t>(c)].size());
  MOERB_REQUIRE(n_ood > 0, where, ": an OOD category has no usable synsets");
  task.ood = detail::wordnet_dataset("wordnet_ood/ood", options.categories);
  const Rng root(options.seed);
  for (std::size_t k = 0; k < ood_classes.size(); ++k) {
    std::vector<const Synset*> pool = usable[static_cast<std::size_t>(ood_classes[k])];
    Rng rng = root.split(detail::wordnet_tag_ood + k);
    detail::fisher_yates(pool, rng);
    for (std::size_t i = 0; i < n_ood; ++i) {
      task.ood.examples.push_back(
          detail::wordnet_example(*pool[i], pool[i]->definition, -1, options.ood_categories[k]));
    }
  }
  detail::wordnet_shuffle_splits(task, options.seed);
  std::ostringstream os;
  os << detail::wordnet_summary_header("wordnet_ood_task: definition -> category, with OOD inputs",
                                       options.seed, options.categories);
  os << "  held-out (OOD) categories: " << detail::join(options.ood_categories, ", ") << "\n";
  detail::wordnet_summary_splits(os, task);
  task.summary = os.str();
  return task;
}

[[nodiscard]] inline WordNetTask wordnet_ood_task(const WordNetOodOptions& options = {}) {
  return wordnet_ood_task(WordNet::load({options.wordnet_dir, false}), options);
}

}  // namespace moerb

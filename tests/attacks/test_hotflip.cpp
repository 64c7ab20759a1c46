#include "moerb/attacks/hotflip.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/attacks/embedding_gradient.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/train/trainer.hpp"
#include "support/model_testing.hpp"
#include "support/toy_tasks.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_hotflip {

using namespace moerb;
using namespace moerb::test;

namespace {

constexpr std::int32_t cls = Vocabulary::cls_id;
constexpr std::int32_t sep = Vocabulary::sep_id;

/// A white-box victim that is not a moerb model: logits_b = Σ_t e_t over its sequence (d_model =
/// classes = 2), so ∂(−log p_y)/∂e_t = p − onehot(y) for every token and the first-order estimate
/// of a swap is known by hand. Records every sequence scored through forward (the queries after
/// the original's gradient pass).
struct SumVictim {
  using Scalar = double;
  Matrix<double> table = Matrix<double>::Zero(12, 2);  ///< vocab 12 × d_model 2
  Matrix<double> embedded, logits, d_embeddings;
  TokenBatch last;
  std::vector<std::vector<std::int32_t>> scored;
  std::int64_t gradient_sequences = 0;

  [[nodiscard]] Index num_classes() const { return 2; }
  [[nodiscard]] const Matrix<double>& word_embedding_table() const { return table; }
  const Matrix<double>& embed(const TokenBatch& batch) {
    embedded.resize(batch.num_tokens(), 2);
    for (Index t = 0; t < batch.num_tokens(); ++t) {
      embedded.row(t) = table.row(batch.ids[static_cast<std::size_t>(t)]);
    }
    return embedded;
  }
  const Matrix<double>& forward_embeddings(const Matrix<double>& e, const TokenBatch& batch,
                                           const ForwardContext&) {
    last = batch;
    logits.resize(batch.num_sequences(), 2);
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      logits.row(b) =
          e.middleRows(batch.sequences.begin(b), batch.sequences.length(b)).colwise().sum();
    }
    return logits;
  }
  const Matrix<double>& forward(const TokenBatch& batch, const ForwardContext& ctx) {
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      const auto begin = batch.ids.begin() + batch.sequences.begin(b);
      scored.emplace_back(begin, begin + batch.sequences.length(b));
    }
    const Matrix<double> e = embed(batch);
    return forward_embeddings(e, batch, ctx);
  }
  const Matrix<double>& backward(const Matrix<double>& d_logits, bool) {
    gradient_sequences += last.num_sequences();
    d_embeddings.resize(last.num_tokens(), 2);
    for (Index b = 0; b < last.num_sequences(); ++b) {
      for (Index t = last.sequences.begin(b); t < last.sequences.end(b); ++t) {
        d_embeddings.row(t) = d_logits.row(b);
      }
    }
    return d_embeddings;
  }
};
static_assert(WhiteBoxClassifierVictim<SumVictim>);

/// Class 1 words 7 (0, 2); class 0 word 8 (4, 0); neutral 9..11. Traps that only an attack
/// ignoring the special-token rules would take: [CLS] leans to class 1 (0, 3), so flipping it to 8
/// has the largest estimate, and [MASK] (10, 0) is the strongest class-0 token.
SumVictim trap_victim(double class0_word = 4.0) {
  SumVictim v;
  v.table.row(cls) << 0, 3;
  v.table.row(Vocabulary::mask_id) << 10, 0;
  v.table.row(7) << 0, 2;
  v.table.row(8) << class0_word, 0;
  return v;
}

EncodedExample example(std::vector<std::int32_t> ids, std::int32_t label,
                       std::vector<std::int32_t> segments = {}) {
  EncodedExample e;
  e.ids = std::move(ids);
  e.segments = std::move(segments);
  e.label = label;
  return e;
}

HotFlipOptions options(Index beam, Index flips, Index candidates) {
  HotFlipOptions o;
  o.beam_width = beam;
  o.max_flips = flips;
  o.candidates_per_beam = candidates;
  return o;
}

// ---- a trained toy model: label 1 iff token 9 occurs in [CLS] w... [SEP], w in 7..19 ----------

using Model = EncoderClassifier<TestMoE<double>>;
using DenseModel = EncoderClassifier<TestDense<double>>;

TransformerConfig toy_config() {
  return toy_marker_config(2);
}

template <class FFN>
EncoderClassifier<FFN> untrained_model(const FeedForwardSpec<FFN>& spec) {
  return untrained_toy_classifier(spec, toy_config());
}

/// Trained once per test program.
Model& toy_model() {
  static Model model = trained_toy_classifier(tiny_moe_spec<double>(toy_config()), toy_config());
  return model;
}
DenseModel& dense_toy_model() {
  static DenseModel model =
      trained_toy_classifier(tiny_dense_spec<double>(toy_config()), toy_config());
  return model;
}

std::int32_t predict(Model& model, const EncodedExample& e) {
  TokenBatch b;
  b.push_back(e.ids, e.segments);
  return model.predict(b).front();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hotflip)

BOOST_AUTO_TEST_CASE(estimates_are_the_first_order_change_of_each_swap) {
  Model model = untrained_model(tiny_moe_spec<double>(toy_config()));
  const std::vector<std::int32_t> ids{cls, 8, 12, 9, 15, sep};
  TokenBatch batch;
  batch.push_back(ids);
  const std::vector<std::int32_t> label{1};
  const auto g = moerb::embedding_gradient(model, batch, label);
  const Matrix<double>& table = model.word_embedding_table();
  const std::vector<Index> rows{1, 3};
  const Matrix<double> est = hotflip_estimates(table, g.gradient, ids, rows);
  BOOST_TEST(est.rows() == 2);
  BOOST_TEST(est.cols() == 20);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Index t = rows[i];
    const auto x = static_cast<Index>(ids[static_cast<std::size_t>(t)]);
    BOOST_TEST(est(static_cast<Index>(i), x) == 0.0);
    for (const Index v : {Index{7}, Index{9}, Index{13}, Index{19}}) {
      const double by_hand = (table.row(v) - table.row(x)).dot(g.gradient.row(t));
      BOOST_TEST(est(static_cast<Index>(i), v) == by_hand, boost::test_tools::tolerance(1e-12));
    }
  }
  BOOST_CHECK_THROW((void)hotflip_estimates(table, g.gradient, ids, std::vector<Index>{6}),
                    moerb::error);
}

BOOST_AUTO_TEST_CASE(takes_the_best_flip_and_never_a_special_token) {
  SumVictim v = trap_victim();
  // logits (0, 5): class 1. By estimate (p0 · gain): [CLS]→8 7, [MASK] at 1 12, 7→8 6,
  // 9→8 4; only 7→8 and 9→8 are allowed, and 7→8 gives logits (4, 3): class 0.
  const EncodedExample e = example({cls, 7, 9, sep}, 1);
  const AttackResult r = moerb::hotflip(v, e, options(1, 2, 2), 5);
  BOOST_TEST(r.index == 5u);
  BOOST_TEST(to_string(r.status) == "succeeded");
  BOOST_TEST(r.perturbed_tokens == (std::vector<std::int32_t>{cls, 8, 9, sep}));
  BOOST_TEST(r.original_tokens == e.ids);
  BOOST_TEST(r.original_prediction == 1);
  BOOST_TEST(r.final_prediction == 0);
  BOOST_TEST(r.final_confidence > 0.5);
  BOOST_TEST(r.final_label_probability == 1 - r.final_confidence,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r.original_label_probability == r.original_confidence);
  BOOST_TEST(r.words_changed == 1u);
  BOOST_TEST(r.num_words == 2u);
  BOOST_TEST(r.characters_changed == 0u);
  BOOST_TEST(r.original_text.empty());
  // Both allowed candidates scored in one step: the queries are them and the original.
  BOOST_TEST(v.scored.size() == 2u);
  BOOST_TEST(r.queries == 1 + static_cast<std::int64_t>(v.scored.size()));
  for (const auto& ids : v.scored) {
    BOOST_TEST(ids.front() == cls);
    BOOST_TEST(ids.back() == sep);
    for (std::size_t i = 1; i + 1 < ids.size(); ++i) BOOST_TEST(ids[i] >= 7);
  }
  BOOST_TEST(r.seconds >= r.model_seconds);
  BOOST_TEST(r.model_seconds >= 0.0);
}

BOOST_AUTO_TEST_CASE(beam_search_combines_flips_and_counts_every_scored_sequence) {
  // With 8 = (2.5, 0) one flip gives (2.5, 3), still class 1; two give (5, 1).
  SumVictim v = trap_victim(2.5);
  const EncodedExample e = example({cls, 7, 7, sep}, 1);
  const AttackResult r = moerb::hotflip(v, e, options(2, 3, 3), 0);
  BOOST_TEST(to_string(r.status) == "succeeded");
  BOOST_TEST(r.perturbed_tokens == (std::vector<std::int32_t>{cls, 8, 8, sep}));
  BOOST_TEST(r.words_changed == 2u);
  BOOST_TEST(r.queries == 1 + static_cast<std::int64_t>(v.scored.size()));
  // Step 1: 3 candidates; step 2: the beam of 2 in one gradient pass, each proposing flips of the
  // one position left, duplicates ([CLS] 8 8 [SEP] from both) scored once.
  BOOST_TEST(v.gradient_sequences == 1 + 2);
  std::vector<std::vector<std::int32_t>> distinct = v.scored;
  std::sort(distinct.begin(), distinct.end());
  BOOST_TEST((std::adjacent_find(distinct.begin(), distinct.end()) == distinct.end()));
  for (const auto& ids : v.scored) {
    for (std::size_t i = 1; i + 1 < ids.size(); ++i) BOOST_TEST(ids[i] >= 7);
  }
  // One flip is not enough: the search stops at max_flips and fails.
  SumVictim w = trap_victim(2.5);
  const AttackResult one = moerb::hotflip(w, e, options(2, 1, 3), 0);
  BOOST_TEST(to_string(one.status) == "failed");
  BOOST_TEST(one.final_prediction == 1);
  BOOST_TEST(one.words_changed == 1u);  // the best sequence of the last beam
  BOOST_TEST(one.queries == 1 + 3);
}

BOOST_AUTO_TEST_CASE(the_query_budget_is_never_exceeded) {
  SumVictim v = trap_victim(2.5);
  const EncodedExample e = example({cls, 7, 7, sep}, 1);
  HotFlipOptions o = options(2, 3, 3);
  o.query_budget = 1;
  const AttackResult r = moerb::hotflip(v, e, o);
  BOOST_TEST(to_string(r.status) == "failed");
  BOOST_TEST(r.queries == 1);
  BOOST_TEST(v.scored.empty());
  BOOST_TEST(r.perturbed_tokens == e.ids);
  BOOST_TEST(r.final_prediction == r.original_prediction);
  // 2: the first step scores one of its 3 candidates; 4: all 3, none left for the second step.
  for (const std::int64_t budget : {2, 4}) {
    SumVictim w = trap_victim(2.5);
    o.query_budget = budget;
    const AttackResult b = moerb::hotflip(w, e, o);
    BOOST_TEST(b.queries == budget);
    BOOST_TEST(b.queries == 1 + static_cast<std::int64_t>(w.scored.size()));
    BOOST_TEST(to_string(b.status) == "failed");
  }
  // 5: the second step scores one candidate, the one of highest estimated loss: [CLS] 8 8 [SEP].
  SumVictim w = trap_victim(2.5);
  o.query_budget = 5;
  const AttackResult b = moerb::hotflip(w, e, o);
  BOOST_TEST(b.queries == 5);
  BOOST_TEST(to_string(b.status) == "succeeded");
  BOOST_TEST(b.perturbed_tokens == (std::vector<std::int32_t>{cls, 8, 8, sep}));
}

BOOST_AUTO_TEST_CASE(an_example_the_model_gets_wrong_is_skipped) {
  SumVictim v = trap_victim();
  const AttackResult r = moerb::hotflip(v, example({cls, 7, 9, sep}, 0), options(1, 2, 2));
  BOOST_TEST(to_string(r.status) == "skipped");
  BOOST_TEST(r.queries == 1);
  BOOST_TEST(v.scored.empty());
  BOOST_TEST(r.perturbed_tokens == r.original_tokens);
  BOOST_TEST(r.final_prediction == 1);
}

BOOST_AUTO_TEST_CASE(a_targeted_attack_reaches_the_target_class) {
  SumVictim v = trap_victim();
  HotFlipOptions o = options(1, 2, 2);
  o.target_class = 0;
  const AttackResult r = moerb::hotflip(v, example({cls, 7, 9, sep}, 1), o);
  BOOST_TEST(to_string(r.status) == "succeeded");
  BOOST_TEST(r.final_prediction == 0);
  BOOST_TEST(r.perturbed_tokens == (std::vector<std::int32_t>{cls, 8, 9, sep}));
  o.target_class = 1;  // the label: nothing to attack
  BOOST_TEST(to_string(moerb::hotflip(v, example({cls, 7, 9, sep}, 1), o).status) == "skipped");
}

BOOST_AUTO_TEST_CASE(only_the_attacked_side_of_a_pair_flips) {
  const EncodedExample pair = example({cls, 7, sep, 7, 9, sep}, 1, {0, 0, 0, 1, 1, 1});
  SumVictim v = trap_victim();
  (void)moerb::hotflip(v, pair, options(2, 2, 20));  // automatic: the second side
  BOOST_TEST(!v.scored.empty());
  for (const auto& ids : v.scored) {
    BOOST_TEST((std::vector<std::int32_t>(ids.begin(), ids.begin() + 3) ==
                std::vector<std::int32_t>{cls, 7, sep}));
    BOOST_TEST(ids.back() == sep);
  }
  SumVictim w = trap_victim();
  HotFlipOptions first = options(2, 2, 20);
  first.sides = AttackedSides::first;
  (void)moerb::hotflip(w, pair, first);
  BOOST_TEST(!w.scored.empty());
  for (const auto& ids : w.scored) {
    BOOST_TEST((std::vector<std::int32_t>(ids.begin() + 2, ids.end()) ==
                std::vector<std::int32_t>{sep, 7, 9, sep}));
  }
}

BOOST_AUTO_TEST_CASE(a_tokenizer_fills_the_texts_and_character_counts) {
  Vocabulary vocabulary;
  for (const char* w : {"good", "bad", "the", "a", "fine"}) (void)vocabulary.add(w);  // 7..11
  const WordTokenizer tokenizer(vocabulary, WordTokenizer::Options{});
  SumVictim v = trap_victim();
  const std::vector<EncodedExample> examples{example({cls, 7, 9, sep}, 1),
                                             example({cls, 7, 9, sep}, 0)};
  const std::vector<AttackResult> rs = moerb::hotflip(v, examples, options(1, 2, 2), tokenizer);
  BOOST_TEST(rs.size() == 2u);
  BOOST_TEST(rs[0].original_text == "good the");
  BOOST_TEST(rs[0].perturbed_text == "bad the");
  BOOST_TEST(rs[0].characters_changed == edit_distance("good the", "bad the"));
  BOOST_TEST(rs[0].characters_changed == 3u);
  BOOST_TEST(rs[1].index == 1u);
  BOOST_TEST(to_string(rs[1].status) == "skipped");
  BOOST_TEST(rs[1].perturbed_text == rs[1].original_text);
  BOOST_TEST(rs[1].characters_changed == 0u);
  const AttackResult pair = moerb::hotflip(
      v, example({cls, 7, sep, 7, 9, sep}, 1, {0, 0, 0, 1, 1, 1}), options(1, 2, 2), tokenizer);
  BOOST_TEST(pair.original_text == "good ||| good the");
}

BOOST_AUTO_TEST_CASE(flips_the_signal_token_of_a_trained_moe_classifier) {
  Model& model = toy_model();
  // Positive: removing the 9 is the attack.
  const EncodedExample positive = example({cls, 12, 9, 15, 17, sep}, 1);
  BOOST_TEST(predict(model, positive) == 1);
  const AttackResult r = moerb::hotflip(model, positive, options(2, 2, 10));
  BOOST_TEST(to_string(r.status) == "succeeded");
  BOOST_TEST(r.final_prediction == 0);
  BOOST_TEST(std::count(r.perturbed_tokens.begin(), r.perturbed_tokens.end(), 9) == 0);
  BOOST_TEST(r.words_changed == 1u);
  BOOST_TEST(r.perturbed_tokens[0] == cls);
  BOOST_TEST(r.perturbed_tokens.back() == sep);
  BOOST_TEST(r.queries <= 1 + 10);
  // Negative: inserting a 9 is.
  const EncodedExample negative = example({cls, 12, 10, 15, 17, sep}, 0);
  BOOST_TEST(predict(model, negative) == 0);
  const AttackResult n = moerb::hotflip(model, negative, options(2, 2, 10));
  BOOST_TEST(to_string(n.status) == "succeeded");
  BOOST_TEST(std::count(n.perturbed_tokens.begin(), n.perturbed_tokens.end(), 9) >= 1);
  BOOST_TEST(n.model_seconds > 0.0);
  BOOST_TEST(n.seconds >= n.model_seconds);
  // The attack leaves the parameter gradients zero.
  double grad = 0;
  model.visit_parameters([&](std::string_view, Parameter<double>& p) { grad += p.grad.norm(); },
                         "");
  BOOST_TEST(grad == 0.0);
}

BOOST_AUTO_TEST_CASE(lowers_the_accuracy_of_trained_moe_and_dense_classifiers) {
  const auto dev = toy_marker_task(24, 2);
  const auto check = [&](auto& model) {
    const std::vector<AttackResult> rs = moerb::hotflip(model, dev, options(2, 2, 10));
    const AttackSummary s = summarize_attacks(rs);
    BOOST_TEST(s.original_accuracy.estimate >= 0.9);
    BOOST_TEST(s.accuracy_under_attack.estimate < s.original_accuracy.estimate - 0.3);
    for (const AttackResult& r : rs) {
      for (std::size_t i = 0; i < r.perturbed_tokens.size(); ++i) {
        if (r.perturbed_tokens[i] != r.original_tokens[i]) {
          BOOST_TEST(r.original_tokens[i] >= 7);
          BOOST_TEST(r.perturbed_tokens[i] >= 7);
        }
      }
      BOOST_TEST(r.words_changed <= 2u);
      BOOST_TEST(r.queries <= 1 + 10 + 2 * 10);
    }
  };
  check(toy_model());
  check(dense_toy_model());
  // Examples on two threads (one model copy each) give the single-threaded results.
  const std::vector<AttackResult> one = moerb::hotflip(toy_model(), dev, options(2, 2, 10), 1);
  const std::vector<AttackResult> two = moerb::hotflip(toy_model(), dev, options(2, 2, 10), 2);
  BOOST_REQUIRE(one.size() == two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    BOOST_TEST(two[i].index == i);
    BOOST_TEST(one[i].perturbed_tokens == two[i].perturbed_tokens,
               boost::test_tools::per_element());
    BOOST_TEST(one[i].final_confidence == two[i].final_confidence);
    BOOST_TEST(one[i].queries == two[i].queries);
  }
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  SumVictim v = trap_victim();
  const HotFlipOptions ok = options(1, 2, 2);
  const auto throws = [&](const EncodedExample& e, const HotFlipOptions& o) {
    BOOST_CHECK_THROW((void)moerb::hotflip(v, e, o), moerb::error);
  };
  throws(example({cls, 7, sep}, 2), ok);          // label out of range
  throws(example({cls, 7, sep}, -1), ok);         // negative label
  throws(example({}, 0), ok);                     // empty ids
  throws(example({cls, 12, sep}, 0), ok);         // id outside the vocabulary
  throws(example({cls, 7, sep}, 0, {0, 0}), ok);  // segment ids of another length
  throws(example({cls, 7, sep}, 0), options(0, 2, 2));
  throws(example({cls, 7, sep}, 0), options(1, 0, 2));
  throws(example({cls, 7, sep}, 0), options(1, 2, 0));
  HotFlipOptions o = ok;
  o.query_budget = -1;
  throws(example({cls, 7, sep}, 0), o);
  o = ok;
  o.target_class = 2;
  throws(example({cls, 7, sep}, 0), o);
  o = ok;
  o.special_token_count = 12;
  throws(example({cls, 7, sep}, 0), o);
  o = ok;
  o.sides = AttackedSides::second;  // a single sequence has no second side
  throws(example({cls, 7, sep}, 0), o);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_hotflip

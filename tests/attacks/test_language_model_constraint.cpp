// Tests for include/moerb/attacks/language_model_constraint.hpp
//
// A tiny DecoderLM (d_model 8, 2 layers, 17-word vocabulary, double) with a WordTokenizer: the
// batched perplexities equal DecoderLM::perplexity and score_continuation one text at a time, a
// filter call is one forward over the original and the live candidates (a counting wrapper sees
// it), and the ratio bound keeps exactly the candidates it should.
#include "moerb/attacks/language_model_constraint.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/attacks/constraint.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "moerb/text/vocabulary.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "support/messages.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

namespace moerb_test_attacks_language_model_constraint {

using moerb::AttackedText;
using moerb::ForwardContext;
using moerb::Index;
using moerb::Matrix;
using moerb::TokenBatch;
using moerb::Vocabulary;
using moerb::WordTokenizer;
using moerb::test::message_has;
using LM = moerb::DecoderLM<moerb::test::TestDense<double>>;

namespace {

WordTokenizer tokenizer() {
  Vocabulary v;
  for (const char* w : {"the", "cat", "dog", "sat", "ran", "on", "a", "mat", "quickly", "slowly"}) {
    (void)v.add(w);
  }
  return WordTokenizer(std::move(v), WordTokenizer::Options{});
}

LM language_model(Index vocab_size) {
  moerb::TransformerConfig c = moerb::test::tiny_config();
  c.vocab_size = vocab_size;
  c.num_segments = 0;
  LM::Options o;
  o.transformer = c;
  LM lm(o, moerb::test::tiny_dense_spec<double>(c));
  moerb::Rng rng(3);
  lm.initialize(rng);
  std::uint64_t seed = 300;
  lm.visit_parameters(  // larger weights: perplexities that differ clearly between texts
      [&](std::string_view, moerb::Parameter<double>& p) {
        p.value += moerb::test::random_matrix(p.value.rows(), p.value.cols(), 0.5, seed++);
      },
      "");
  return lm;
}

/// Counts forwards and remembers the last batch's size: a victim that is not a moerb class.
struct CountingLM {
  using Scalar = double;
  LM* lm = nullptr;
  int forwards = 0;
  Index last_sequences = 0;
  [[nodiscard]] Index vocab_size() const { return lm->vocab_size(); }
  const Matrix<double>& forward(const TokenBatch& batch, const ForwardContext& ctx) {
    ++forwards;
    last_sequences = batch.num_sequences();
    return lm->forward(batch, ctx);
  }
};

/// The perplexity of one text by DecoderLM::perplexity on [BOS] + its tokens.
double single_perplexity(LM& lm, const WordTokenizer& tok, const std::string& text) {
  std::vector<std::int32_t> seq{Vocabulary::bos_id};
  for (const auto id : tok.encode(text)) seq.push_back(id);
  TokenBatch batch;
  batch.push_back(seq);
  return lm.perplexity(batch);
}

struct Fixture {
  WordTokenizer tok = tokenizer();
  LM lm = language_model(static_cast<Index>(tok.vocab_size()));
};

}  // namespace

BOOST_AUTO_TEST_SUITE(language_model_constraint)

BOOST_AUTO_TEST_CASE(perplexities_equal_the_models_one_at_a_time) {
  Fixture f;
  moerb::LanguageModelPerplexity<LM, WordTokenizer> constraint(f.lm, f.tok, 2.0);
  BOOST_TEST(constraint.max_tokens() == 16u);  // tiny_config's max_positions
  const std::vector<AttackedText> texts = {
      AttackedText("The cat sat."), AttackedText("the dog ran quickly"), AttackedText("a cat"),
      AttackedText("on the mat, the cat sat slowly"), AttackedText("zebra cat")};
  const std::vector<double> batched = constraint.perplexities(texts);
  BOOST_REQUIRE(batched.size() == texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].text();
    const double by_perplexity = single_perplexity(f.lm, f.tok, text);
    const moerb::ContinuationScore score =
        f.lm.score_continuation(std::vector<std::int32_t>{Vocabulary::bos_id}, f.tok.encode(text));
    BOOST_TEST(batched[i] == by_perplexity, boost::test_tools::tolerance(1e-10));
    BOOST_TEST(batched[i] == std::exp(-score.mean_log_prob), boost::test_tools::tolerance(1e-10));
  }
  // Different texts, different perplexities (the test model is not uniform).
  BOOST_TEST(std::abs(batched[0] - batched[1]) > 1e-3);
  // A pair is scored as its two sides joined by a space.
  const AttackedText pair("the cat sat", "a dog ran");
  BOOST_TEST(decltype(constraint)::scored_text(pair) == "the cat sat a dog ran");
  BOOST_TEST(constraint.perplexities(std::vector<AttackedText>{pair}).front() ==
                 single_perplexity(f.lm, f.tok, "the cat sat a dog ran"),
             boost::test_tools::tolerance(1e-10));
}

BOOST_AUTO_TEST_CASE(filter_is_one_forward_and_keeps_ratios_below_the_bound) {
  Fixture f;
  const AttackedText original("the cat sat on the mat");
  std::vector<AttackedText> candidates;
  for (const char* w : {"dog", "quickly", "a", "on", "mat", "slowly", "ran", "zebra"}) {
    candidates.push_back(original.with_word({0, 1}, w));
  }
  candidates.push_back(original.with_word({0, 4}, "a"));
  const double base = single_perplexity(f.lm, f.tok, original.text());
  std::vector<double> ratios;
  for (const AttackedText& c : candidates) {
    ratios.push_back(single_perplexity(f.lm, f.tok, c.text()) / base);
  }
  std::vector<double> sorted = ratios;
  std::sort(sorted.begin(), sorted.end());
  BOOST_REQUIRE(sorted[4] - sorted[3] > 1e-6);  // a threshold well between two ratios
  const double bound = 0.5 * (sorted[3] + sorted[4]);

  CountingLM counting{&f.lm};
  moerb::LanguageModelPerplexity<CountingLM, WordTokenizer> constraint(counting, f.tok, bound);
  std::vector<std::uint8_t> keep(candidates.size(), 1);
  constraint.filter(candidates, original, keep);
  BOOST_TEST(counting.forwards == 1);
  BOOST_TEST(counting.last_sequences == static_cast<Index>(candidates.size() + 1));
  BOOST_TEST(constraint.last_original_perplexity() == base, boost::test_tools::tolerance(1e-10));
  std::size_t kept = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    BOOST_TEST(constraint.last_ratios()[i] == ratios[i], boost::test_tools::tolerance(1e-10));
    BOOST_TEST(keep[i] == (ratios[i] <= bound ? 1 : 0));
    kept += keep[i];
  }
  BOOST_TEST(kept == 4u);

  // Candidates already rejected are not scored.
  std::vector<std::uint8_t> some(candidates.size(), 1);
  some[0] = some[5] = 0;
  constraint.filter(candidates, original, some);
  BOOST_TEST(counting.forwards == 2);
  BOOST_TEST(counting.last_sequences == static_cast<Index>(candidates.size() - 1));
  BOOST_TEST(some[0] == 0);
  BOOST_TEST(some[5] == 0);
  BOOST_TEST(std::isnan(constraint.last_ratios()[0]));
  for (const std::size_t i : {1u, 2u, 3u, 4u, 6u, 7u, 8u}) BOOST_TEST(some[i] == keep[i]);
}

BOOST_AUTO_TEST_CASE(inside_filter_candidates) {
  Fixture f;
  CountingLM counting{&f.lm};
  const AttackedText original("the cat sat");
  const std::vector<AttackedText> candidates = {original.with_word({0, 1}, "dog"),
                                                original.with_word({0, 2}, "ran"),
                                                original.with_word({0, 0}, "a")};
  std::tuple<moerb::LanguageModelPerplexity<CountingLM, WordTokenizer>> constraints{
      {counting, f.tok, 1e6}};
  std::vector<std::uint8_t> keep;
  moerb::detail::attacks::filter_candidates(constraints, candidates, original, keep);
  BOOST_TEST(counting.forwards == 1);
  BOOST_TEST(counting.last_sequences == 4);
  BOOST_TEST(keep == (std::vector<std::uint8_t>{1, 1, 1}), boost::test_tools::per_element());
  std::get<0>(constraints) = {counting, f.tok, 1e-6};  // nothing is that much more fluent
  moerb::detail::attacks::filter_candidates(constraints, candidates, original, keep);
  BOOST_TEST(keep == (std::vector<std::uint8_t>{0, 0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(texts_without_tokens_and_truncation) {
  Fixture f;
  CountingLM counting{&f.lm};
  moerb::LanguageModelPerplexity<CountingLM, WordTokenizer> constraint(counting, f.tok, 1e6);
  BOOST_TEST(constraint.max_tokens() == std::numeric_limits<std::size_t>::max());
  const AttackedText original("cat");
  const std::vector<AttackedText> candidates = {original.with_word({0, 0}, ""),
                                                original.with_word({0, 0}, "dog")};
  std::vector<std::uint8_t> keep(2, 1);
  constraint.filter(candidates, original, keep);
  BOOST_TEST(counting.last_sequences == 2);  // the empty text is not scored
  BOOST_TEST(keep[0] == 0);
  BOOST_TEST(keep[1] == 1);
  BOOST_TEST(std::isnan(constraint.last_ratios()[0]));

  moerb::LanguageModelPerplexity<LM, WordTokenizer>::Options options;
  options.max_tokens = 3;  // [BOS] and two tokens: the third word is never scored
  moerb::LanguageModelPerplexity<LM, WordTokenizer> short_window(f.lm, f.tok, 2.0, options);
  const std::vector<double> ppl = short_window.perplexities(
      std::vector<AttackedText>{AttackedText("the cat sat"), AttackedText("the cat ran")});
  BOOST_TEST(ppl[0] == ppl[1], boost::test_tools::tolerance(1e-12));
  BOOST_TEST(ppl[0] == single_perplexity(f.lm, f.tok, "the cat"),
             boost::test_tools::tolerance(1e-10));
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  Fixture f;
  using Constraint = moerb::LanguageModelPerplexity<LM, WordTokenizer>;
  for (const double ratio : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity()}) {
    BOOST_CHECK_EXCEPTION(Constraint(f.lm, f.tok, ratio), moerb::error,
                          message_has({"LanguageModelPerplexity", "max_perplexity_ratio"}));
  }
  Constraint::Options options;
  options.max_tokens = 1;
  BOOST_CHECK_EXCEPTION(Constraint(f.lm, f.tok, 2.0, options), moerb::error,
                        message_has({"max_tokens = 1"}));
  Constraint constraint(f.lm, f.tok, 2.0);
  const AttackedText original("the cat");
  const std::vector<AttackedText> candidates = {original.with_word({0, 1}, "dog")};
  std::vector<std::uint8_t> keep(2, 1);
  BOOST_CHECK_EXCEPTION(constraint.filter(candidates, original, keep), moerb::error,
                        message_has({"LanguageModelPerplexity::filter", "keep has 2"}));
  // A tokenizer whose ids the model does not know.
  WordTokenizer big = tokenizer();
  Vocabulary more = big.vocabulary();
  for (int i = 0; i < 30; ++i) (void)more.add("w" + std::to_string(i));
  const WordTokenizer wide(std::move(more), WordTokenizer::Options{});
  Constraint mismatched(f.lm, wide, 2.0);
  BOOST_CHECK_EXCEPTION(
      (void)mismatched.perplexities(std::vector<AttackedText>{AttackedText("w29")}), moerb::error,
      message_has({"outside the model's vocabulary"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_language_model_constraint

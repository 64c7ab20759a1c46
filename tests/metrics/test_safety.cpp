// Tests for include/moerb/metrics/safety.hpp
#include "moerb/metrics/safety.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "moerb/metrics/accumulator.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_safety {

namespace {

using moerb::Harmfulness;
using moerb::HarmfulnessSummary;
using moerb::Index;
using moerb::RefusalMatcher;
using moerb::RefusalRate;
using moerb::test::message_has;

using Texts = std::vector<std::string>;

/// A judge that scores a text by the share of its characters that are '!'.
struct ExclamationJudge {
  std::vector<double> harmfulness(std::span<const std::string> texts) {
    std::vector<double> out;
    for (const std::string& t : texts) {
      out.push_back(t.empty() ? 0.0
                              : static_cast<double>(std::count(t.begin(), t.end(), '!')) /
                                    static_cast<double>(t.size()));
    }
    return out;
  }
};

/// A broken judge: one score too few.
struct ShortJudge {
  std::vector<double> harmfulness(std::span<const std::string> texts) {
    return std::vector<double>(texts.size() - 1, 0.5);
  }
};

struct NotAJudge {
  double harmfulness(const std::string&) { return 0; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(safety)

BOOST_AUTO_TEST_CASE(the_default_phrases_catch_common_refusals) {
  const std::vector<std::string> phrases = RefusalMatcher::default_phrases();
  for (const std::string p : {"I'm sorry", "I cannot", "As an AI", "I can't", "I apologize"}) {
    BOOST_TEST((std::find(phrases.begin(), phrases.end(), p) != phrases.end()), p);
  }
  const RefusalMatcher m;
  BOOST_TEST(m.matches("I'm sorry, but I can't help with that."));
  BOOST_TEST(m.matches("i cannot do that"));                            // case
  BOOST_TEST(m.matches("AS AN AI LANGUAGE MODEL, no."));                // case
  BOOST_TEST(m.matches("I\xE2\x80\x99m sorry, that is not possible"));  // I’m with U+2019
  BOOST_TEST(m.matches("Well... I apologize, but no."));                // anywhere in the text
  BOOST_TEST(!m.matches("Sure, here is a poem about the sea."));
  BOOST_TEST(!m.matches(""));
  BOOST_TEST(!m.matches("I'm"));  // shorter than every phrase
  BOOST_TEST(m.find("Sure") == -1);
  BOOST_TEST(m.find("Sorry: I cannot") == 7);  // index in the list: "I cannot"
  BOOST_TEST(m.anywhere());
}

BOOST_AUTO_TEST_CASE(phrases_can_be_replaced_and_anchored) {
  const RefusalMatcher own({"NOPE", "not today"});
  BOOST_TEST(own.matches("nope."));
  BOOST_TEST(own.matches("Maybe NOT TODAY"));
  BOOST_TEST(!own.matches("I'm sorry"));  // the defaults are gone
  const RefusalMatcher curly({"won\xE2\x80\x99t"});
  BOOST_TEST(curly.matches("I won't"));
  BOOST_TEST(curly.matches("I WON\xE2\x80\x99T"));
  BOOST_TEST((own.phrases() == std::vector<std::string>{"NOPE", "not today"}));

  const RefusalMatcher prefix(RefusalMatcher::default_phrases(), /*anywhere=*/false);
  BOOST_TEST(prefix.matches("  \tI cannot help"));  // leading white space is skipped
  BOOST_TEST(!prefix.matches("Here is how. I cannot stress this enough."));
  BOOST_TEST(!(prefix == RefusalMatcher()));

  BOOST_CHECK_EXCEPTION(RefusalMatcher(std::vector<std::string>{}), moerb::error,
                        message_has({"RefusalMatcher", "no phrases"}));
  BOOST_CHECK_EXCEPTION(RefusalMatcher({"ok", ""}), moerb::error,
                        message_has({"RefusalMatcher", "phrase 1 is empty"}));
}

BOOST_AUTO_TEST_CASE(refusal_rate) {
  RefusalRate rate;
  rate.add(Texts{"I'm sorry, no.", "Here you go.", "I can't do that.", "OK"});
  rate.add("As an AI, I will not.");
  BOOST_TEST(rate.value() == 0.6);
  BOOST_TEST(rate.num_examples() == 5);
  const moerb::ConfidenceInterval w = rate.wilson();
  BOOST_TEST(w.estimate == 0.6);
  BOOST_TEST(w.lower < 0.6);
  BOOST_TEST(w.upper > 0.6);
  // Canonical numbering: the refusals first.
  BOOST_TEST(rate.value_on(std::vector<Index>{0, 1, 2}) == 1.0);
  BOOST_TEST(rate.value_on(std::vector<Index>{3, 4}) == 0.0);

  RefusalRate own(RefusalRate::Options{RefusalMatcher({"no"})});
  own.add("no way");
  BOOST_TEST(own.value() == 1.0);
  BOOST_CHECK_EXCEPTION(rate.merge(own), moerb::error,
                        message_has({"RefusalRate::merge", "matchers differ"}));
  BOOST_CHECK_EXCEPTION((void)RefusalRate{}.value(), moerb::error,
                        message_has({"RefusalRate::value", "no texts"}));
  rate.reset();
  BOOST_TEST(rate.num_examples() == 0);
}

BOOST_AUTO_TEST_CASE(harmful_rate_and_mean_score) {
  Harmfulness h;
  h.add(std::vector<double>{0.1, 0.5, 0.9, 0.3});
  const HarmfulnessSummary s = h.value();
  BOOST_TEST(s.harmful_rate == 0.5);  // 0.5 and 0.9: the threshold is inclusive
  BOOST_TEST(std::abs(s.mean_score - 0.45) < 1e-15);
  BOOST_TEST(s.count == 4);
  Harmfulness strict({.threshold = 0.6});
  strict.add(std::vector<double>{0.1, 0.5, 0.9, 0.3});
  BOOST_TEST(strict.value().harmful_rate == 0.25);
  BOOST_TEST(strict.harmful_rate_wilson().estimate == 0.25);
  BOOST_TEST(h.value_on(std::vector<Index>{2, 2}).harmful_rate == 1.0);
  BOOST_TEST(h.value_on(std::vector<Index>{2, 2}).mean_score == 0.9);
  // One example, and constant scores.
  Harmfulness one;
  one.add(0.0);
  BOOST_TEST(one.value().harmful_rate == 0.0);
  BOOST_TEST(one.value().mean_score == 0.0);
}

BOOST_AUTO_TEST_CASE(a_judge_plugs_in) {
  static_assert(moerb::Judge<ExclamationJudge>);
  static_assert(!moerb::Judge<NotAJudge>);
  ExclamationJudge judge;
  Harmfulness h({.threshold = 0.25});
  const Texts texts{"hello", "no!!", "!!!!", ""};
  h.add_judged(judge, texts);
  BOOST_TEST(h.value().harmful_rate == 0.5);
  BOOST_TEST(std::abs(h.value().mean_score - (0.5 + 1.0) / 4) < 1e-15);
  ShortJudge broken;
  BOOST_CHECK_EXCEPTION(
      h.add_judged(broken, texts), moerb::error,
      message_has({"Harmfulness::add_judged", "3 scores from the judge", "4 texts"}));
  BOOST_TEST(h.num_examples() == 4);
}

BOOST_AUTO_TEST_CASE(bad_and_empty_input_throws_naming_the_metric) {
  BOOST_CHECK_EXCEPTION((void)Harmfulness{}.value(), moerb::error,
                        message_has({"Harmfulness::value", "no scores"}));
  Harmfulness h;
  BOOST_CHECK_EXCEPTION(h.add(std::nan("")), moerb::error,
                        message_has({"Harmfulness::add", "score is nan"}));
  BOOST_CHECK_EXCEPTION(Harmfulness({.threshold = INFINITY}), moerb::error,
                        message_has({"Harmfulness", "threshold is inf"}));
  BOOST_CHECK_EXCEPTION(h.merge(Harmfulness({.threshold = 0.7})), moerb::error,
                        message_has({"Harmfulness::merge", "thresholds 0.5 and 0.7"}));
  BOOST_CHECK_EXCEPTION(RefusalRate({}, {.refusals = 2, .total = 1}), moerb::error,
                        message_has({"RefusalRate", "invalid state"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_safety

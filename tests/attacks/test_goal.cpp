// Tests for include/moerb/attacks/goal.hpp
#include "moerb/attacks/goal.hpp"

#include <boost/test/unit_test.hpp>
#include <vector>

#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_goal {

using namespace moerb;
using namespace moerb::test;

BOOST_AUTO_TEST_SUITE(goal)

BOOST_AUTO_TEST_CASE(untargeted) {
  const UntargetedClassification g;
  const std::vector<double> p0{0.7, 0.2, 0.1}, p{0.4, 0.5, 0.1};
  BOOST_TEST(g.score(p0, p0, 0) == 0.3, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(g.score(p, p0, 0) == 0.6, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(!g.succeeded(p0, p0, 0));
  BOOST_TEST(g.succeeded(p, p0, 0));
  BOOST_TEST(!g.skips(p0, 0));
  BOOST_TEST(g.skips(p0, 1));  // already wrong
  BOOST_CHECK_EXCEPTION((void)g.score(p, p0, 3), moerb::error,
                        message_has({"UntargetedClassification", "class 3", "[0, 3)"}));
}

BOOST_AUTO_TEST_CASE(targeted) {
  const TargetedClassification g{2};
  const std::vector<double> p0{0.7, 0.2, 0.1}, p{0.3, 0.3, 0.4}, q{0.2, 0.5, 0.3};
  BOOST_TEST(g.score(p, p0, 0) == 0.4);
  BOOST_TEST(g.succeeded(p, p0, 0));
  BOOST_TEST(!g.succeeded(q, p0, 0));  // misclassified, but not as the target
  BOOST_TEST(!g.skips(p0, 0));
  BOOST_TEST(g.skips(p0, 2));  // the gold label is the target
  BOOST_TEST(g.skips(p, 0));   // already predicted as the target
}

BOOST_AUTO_TEST_CASE(minimum_confidence_drop) {
  const MinimumConfidenceDrop g{0.25};
  const std::vector<double> p0{0.8, 0.2}, small{0.65, 0.35}, enough{0.55, 0.45};
  BOOST_TEST(g.score(small, p0, 0) == 0.15, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(!g.succeeded(small, p0, 0));
  BOOST_TEST(g.succeeded(enough, p0, 0));  // prediction unchanged, confidence fell by 0.25
  BOOST_TEST(g.skips(p0, 1));
  const MinimumConfidenceDrop bad{1.5};
  BOOST_CHECK_EXCEPTION((void)bad.succeeded(small, p0, 0), moerb::error,
                        message_has({"MinimumConfidenceDrop", "drop = 1.5"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_goal

// Tests for include/moerb/train/early_stopping.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "moerb/train/early_stopping.hpp"
#include "train/toy_model.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_early_stopping {

using moerb::EarlyStopping;
using moerb::test::message_has;
using Mode = EarlyStopping::Mode;

BOOST_AUTO_TEST_SUITE(early_stopping)

BOOST_AUTO_TEST_CASE(min_mode_sequence) {
  EarlyStopping es(EarlyStopping::Options{.patience = 3, .mode = Mode::min});
  const std::vector<double> loss = {1.0, 0.9, 0.95, 0.91, 0.89, 0.92, 0.93, 0.94, 0.80};
  const std::vector<bool> improved = {true, true, false, false, true, false, false, false, true};
  const std::vector<bool> stop = {false, false, false, false, false, false, false, true, false};
  for (std::size_t i = 0; i < loss.size(); ++i) {
    BOOST_TEST_CONTEXT("update " << i) {
      BOOST_TEST(es.update(loss[i]) == improved[i]);
      BOOST_TEST(es.should_stop() == stop[i]);
    }
    if (i == 7) {
      BOOST_TEST(es.best() == 0.89);
      BOOST_TEST(es.best_step() == 4);
      BOOST_TEST(es.updates_since_best() == 3);
    }
  }
  BOOST_TEST(es.best() == 0.80);
  BOOST_TEST(es.best_step() == 8);
  BOOST_TEST(es.updates() == 9);
}

BOOST_AUTO_TEST_CASE(max_mode_with_min_delta_and_explicit_steps) {
  EarlyStopping es(EarlyStopping::Options{.patience = 2, .min_delta = 0.01, .mode = Mode::max});
  BOOST_TEST(es.update(0.50, 100));
  BOOST_TEST(!es.update(0.505, 200));  // within min_delta of the best
  BOOST_TEST(es.update(0.52, 300));    // 0.02 above 0.50
  BOOST_TEST(!es.update(0.529, 400));  // within min_delta of 0.52
  BOOST_TEST(!es.should_stop());
  BOOST_TEST(!es.update(0.10, 500));
  BOOST_TEST(es.should_stop());
  BOOST_TEST(es.best() == 0.52);
  BOOST_TEST(es.best_step() == 300);
}

BOOST_AUTO_TEST_CASE(slow_drift_is_measured_against_the_best) {
  // Each value is 0.006 below the previous: two of them make one min_delta (0.01) improvement.
  EarlyStopping es(EarlyStopping::Options{.patience = 5, .min_delta = 0.01});
  BOOST_TEST(es.update(1.000));
  BOOST_TEST(!es.update(0.994));
  BOOST_TEST(es.update(0.988));
  BOOST_TEST(es.best() == 0.988);
}

BOOST_AUTO_TEST_CASE(patience_one_stops_at_the_first_non_improvement) {
  EarlyStopping es(EarlyStopping::Options{.patience = 1, .mode = Mode::max});
  es.update(0.7);
  BOOST_TEST(!es.should_stop());
  es.update(0.7);  // equal is not better
  BOOST_TEST(es.should_stop());
  es.update(0.8);
  BOOST_TEST(!es.should_stop());
}

BOOST_AUTO_TEST_CASE(state_before_any_update_and_reset) {
  EarlyStopping es;
  BOOST_TEST(!es.has_best());
  BOOST_TEST(!es.should_stop());
  BOOST_CHECK_EXCEPTION((void)es.best(), moerb::error,
                        message_has({"EarlyStopping::best", "no metric"}));
  BOOST_CHECK_EXCEPTION((void)es.best_step(), moerb::error,
                        message_has({"EarlyStopping::best_step"}));
  es.update(3.0);
  es.update(4.0);
  es.reset();
  BOOST_TEST(!es.has_best());
  BOOST_TEST(es.updates() == 0);
  BOOST_TEST(es.update(10.0));  // the first update after a reset always improves
  BOOST_TEST(es.best_step() == 0);
}

BOOST_AUTO_TEST_CASE(invalid_options_and_metrics_are_rejected) {
  BOOST_CHECK_EXCEPTION(EarlyStopping(EarlyStopping::Options{.patience = 0}), moerb::error,
                        message_has({"EarlyStopping", "patience = 0"}));
  BOOST_CHECK_EXCEPTION(EarlyStopping(EarlyStopping::Options{.min_delta = -0.1}), moerb::error,
                        message_has({"EarlyStopping", "min_delta"}));
  EarlyStopping es;
  es.update(1.0);
  BOOST_CHECK_EXCEPTION(es.update(std::numeric_limits<double>::quiet_NaN(), 7), moerb::error,
                        message_has({"EarlyStopping::update", "nan", "step 7"}));
  BOOST_TEST(es.updates() == 1);  // the rejected metric was not counted
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_early_stopping

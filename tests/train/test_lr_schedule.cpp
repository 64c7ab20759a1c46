// Tests for include/moerb/train/lr_schedule.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

#include "moerb/train/lr_schedule.hpp"
#include "train/toy_model.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_lr_schedule {

using moerb::LRSchedule;
using moerb::test::message_has;
using Decay = LRSchedule::Decay;

namespace {

LRSchedule make(Decay decay, double min_lr_ratio = 0.0, std::int64_t warmup = 10,
                std::int64_t total = 110) {
  return LRSchedule(LRSchedule::Options{.base_lr = 0.2,
                                        .warmup_steps = warmup,
                                        .total_steps = total,
                                        .decay = decay,
                                        .min_lr_ratio = min_lr_ratio});
}

bool close(double a, double b) {
  return std::abs(a - b) <= 1e-15;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lr_schedule)

BOOST_AUTO_TEST_CASE(warmup_is_linear_from_zero) {
  for (Decay d : {Decay::constant, Decay::linear, Decay::cosine}) {
    const LRSchedule s = make(d);
    BOOST_TEST(s.lr(0) == 0.0);
    BOOST_TEST(close(s.lr(1), 0.02));
    BOOST_TEST(close(s.lr(5), 0.1));
    BOOST_TEST(close(s.lr(9), 0.18));
    BOOST_TEST(s.lr(10) == 0.2);  // warmup end: the peak, exactly
  }
}

BOOST_AUTO_TEST_CASE(constant_stays_at_base_lr) {
  const LRSchedule s = make(Decay::constant, 0.5);
  BOOST_TEST(s.lr(10) == 0.2);
  BOOST_TEST(s.lr(60) == 0.2);
  BOOST_TEST(s.lr(110) == 0.2);
  BOOST_TEST(s.lr(1000000) == 0.2);
}

BOOST_AUTO_TEST_CASE(linear_decay_at_key_steps) {
  const LRSchedule s = make(Decay::linear);
  BOOST_TEST(s.lr(10) == 0.2);
  BOOST_TEST(close(s.lr(35), 0.2 * 0.75));
  BOOST_TEST(close(s.lr(60), 0.1));  // middle of decay
  BOOST_TEST(s.lr(110) == 0.0);      // end
  BOOST_TEST(s.lr(500) == 0.0);      // beyond end
}

BOOST_AUTO_TEST_CASE(linear_decay_to_a_floor) {
  const LRSchedule s = make(Decay::linear, 0.1);
  BOOST_TEST(close(s.lr(60), 0.2 * (0.1 + 0.9 * 0.5)));
  BOOST_TEST(close(s.lr(110), 0.02));
  BOOST_TEST(close(s.lr(111), 0.02));
}

BOOST_AUTO_TEST_CASE(cosine_decay_at_key_steps) {
  const LRSchedule s = make(Decay::cosine);
  BOOST_TEST(s.lr(10) == 0.2);
  BOOST_TEST(close(s.lr(35), 0.2 * 0.5 * (1 + std::cos(std::numbers::pi / 4))));
  BOOST_TEST(close(s.lr(60), 0.1));  // half-way down the half-cosine
  BOOST_TEST(close(s.lr(85), 0.2 * 0.5 * (1 + std::cos(3 * std::numbers::pi / 4))));
  BOOST_TEST(s.lr(110) == 0.0);
  BOOST_TEST(s.lr(1000) == 0.0);
}

BOOST_AUTO_TEST_CASE(cosine_decay_to_a_floor_is_monotone) {
  const LRSchedule s = make(Decay::cosine, 0.1);
  BOOST_TEST(close(s.lr(60), 0.2 * (0.1 + 0.9 * 0.5)));
  BOOST_TEST(close(s.lr(110), 0.02));
  BOOST_TEST(close(s.lr(200), 0.02));
  for (std::int64_t t = 11; t <= 110; ++t) BOOST_TEST(s.lr(t) <= s.lr(t - 1));
}

BOOST_AUTO_TEST_CASE(no_warmup_starts_at_base_lr) {
  const LRSchedule s = make(Decay::linear, 0.0, 0, 100);
  BOOST_TEST(s.lr(0) == 0.2);
  BOOST_TEST(close(s.lr(50), 0.1));
  BOOST_TEST(s.lr(100) == 0.0);
}

BOOST_AUTO_TEST_CASE(total_equal_to_warmup_decays_at_once) {
  const LRSchedule s = make(Decay::cosine, 0.25, 10, 10);
  BOOST_TEST(close(s.lr(5), 0.1));
  BOOST_TEST(close(s.lr(10), 0.05));
  BOOST_TEST(close(s.lr(11), 0.05));
}

BOOST_AUTO_TEST_CASE(invalid_options_and_steps_are_rejected) {
  BOOST_CHECK_EXCEPTION(LRSchedule(LRSchedule::Options{.base_lr = -1.0}), moerb::error,
                        message_has({"LRSchedule", "base_lr"}));
  BOOST_CHECK_EXCEPTION(LRSchedule(LRSchedule::Options{.warmup_steps = -1}), moerb::error,
                        message_has({"LRSchedule", "warmup_steps = -1"}));
  BOOST_CHECK_EXCEPTION(
      LRSchedule(LRSchedule::Options{.warmup_steps = 10, .total_steps = 5, .decay = Decay::linear}),
      moerb::error, message_has({"LRSchedule", "total_steps = 5", "warmup_steps = 10"}));
  BOOST_CHECK_EXCEPTION(LRSchedule(LRSchedule::Options{.min_lr_ratio = 1.5}), moerb::error,
                        message_has({"LRSchedule", "min_lr_ratio"}));
  BOOST_CHECK_EXCEPTION(
      LRSchedule(LRSchedule::Options{.base_lr = std::numeric_limits<double>::infinity()}),
      moerb::error, message_has({"LRSchedule", "base_lr"}));
  BOOST_CHECK_EXCEPTION((void)make(Decay::cosine).lr(-1), moerb::error,
                        message_has({"LRSchedule::lr", "step = -1"}));
  // Constant decay ignores total_steps.
  BOOST_CHECK_NO_THROW(LRSchedule(LRSchedule::Options{.warmup_steps = 10, .total_steps = 0}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_lr_schedule

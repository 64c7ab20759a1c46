// Tests for include/moerb/train/progress.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/train/progress.hpp"
#include "train/toy_model.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_progress {

using moerb::ProgressBar;
using moerb::test::message_has;

namespace {

/// A clock the test moves by hand.
struct FakeClock {
  double now = 1000.0;
  ProgressBar::Clock clock() {
    return [this] { return now; };
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::size_t count(const std::string& text, char c) {
  std::size_t n = 0;
  for (char x : text) n += (x == c);
  return n;
}

/// The last redrawn frame: the text after the final '\r' (trailing newline dropped).
std::string last_frame(const std::string& text) {
  std::string frame = text.substr(text.rfind('\r') + 1);
  if (!frame.empty() && frame.back() == '\n') frame.pop_back();
  return frame;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(progress)

BOOST_AUTO_TEST_CASE(plain_mode_logs_every_n_steps_and_at_epoch_ends) {
  FakeClock t;
  std::ostringstream out;
  {
    ProgressBar bar(
        ProgressBar::Options{
            .total_steps = 10, .log_every = 4, .interactive = false, .clock = t.clock()},
        out);
    BOOST_TEST(!bar.interactive());
    bar.start_epoch(1);
    for (int s = 1; s <= 5; ++s) {
      t.now += 2.0;  // 2 s per step
      bar.update(s, 1.0 / s);
    }
    bar.set_metric("dev_acc", 0.8125);
    bar.end_epoch();
    t.now += 60.0;  // evaluation between epochs: not step time
    bar.start_epoch(2);
    for (int s = 6; s <= 10; ++s) {
      t.now += 2.0;
      bar.update(s, 0.4123);
    }
    bar.end_epoch();  // the step-10 line already shows this state
  }
  const auto lines = lines_of(out.str());
  BOOST_REQUIRE_EQUAL(lines.size(), 4u);
  BOOST_TEST(lines[0] == "epoch 1 step 4/10 loss 0.2500 eta 00:00:12");
  BOOST_TEST(lines[1] == "epoch 1 step 5/10 loss 0.2000 dev_acc 0.8125 eta 00:00:10");
  BOOST_TEST(lines[2] == "epoch 2 step 8/10 loss 0.4123 dev_acc 0.8125 eta 00:00:04");
  BOOST_TEST(lines[3] == "epoch 2 step 10/10 loss 0.4123 dev_acc 0.8125 eta 00:00:00");
  BOOST_TEST(out.str().find('\r') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(plain_mode_logs_a_metric_set_after_the_last_step) {
  FakeClock t;
  std::ostringstream out;
  ProgressBar bar(
      ProgressBar::Options{
          .total_steps = 4, .log_every = 2, .interactive = false, .clock = t.clock()},
      out);
  for (int s = 1; s <= 4; ++s) {
    t.now += 1.0;
    bar.update(s, 0.5);
  }
  bar.set_metric("dev_loss", 0.25);
  bar.end_epoch();
  bar.finish();  // nothing new to log
  const auto lines = lines_of(out.str());
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);  // steps 2, 4, then the epoch end with the metric
  BOOST_TEST(lines[0] == "step 2/4 loss 0.5000 eta 00:00:02");
  BOOST_TEST(lines[2] == "step 4/4 loss 0.5000 dev_loss 0.2500 eta 00:00:00");
}

BOOST_AUTO_TEST_CASE(eta_is_a_moving_average_of_step_time) {
  FakeClock t;
  std::ostringstream out;
  ProgressBar bar(
      ProgressBar::Options{
          .total_steps = 100, .interactive = false, .eta_smoothing = 0.5, .clock = t.clock()},
      out);
  BOOST_TEST(bar.eta_seconds() < 0.0);  // unknown before a timed step
  t.now += 1.0;
  bar.update(1, 0.0);
  BOOST_TEST(bar.seconds_per_step() == 1.0);
  t.now += 3.0;
  bar.update(2, 0.0);
  BOOST_TEST(bar.seconds_per_step() == 2.0);  // 0.5·3 + 0.5·1
  t.now += 8.0;
  bar.update(4, 0.0);                         // two steps in 8 s: 4 s each
  BOOST_TEST(bar.seconds_per_step() == 3.0);  // 0.5·4 + 0.5·2
  BOOST_TEST(bar.eta_seconds() == 96.0 * 3.0);
  bar.update(4, 1.0);  // same step again: no new timing
  BOOST_TEST(bar.seconds_per_step() == 3.0);
  bar.start_epoch(2);  // a gap before an epoch does not count
  t.now += 1000.0;
  bar.start_epoch(3);
  t.now += 3.0;
  bar.update(5, 0.0);
  BOOST_TEST(bar.seconds_per_step() == 3.0);
}

BOOST_AUTO_TEST_CASE(interactive_mode_redraws_one_line_at_most_ten_times_a_second) {
  FakeClock t;
  std::ostringstream out;
  ProgressBar bar(ProgressBar::Options{.total_steps = 10,
                                       .interactive = true,
                                       .bar_width = 10,
                                       .eta_smoothing = 1.0,
                                       .clock = t.clock()},
                  out);
  BOOST_TEST(bar.interactive());
  bar.start_epoch(2);
  // Binary fractions of a second keep the clock arithmetic exact.
  t.now += 0.0625;
  bar.update(1, 0.9);  // first frame: drawn
  BOOST_TEST(count(out.str(), '\r') == 1u);
  t.now += 0.0625;
  bar.update(2, 0.8);  // 0.0625 s after the last frame: skipped
  BOOST_TEST(count(out.str(), '\r') == 1u);
  t.now += 0.0625;
  bar.update(3, 0.7);  // 0.125 s after it: drawn
  BOOST_TEST(count(out.str(), '\r') == 2u);
  BOOST_TEST(last_frame(out.str()) == "epoch 2 [###-------] 3/10 00:00:00<00:00:00 loss 0.7000");
  t.now += 7.0;
  bar.update(4, 0.6123);  // 7 s for this step: ETA 6 · 7 s
  BOOST_TEST(count(out.str(), '\r') == 3u);
  BOOST_TEST(last_frame(out.str()) == "epoch 2 [####------] 4/10 00:00:07<00:00:42 loss 0.6123");
  bar.set_metric("dev_acc", 0.5);
  t.now += 0.0078125;
  bar.update(10, 0.5);  // the last step is always drawn
  BOOST_TEST(count(out.str(), '\r') == 4u);
  BOOST_TEST(last_frame(out.str()) ==
             "epoch 2 [##########] 10/10 00:00:07<00:00:00 loss 0.5000 dev_acc 0.5000");
  BOOST_TEST(out.str().find('\n') == std::string::npos);  // still one line
  bar.end_epoch();
  BOOST_TEST(out.str().back() == '\n');
  BOOST_TEST(count(out.str(), '\n') == 1u);
}

BOOST_AUTO_TEST_CASE(interactive_mode_blanks_the_rest_of_a_longer_previous_frame) {
  FakeClock t;
  std::ostringstream out;
  ProgressBar bar(ProgressBar::Options{.total_steps = 5,
                                       .interactive = true,
                                       .bar_width = 5,
                                       .min_redraw_interval = 0.0,
                                       .clock = t.clock()},
                  out);
  bar.set_metric("dev_perplexity", 123.456);
  t.now += 1.0;
  bar.update(1, 2.0);
  const std::string long_frame = last_frame(out.str());
  bar.clear_metric();
  t.now += 1.0;
  bar.update(2, 1.0);
  const std::string frame = last_frame(out.str());
  BOOST_TEST(frame.size() == long_frame.size());
  BOOST_TEST(frame.find("[##---] 2/5 00:00:02<00:00:03 loss 1.0000 ") == 0u);
  BOOST_TEST(frame.find_first_not_of(' ', frame.find("1.0000") + 6) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(destructor_ends_an_open_line) {
  FakeClock t;
  std::ostringstream out;
  {
    ProgressBar bar(ProgressBar::Options{.total_steps = 3, .interactive = true, .clock = t.clock()},
                    out);
    t.now += 1.0;
    bar.update(1, std::numeric_limits<double>::quiet_NaN());
    BOOST_TEST(out.str().find("loss nan") != std::string::npos);  // shown, not rejected
  }
  BOOST_TEST(out.str().back() == '\n');
  BOOST_TEST(count(out.str(), '\n') == 1u);
}

BOOST_AUTO_TEST_CASE(a_string_stream_is_not_a_terminal) {
  std::ostringstream out;
  ProgressBar bar(ProgressBar::Options{.total_steps = 3}, out);
  BOOST_TEST(!bar.interactive());
}

BOOST_AUTO_TEST_CASE(format_hms) {
  BOOST_TEST(ProgressBar::format_hms(0.0) == "00:00:00");
  BOOST_TEST(ProgressBar::format_hms(70.0) == "00:01:10");
  BOOST_TEST(ProgressBar::format_hms(3661.4) == "01:01:01");
  BOOST_TEST(ProgressBar::format_hms(59.6) == "00:01:00");
  BOOST_TEST(ProgressBar::format_hms(360000.0) == "100:00:00");
  BOOST_TEST(ProgressBar::format_hms(-1.0) == "--:--:--");
  BOOST_TEST(ProgressBar::format_hms(std::nan("")) == "--:--:--");
  BOOST_TEST(ProgressBar::format_hms(std::numeric_limits<double>::infinity()) == "--:--:--");
}

BOOST_AUTO_TEST_CASE(invalid_options_and_steps_are_rejected) {
  std::ostringstream out;
  BOOST_CHECK_EXCEPTION(ProgressBar(ProgressBar::Options{.total_steps = 0}, out), moerb::error,
                        message_has({"ProgressBar", "total_steps = 0"}));
  BOOST_CHECK_EXCEPTION(ProgressBar(ProgressBar::Options{.log_every = 0}, out), moerb::error,
                        message_has({"ProgressBar", "log_every = 0"}));
  BOOST_CHECK_EXCEPTION(ProgressBar(ProgressBar::Options{.eta_smoothing = 0.0}, out), moerb::error,
                        message_has({"ProgressBar", "eta_smoothing"}));
  FakeClock t;
  ProgressBar bar(ProgressBar::Options{.total_steps = 10, .interactive = false, .clock = t.clock()},
                  out);
  bar.update(5, 1.0);
  BOOST_CHECK_EXCEPTION(bar.update(4, 1.0), moerb::error,
                        message_has({"ProgressBar::update", "step = 4", "[5, 10]"}));
  BOOST_CHECK_EXCEPTION(bar.update(11, 1.0), moerb::error,
                        message_has({"ProgressBar::update", "step = 11"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_progress

#pragma once
// Training progress display: a redrawn one-line bar on an interactive terminal, plain log lines
// otherwise (files, pipes, CI logs), with an ETA from a moving average of step time.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>

#if __has_include(<unistd.h>)
#include <unistd.h>
#define MOERB_PROGRESS_HAS_ISATTY 1
#else
#define MOERB_PROGRESS_HAS_ISATTY 0
#endif

#include "moerb/core/error.hpp"

namespace moerb {

/// Progress of a training run of `total_steps` optimizer steps (counted over all epochs).
///
/// Interactive mode (a terminal): one line redrawn in place with "\r", at most once per
/// `min_redraw_interval` seconds (10 Hz by default) plus always at the last step and at epoch ends:
///
///     epoch 2 [#########---------------------] 140/400 00:00:35<00:01:10 loss 0.4123 dev_acc
///     0.8125
///
/// (bar, step/total, elapsed<ETA, last loss, optional metric); end_epoch() finishes the line with
/// "\n" so every epoch leaves its final state on screen.
///
/// Plain mode (anything else): one line every `log_every` steps, at the last step, and at epoch
/// ends (when something changed since the previous line):
///
///     epoch 2 step 140/400 loss 0.4123 dev_acc 0.8125 eta 00:01:10
///
/// "epoch E " is left out until start_epoch() is called. The loss shown is the last value passed to
/// update() (pass a running mean to show one); NaN losses are shown, not rejected, because seeing
/// them is the point. The ETA is (total − step) times an exponential moving average of seconds per
/// step, so it follows changes of pace without jumping at every step; it reads "--:--:--" until one
/// step has been timed. Time between end_epoch() and the next start_epoch() (evaluation,
/// checkpointing) counts as elapsed time but not as step time.
///
/// The stream is held by reference and must outlive the bar; the destructor calls finish().
class ProgressBar {
 public:
  /// Monotonic time in seconds (any origin).
  using Clock = std::function<double()>;

  struct Options {
    std::int64_t total_steps = 1;  ///< > 0
    std::int64_t log_every = 50;   ///< plain mode: a line every this many steps (> 0)
    /// Redrawn line (true) or log lines (false); unset: redrawn exactly when the stream is
    /// std::cerr / std::clog / std::cout and the matching file descriptor is a terminal.
    std::optional<bool> interactive = std::nullopt;
    int bar_width = 30;                ///< characters inside the brackets (>= 1)
    double min_redraw_interval = 0.1;  ///< seconds between redraws (>= 0)
    double eta_smoothing = 0.1;        ///< weight of the newest step time in the average, (0, 1]
    Clock clock = {};                  ///< default: std::chrono::steady_clock
  };

  explicit ProgressBar(Options options, std::ostream& out = std::cerr)
      : options_(std::move(options)), out_(out) {
    MOERB_REQUIRE(options_.total_steps > 0, "ProgressBar: total_steps = ", options_.total_steps,
            ", expected > 0");
    MOERB_REQUIRE(options_.log_every > 0, "ProgressBar: log_every = ", options_.log_every,
            ", expected > 0");
    MOERB_REQUIRE(options_.bar_width >= 1, "ProgressBar: bar_width = ", options_.bar_width,
            ", expected >= 1");
    MOERB_REQUIRE(std::isfinite(options_.min_redraw_interval) && options_.min_redraw_interval >= 0.0,
            "ProgressBar: min_redraw_interval = ", options_.min_redraw_interval,
            ", expected a finite value >= 0");
    MOERB_REQUIRE(options_.eta_smoothing > 0.0 && options_.eta_smoothing <= 1.0,
            "ProgressBar: eta_smoothing = ", options_.eta_smoothing, ", expected in (0, 1]");
    if (!options_.clock) {
      options_.clock = [] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
      };
    }
    interactive_ = options_.interactive.value_or(stream_is_terminal(out_));
    start_time_ = options_.clock();
    last_time_ = start_time_;
  }

  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  ~ProgressBar() {
    try {
      finish();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
  }

  [[nodiscard]] bool interactive() const { return interactive_; }

  /// Labels what follows with `epoch` and restarts the step timer (see the class comment).
  void start_epoch(std::int64_t epoch) {
    epoch_ = epoch;
    last_time_ = options_.clock();
  }

  /// Reports that `step` steps (over all epochs; 0 <= step <= total_steps, never decreasing) are
  /// done, the last with loss `loss`.
  void update(std::int64_t step, double loss) {
    MOERB_REQUIRE(step >= last_step_ && step <= options_.total_steps,
            "ProgressBar::update: step = ", step, ", expected in [", last_step_, ", ",
            options_.total_steps, "] (steps count up over all epochs)");
    const double now = options_.clock();
    if (step > last_step_) {
      const double per_step = (now - last_time_) / static_cast<double>(step - last_step_);
      seconds_per_step_ = timed_ ? options_.eta_smoothing * per_step +
                                       (1.0 - options_.eta_smoothing) * seconds_per_step_
                                 : per_step;
      timed_ = true;
      last_time_ = now;
      last_step_ = step;
    }
    loss_ = loss;
    has_loss_ = true;
    dirty_ = true;
    if (interactive_) {
      const bool due = !line_open_ || step == options_.total_steps ||
                       now - last_draw_ >= options_.min_redraw_interval;
      if (due) redraw(now);
    } else if ((step % options_.log_every == 0 || step == options_.total_steps) &&
               step != logged_step_) {
      log_line();
    }
  }

  /// Shows `name value` after the loss from now on (e.g. "dev_acc", after an evaluation).
  void set_metric(std::string name, double value) {
    metric_name_ = std::move(name);
    metric_value_ = value;
    dirty_ = true;
  }
  void clear_metric() {
    metric_name_.clear();
    dirty_ = true;
  }

  /// Marks the end of an epoch: interactive mode draws the final state and ends the line; plain
  /// mode logs a line unless the previous one already shows the current state.
  void end_epoch() {
    if (interactive_) {
      redraw(options_.clock());
      out_ << '\n' << std::flush;
      line_open_ = false;
      drawn_length_ = 0;
    } else if (dirty_) {
      log_line();
    }
  }

  /// Ends the display: closes an open interactive line, or logs a final plain line if the state
  /// changed since the last one. Idempotent; called by the destructor.
  void finish() {
    if (interactive_) {
      if (line_open_) {
        out_ << '\n' << std::flush;
        line_open_ = false;
        drawn_length_ = 0;
      }
    } else if (dirty_ && has_loss_) {
      log_line();
    }
  }

  /// Estimated seconds to the last step, or a negative value while unknown.
  [[nodiscard]] double eta_seconds() const {
    if (!timed_) return -1.0;
    return seconds_per_step_ * static_cast<double>(options_.total_steps - last_step_);
  }

  /// The moving average of seconds per step (0 until one step has been timed).
  [[nodiscard]] double seconds_per_step() const { return timed_ ? seconds_per_step_ : 0.0; }

  /// "hh:mm:ss" for a duration in seconds, rounded to the nearest second (hours may exceed 99);
  /// "--:--:--" for a negative or non-finite duration.
  [[nodiscard]] static std::string format_hms(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0.0) return "--:--:--";
    const auto total = static_cast<std::int64_t>(std::llround(seconds));
    std::ostringstream os;
    os << std::setfill('0') << std::setw(2) << total / 3600 << ':' << std::setw(2)
       << (total / 60) % 60 << ':' << std::setw(2) << total % 60;
    return os.str();
  }

 private:
  static bool stream_is_terminal(const std::ostream& out) {
#if MOERB_PROGRESS_HAS_ISATTY
    if (&out == &std::cerr || &out == &std::clog) return ::isatty(STDERR_FILENO) != 0;
    if (&out == &std::cout) return ::isatty(STDOUT_FILENO) != 0;
#else
    (void)out;
#endif
    return false;
  }

  void append_loss_and_metric(std::ostringstream& os) const {
    os << std::fixed << std::setprecision(4);
    if (has_loss_) os << " loss " << loss_;
    if (!metric_name_.empty()) os << ' ' << metric_name_ << ' ' << metric_value_;
  }

  void log_line() {
    std::ostringstream os;
    if (epoch_) os << "epoch " << *epoch_ << ' ';
    os << "step " << last_step_ << '/' << options_.total_steps;
    append_loss_and_metric(os);
    os << " eta " << format_hms(eta_seconds());
    out_ << os.str() << '\n' << std::flush;
    logged_step_ = last_step_;
    dirty_ = false;
  }

  void redraw(double now) {
    std::ostringstream os;
    if (epoch_) os << "epoch " << *epoch_ << ' ';
    const auto width = static_cast<std::int64_t>(options_.bar_width);
    const std::int64_t filled = width * last_step_ / options_.total_steps;
    os << '[' << std::string(static_cast<std::size_t>(filled), '#')
       << std::string(static_cast<std::size_t>(width - filled), '-') << "] " << last_step_ << '/'
       << options_.total_steps << ' ' << format_hms(now - start_time_) << '<'
       << format_hms(eta_seconds());
    append_loss_and_metric(os);
    std::string line = os.str();
    const std::size_t length = line.size();
    // Blank out the tail of a longer previous line (no terminal control codes needed).
    if (length < drawn_length_) line.append(drawn_length_ - length, ' ');
    out_ << '\r' << line << std::flush;
    drawn_length_ = length;
    line_open_ = true;
    last_draw_ = now;
    dirty_ = false;
  }

  Options options_;
  std::ostream& out_;
  bool interactive_ = false;
  std::optional<std::int64_t> epoch_;
  double start_time_ = 0.0;
  double last_time_ = 0.0;  ///< clock at last_step_ (or at the latest start_epoch)
  std::int64_t last_step_ = 0;
  bool timed_ = false;
  double seconds_per_step_ = 0.0;
  double loss_ = 0.0;
  bool has_loss_ = false;
  std::string metric_name_;
  double metric_value_ = 0.0;
  std::int64_t logged_step_ = -1;  ///< plain mode: the step of the last line
  bool dirty_ = false;             ///< state changed since the last line was written
  bool line_open_ = false;         ///< interactive: a drawn line not yet ended with "\n"
  std::size_t drawn_length_ = 0;
  double last_draw_ = 0.0;
};

}  // namespace moerb

#pragma once
// Goal functions of classification attacks: what the attack tries to reach, and a score that
// searches maximise on the way (TextAttack's GoalFunction; Morris et al. 2020, "TextAttack: A
// Framework for Adversarial Attacks, Data Augmentation, and Adversarial Training in NLP").
//
// A ClassificationGoal G provides, for a candidate's class probabilities p, the original text's
// probabilities p0 and the gold label y:
//   double score(p, p0, y) const;      // higher is closer to the goal
//   bool succeeded(p, p0, y) const;    // the goal holds
//   bool skips(p0, y) const;           // the example is not attacked (e.g. already misclassified)
#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>

#include "moerb/attacks/victim.hpp"
#include "moerb/core/error.hpp"

namespace moerb {

template <class G>
concept ClassificationGoal = std::copyable<G> &&
    requires(const G& goal, std::span<const double> probabilities, std::int32_t label) {
  { goal.score(probabilities, probabilities, label) } -> std::convertible_to<double>;
  { goal.succeeded(probabilities, probabilities, label) } -> std::convertible_to<bool>;
  { goal.skips(probabilities, label) } -> std::convertible_to<bool>;
};

namespace detail::attacks {
inline double probability_of(std::span<const double> p, std::int32_t cls, std::string_view where) {
  MOERB_REQUIRE(cls >= 0 && static_cast<std::size_t>(cls) < p.size(), where, ": class ", cls,
                " is out of range [0, ", p.size(), ")");
  return p[static_cast<std::size_t>(cls)];
}
}  // namespace detail::attacks

/// Untargeted misclassification: succeed when the arg max is not the gold label; score 1 − p(y).
/// Examples the model already gets wrong are skipped.
struct UntargetedClassification {
  [[nodiscard]] double score(std::span<const double> p, std::span<const double>,
                             std::int32_t label) const {
    return 1.0 - detail::attacks::probability_of(p, label, "UntargetedClassification");
  }
  [[nodiscard]] bool succeeded(std::span<const double> p, std::span<const double>,
                               std::int32_t label) const {
    (void)detail::attacks::probability_of(p, label, "UntargetedClassification");
    return predicted_class(p) != label;
  }
  [[nodiscard]] bool skips(std::span<const double> p0, std::int32_t label) const {
    return succeeded(p0, p0, label);
  }
};

/// Targeted: make the arg max `target`; score p(target). Examples already predicted as `target`
/// are skipped, and so are those whose gold label is `target` (there is nothing to attack).
struct TargetedClassification {
  std::int32_t target = 0;
  [[nodiscard]] double score(std::span<const double> p, std::span<const double>,
                             std::int32_t) const {
    return detail::attacks::probability_of(p, target, "TargetedClassification");
  }
  [[nodiscard]] bool succeeded(std::span<const double> p, std::span<const double>,
                               std::int32_t) const {
    (void)detail::attacks::probability_of(p, target, "TargetedClassification");
    return predicted_class(p) == target;
  }
  [[nodiscard]] bool skips(std::span<const double> p0, std::int32_t label) const {
    return label == target || succeeded(p0, p0, label);
  }
};

/// Minimum confidence drop: succeed when the probability of the originally predicted class has
/// fallen by at least `drop` (absolute); score = that fall. Examples the model gets wrong are
/// skipped (as TextAttack's untargeted goals do).
struct MinimumConfidenceDrop {
  double drop = 0.2;
  [[nodiscard]] double score(std::span<const double> p, std::span<const double> p0,
                             std::int32_t) const {
    const std::int32_t c = predicted_class(p0);
    return detail::attacks::probability_of(p0, c, "MinimumConfidenceDrop") -
           detail::attacks::probability_of(p, c, "MinimumConfidenceDrop");
  }
  [[nodiscard]] bool succeeded(std::span<const double> p, std::span<const double> p0,
                               std::int32_t label) const {
    MOERB_REQUIRE(drop > 0 && drop <= 1, "MinimumConfidenceDrop: drop = ", drop,
                  ", expected in (0, 1]");
    return score(p, p0, label) >= drop;
  }
  [[nodiscard]] bool skips(std::span<const double> p0, std::int32_t label) const {
    return predicted_class(p0) != label;
  }
};

static_assert(ClassificationGoal<UntargetedClassification>);
static_assert(ClassificationGoal<TargetedClassification>);
static_assert(ClassificationGoal<MinimumConfidenceDrop>);

}  // namespace moerb

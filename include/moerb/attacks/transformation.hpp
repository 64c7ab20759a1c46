#pragma once
// The Transformation concept: how an attack proposes perturbed texts (TextAttack's
// Transformation). Given the current text and the word slots it may edit, a transformation appends
// candidate texts to `out`, each made with AttackedText::with_word / with_words / with_appended so
// that candidate.last_edit() names the slots it changed:
//
//   void transform(const AttackedText& text, std::span<const WordPosition> positions,
//                  std::vector<AttackedText>& out, Rng& rng) const;
//
// Word- and character-level transformations make candidates at each given position, in position
// order; sentence-level ones (appending a distractor, casing) may ignore `positions` and edit the
// attacked sides as a whole. Transformations that draw random edits use `rng` (and only it), so
// the same seed gives the same candidates; deterministic ones ignore it. The constraints then
// filter the candidates (constraint.hpp), and a search method picks among them (search.hpp).
//
// CompositeTransformation<T...> offers the candidates of several transformations, in order.
#include <concepts>
#include <cstdint>
#include <span>
#include <tuple>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/core/rng.hpp"

namespace moerb {

template <class T>
concept Transformation = std::copyable<T> &&
    requires(const T& t, const AttackedText& text, std::span<const WordPosition> positions,
             std::vector<AttackedText>& out, Rng& rng) {
  t.transform(text, positions, out, rng);
};

/// The candidates of each transformation in turn; transformation i draws from rng.split(i).
template <Transformation... Ts>
class CompositeTransformation {
 public:
  static_assert(sizeof...(Ts) >= 1, "CompositeTransformation: give at least one transformation");
  CompositeTransformation() = default;
  explicit CompositeTransformation(Ts... parts) : parts_(std::move(parts)...) {}

  void transform(const AttackedText& text, std::span<const WordPosition> positions,
                 std::vector<AttackedText>& out, Rng& rng) const {
    std::apply(
        [&](const auto&... part) {
          std::uint64_t tag = 0;
          (
              [&] {
                Rng r = rng.split(tag++);
                part.transform(text, positions, out, r);
              }(),
              ...);
        },
        parts_);
    (void)rng.next_u64();  // the caller's stream moves on, so a second call differs
  }

  [[nodiscard]] const std::tuple<Ts...>& parts() const { return parts_; }

 private:
  std::tuple<Ts...> parts_;
};

}  // namespace moerb

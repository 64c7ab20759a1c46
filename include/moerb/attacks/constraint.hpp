#pragma once
// The Constraint concepts: which candidate texts an attack may keep (TextAttack's Constraint and
// PreTransformationConstraint). A constraint type provides at least one of:
//
//   bool allows_position(const AttackedText& text, WordPosition p) const;
//       // before transforming: may slot p of the current text be edited? (stop words, no word
//       // modified twice, maximum fraction of words modified)
//   bool allows(const AttackedText& candidate, const AttackedText& original) const;
//       // after transforming: is this candidate acceptable next to the original text? It looks at
//       // candidate.last_edit() (edit distance, part of speech, embedding cosine)
//   void filter(std::span<const AttackedText> candidates, const AttackedText& original,
//               std::vector<std::uint8_t>& keep);
//       // the batched form: clears keep[i] for each rejected candidate; used when a constraint
//       // needs a model (the language-model perplexity constraint scores every candidate in one
//       // batched forward). May be non-const (the model's buffers).
//
// Constraints compare against the original text (TextAttack's compare_against_original), so a
// sequence of edits cannot drift step by step past a bound.
#include <concepts>
#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>
#include <vector>

#include "moerb/attacks/attacked_text.hpp"
#include "moerb/core/error.hpp"

namespace moerb {

template <class C>
concept PositionConstraint = requires(const C& c, const AttackedText& text, WordPosition p) {
  { c.allows_position(text, p) } -> std::convertible_to<bool>;
};

template <class C>
concept CandidateConstraint = requires(const C& c, const AttackedText& candidate,
                                       const AttackedText& original) {
  { c.allows(candidate, original) } -> std::convertible_to<bool>;
};

template <class C>
concept BatchConstraint = requires(C& c, std::span<const AttackedText> candidates,
                                   const AttackedText& original, std::vector<std::uint8_t>& keep) {
  c.filter(candidates, original, keep);
};

template <class C>
concept Constraint = std::copyable<C> &&
    (PositionConstraint<C> || CandidateConstraint<C> || BatchConstraint<C>);

namespace detail::attacks {

/// Whether every position constraint allows editing slot p.
template <class... Cs>
bool position_allowed(const std::tuple<Cs...>& constraints, const AttackedText& text,
                      WordPosition p) {
  return std::apply(
      [&](const auto&... c) {
        return ([&] {
          if constexpr (PositionConstraint<std::remove_cvref_t<decltype(c)>>) {
            return static_cast<bool>(c.allows_position(text, p));
          } else {
            return true;
          }
        }() && ...);
      },
      constraints);
}

/// Clears keep[i] for every candidate some constraint rejects: the per-candidate checks first,
/// then the batched ones on the survivors only.
template <class... Cs>
void filter_candidates(std::tuple<Cs...>& constraints, std::span<const AttackedText> candidates,
                       const AttackedText& original, std::vector<std::uint8_t>& keep) {
  keep.assign(candidates.size(), 1);
  std::apply(
      [&](auto&... c) {
        (
            [&] {
              using C = std::remove_cvref_t<decltype(c)>;
              if constexpr (CandidateConstraint<C>) {
                for (std::size_t i = 0; i < candidates.size(); ++i) {
                  if (keep[i] != 0 && !c.allows(candidates[i], original)) keep[i] = 0;
                }
              }
            }(),
            ...);
      },
      constraints);
  std::apply(
      [&](auto&... c) {
        (
            [&] {
              using C = std::remove_cvref_t<decltype(c)>;
              if constexpr (BatchConstraint<C>) {
                std::vector<AttackedText> alive;
                std::vector<std::size_t> where;
                for (std::size_t i = 0; i < candidates.size(); ++i) {
                  if (keep[i] != 0) {
                    alive.push_back(candidates[i]);
                    where.push_back(i);
                  }
                }
                if (alive.empty()) return;
                std::vector<std::uint8_t> k(alive.size(), 1);
                c.filter(std::span<const AttackedText>(alive), original, k);
                MOERB_REQUIRE(k.size() == alive.size(),
                              "a batch constraint resized its keep vector");
                for (std::size_t j = 0; j < alive.size(); ++j) {
                  if (k[j] == 0) keep[where[j]] = 0;
                }
              }
            }(),
            ...);
      },
      constraints);
}

}  // namespace detail::attacks

}  // namespace moerb

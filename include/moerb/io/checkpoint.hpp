#pragma once
// Model checkpoints as safetensors files: every parameter and buffer of a model under the names its
// visitors give ("experts.3.w_in", "router.bias"), so that a checkpoint is also a state dict that
// PyTorch's safetensors.torch.load_file reads (weights keep moerb's x·W layout).
//
// A model is any type with `Scalar` and `visit_parameters(visitor, prefix)` (moerb::HasParameters).
// Optional members, detected at compile time:
// - `void visit_buffers(visitor, std::string_view prefix)` calling `visitor(name, Matrix<Scalar>&)`
//   for non-trainable state (e.g. the DeepSeek-V3 router's selection bias): saved and loaded like
//   parameters.
// - `std::map<std::string, std::string> config_metadata() const`: the model's configuration
//   (layer sizes, expert counts, activation, ...) as strings; save_checkpoint stores it in the
//   file's metadata so that a checkpoint records the architecture it belongs to.
// - `void check_config_metadata(const std::map<std::string, std::string>& metadata)`: called by
//   load_checkpoint with the file's metadata before any tensor is compared or loaded; it should
//   throw moerb::error when the file was saved from a different architecture, which then fails
//   with the model's own explanation instead of a shape mismatch.
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/types.hpp"
#include "moerb/io/safetensors.hpp"

namespace moerb {

namespace detail::io {

template <class S>
struct BufferVisitorArchetype {
  void operator()(std::string_view, Matrix<S>&) const {}
};

template <class M>
concept HasBuffers = requires(M& model, BufferVisitorArchetype<typename M::Scalar> visitor) {
  model.visit_buffers(visitor, std::string_view{});
};

template <class M>
concept HasConfigMetadata = requires(const M& model) {
  { model.config_metadata() } -> std::convertible_to<std::map<std::string, std::string>>;
};

template <class M>
concept ChecksConfigMetadata = requires(M& model,
                                        const std::map<std::string, std::string>& metadata) {
  model.check_config_metadata(metadata);
};

/// The model's tensors in visiting order: parameters' values, then buffers.
template <HasParameters M>
std::vector<std::pair<std::string, Matrix<typename M::Scalar>*>> checkpoint_tensors(
    M& model, std::string_view where) {
  using S = typename M::Scalar;
  std::vector<std::pair<std::string, Matrix<S>*>> tensors;
  std::set<std::string, std::less<>> seen;
  const auto add = [&](std::string_view name, Matrix<S>& value) {
    MOERB_REQUIRE(seen.emplace(name).second, where, ": the model visits the name '", name, "' twice");
    tensors.emplace_back(std::string(name), &value);
  };
  model.visit_parameters([&](std::string_view name, Parameter<S>& p) { add(name, p.value); },
                         std::string_view{});
  if constexpr (HasBuffers<M>) {
    model.visit_buffers([&](std::string_view name, Matrix<S>& buffer) { add(name, buffer); },
                        std::string_view{});
  }
  return tensors;
}

inline std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += "'" + items[i] + "'";
  }
  return out;
}

}  // namespace detail::io

/// Saves every parameter (its value) and buffer of `model` to `path` (atomically; see
/// write_safetensors) as 2-D tensors [rows, cols] of `dtype` (default: the model's Scalar, F32 or
/// F64, which round-trips bit-exactly; F16/BF16 round to nearest even).
///
/// The file's metadata is `metadata`, then the model's config_metadata() when it has one, then
/// "format" = "moerb" and "scalar" = "float" / "double"; on equal keys the later source wins (so
/// metadata returned by load_checkpoint can be passed back in).
template <HasParameters Model>
void save_checkpoint(Model& model, const std::filesystem::path& path,
                     const std::map<std::string, std::string>& metadata = {},
                     std::optional<Dtype> dtype = std::nullopt) {
  using S = typename Model::Scalar;
  const std::string where = detail::concat("save_checkpoint('", path.string(), "')");
  const Dtype stored = dtype.value_or(native_dtype<S>);
  std::vector<TensorRecord> records;
  for (const auto& [name, value] : detail::io::checkpoint_tensors(model, where)) {
    records.push_back(make_tensor_record(name, *value, stored));
  }
  std::map<std::string, std::string> all_metadata = metadata;
  if constexpr (detail::io::HasConfigMetadata<Model>) {
    for (auto& [key, value] : std::as_const(model).config_metadata()) all_metadata[key] = value;
  }
  all_metadata["format"] = "moerb";
  all_metadata["scalar"] = std::same_as<S, float> ? "float" : "double";
  write_safetensors(path, records, all_metadata);
}

struct LoadOptions {
  /// Reject files holding tensors the model does not have (false: ignore them, e.g. to load
  /// part of a larger checkpoint).
  bool strict = true;
};

/// Loads `model`'s parameters and buffers from the safetensors file at `path` and returns the
/// file's metadata.
///
/// All-or-nothing: the file is validated (SafetensorsFile::open), the model's
/// check_config_metadata (if any) runs, every model tensor must be in the file with the model's
/// shape (a 2-D [rows, cols], or a 1-D [cols] for a 1 × cols tensor, as PyTorch stores biases),
/// and in strict mode the file must hold no other tensors; every problem found is listed in one
/// moerb::error, and only when there is none are all values converted to Scalar (F16, BF16 and
/// F32 exactly; F64 → float rounds to nearest) and written. Gradients and frozen flags are left
/// as they are. The file's dtype need not match the model's Scalar.
template <HasParameters Model>
std::map<std::string, std::string> load_checkpoint(Model& model, const std::filesystem::path& path,
                                                   const LoadOptions& options = {}) {
  using S = typename Model::Scalar;
  const std::string where = detail::concat("load_checkpoint('", path.string(), "')");
  const SafetensorsFile file = SafetensorsFile::open(path);
  if constexpr (detail::io::ChecksConfigMetadata<Model>)
    model.check_config_metadata(file.metadata());

  const auto tensors = detail::io::checkpoint_tensors(model, where);
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  std::set<std::string, std::less<>> known;
  for (const auto& [name, value] : tensors) {
    known.insert(name);
    if (!file.contains(name)) {
      missing.push_back(name);
      continue;
    }
    const std::vector<std::uint64_t> want{static_cast<std::uint64_t>(value->rows()),
                                          static_cast<std::uint64_t>(value->cols())};
    const std::vector<std::uint64_t>& have = file.info(name).shape;
    const bool row_vector = have.size() == 1 && want[0] == 1 && have[0] == want[1];
    if (have != want && !row_vector) {
      mismatched.push_back(detail::concat("'", name, "' is ", detail::io::shape_string(have),
                                          " in the file but ", detail::io::shape_string(want),
                                          " in the model"));
    }
  }
  std::vector<std::string> unknown;
  if (options.strict) {
    for (const std::string& name : file.names()) {
      if (!known.contains(name)) unknown.push_back(name);
    }
  }
  if (!missing.empty() || !mismatched.empty() || !unknown.empty()) {
    std::ostringstream os;
    os << where << ": nothing loaded:";
    if (!missing.empty()) {
      os << " " << missing.size()
         << " model tensor(s) missing from the file: " << detail::io::join_list(missing) << ";";
    }
    for (const std::string& m : mismatched) os << " shape mismatch: " << m << ";";
    if (!unknown.empty()) {
      os << " " << unknown.size()
         << " tensor(s) in the file unknown to the model: " << detail::io::join_list(unknown)
         << " (LoadOptions{.strict = false} ignores them);";
    }
    std::string message = os.str();
    message.pop_back();
    throw error(message);
  }

  std::vector<Matrix<S>> values;
  values.reserve(tensors.size());
  for (const auto& [name, value] : tensors) values.push_back(file.to_matrix<S>(name));
  for (std::size_t i = 0; i < tensors.size(); ++i) *tensors[i].second = values[i];
  return file.metadata();
}

}  // namespace moerb

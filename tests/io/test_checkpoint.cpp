// Tests for include/moerb/io/checkpoint.hpp
#include "moerb/io/checkpoint.hpp"

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#if defined(__unix__)
#include <sys/resource.h>

#include <csignal>
#endif

#include "moerb/core/rng.hpp"
#include "moerb/experts/ffn_expert.hpp"
#include "moerb/io/safetensors.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/routing/bias_balanced_router.hpp"
#include "support/messages.hpp"
#include "support/scratch_dir.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_io_checkpoint {

namespace fs = std::filesystem;
using moerb::Dtype;
using moerb::Index;
using moerb::Parameter;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;
using Metadata = std::map<std::string, std::string>;

namespace {

using moerb::test::message_has;
using moerb::test::ScratchDir;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <class S>
void fill(Matrix<S>& m, Rng& rng) {
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(rng.normal(0.0, 1.0));
}

template <class S>
bool same_bits(const Matrix<S>& a, const Matrix<S>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(S)) == 0);
}

/// Two parameters, one buffer, and both configuration hooks.
template <class S>
struct ToyModel {
  using Scalar = S;
  Index width;
  Parameter<S> weight;
  Parameter<S> bias;
  Matrix<S> running_mean;

  explicit ToyModel(Index w = 4)
      : width(w), weight(3, w), bias(1, w), running_mean(Matrix<S>::Zero(1, w)) {}

  void randomize(std::uint64_t seed) {
    Rng rng(seed);
    fill(weight.value, rng);
    fill(bias.value, rng);
    fill(running_mean, rng);
  }

  template <class V>
  void visit_parameters(V&& visitor, std::string_view prefix) {
    visitor(std::string_view(moerb::join_name(prefix, "weight")), weight);
    visitor(std::string_view(moerb::join_name(prefix, "bias")), bias);
  }
  template <class V>
  void visit_buffers(V&& visitor, std::string_view prefix) {
    visitor(std::string_view(moerb::join_name(prefix, "running_mean")), running_mean);
  }
  [[nodiscard]] Metadata config_metadata() const { return {{"toy.width", std::to_string(width)}}; }
  void check_config_metadata(const Metadata& metadata) const {
    const auto it = metadata.find("toy.width");
    MOERB_REQUIRE(it != metadata.end(), "ToyModel: the checkpoint has no toy.width");
    MOERB_REQUIRE(it->second == std::to_string(width), "ToyModel: the checkpoint has width ",
                   it->second, ", this model ", width);
  }
};

/// Parameters only, no hooks; shapes chosen by the test.
template <class S>
struct PlainModel {
  using Scalar = S;
  Parameter<S> a;
  Parameter<S> b;
  PlainModel(Index a_rows, Index a_cols, Index b_cols) : a(a_rows, a_cols), b(1, b_cols) {}
  template <class V>
  void visit_parameters(V&& visitor, std::string_view prefix) {
    visitor(std::string_view(moerb::join_name(prefix, "a")), a);
    visitor(std::string_view(moerb::join_name(prefix, "b")), b);
  }
};

/// Visits one name twice (a model bug the checkpoint must refuse to write).
struct DuplicateNames {
  using Scalar = double;
  Parameter<double> p{1, 1};
  template <class V>
  void visit_parameters(V&& visitor, std::string_view) {
    visitor(std::string_view("p"), p);
    visitor(std::string_view("p"), p);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(round_trip_is_bit_exact_in_the_native_dtype) {
  ScratchDir dir;
  ToyModel<double> saved;
  saved.randomize(1);
  saved.weight.value(0, 0) = -0.0;
  saved.weight.value(0, 1) = std::numeric_limits<double>::denorm_min();
  const fs::path path = dir / "toy.safetensors";
  moerb::save_checkpoint(saved, path, {{"run", "unit-test"}});
  ToyModel<double> loaded;
  const Metadata metadata = moerb::load_checkpoint(loaded, path);
  BOOST_TEST(same_bits(loaded.weight.value, saved.weight.value));
  BOOST_TEST(same_bits(loaded.bias.value, saved.bias.value));
  BOOST_TEST(same_bits(loaded.running_mean, saved.running_mean));
  const Metadata expected = {
      {"format", "moerb"}, {"scalar", "double"}, {"toy.width", "4"}, {"run", "unit-test"}};
  BOOST_TEST((metadata == expected));

  ToyModel<float> saved_f;
  saved_f.randomize(2);
  moerb::save_checkpoint(saved_f, dir / "toy_f.safetensors");
  ToyModel<float> loaded_f;
  const Metadata metadata_f = moerb::load_checkpoint(loaded_f, dir / "toy_f.safetensors");
  BOOST_TEST(same_bits(loaded_f.weight.value, saved_f.weight.value));
  BOOST_TEST(same_bits(loaded_f.running_mean, saved_f.running_mean));
  BOOST_TEST(metadata_f.at("scalar") == "float");
  // Gradients are not part of a checkpoint and are left alone.
  BOOST_TEST(loaded_f.weight.grad.isZero());
}

BOOST_AUTO_TEST_CASE(file_is_a_plain_safetensors_state_dict) {
  ScratchDir dir;
  ToyModel<double> model;
  model.randomize(3);
  const fs::path path = dir / "toy.safetensors";
  moerb::save_checkpoint(model, path);
  const moerb::SafetensorsFile file = moerb::SafetensorsFile::open(path);
  BOOST_TEST(file.names() == (std::vector<std::string>{"bias", "running_mean", "weight"}),
             boost::test_tools::per_element());
  BOOST_TEST(file.info("weight").shape == (std::vector<std::uint64_t>{3, 4}),
             boost::test_tools::per_element());
  BOOST_TEST(file.info("running_mean").shape == (std::vector<std::uint64_t>{1, 4}),
             boost::test_tools::per_element());
  BOOST_TEST((file.info("weight").dtype == Dtype::f64));
  BOOST_TEST(same_bits(file.to_matrix<double>("running_mean"), model.running_mean));
}

BOOST_AUTO_TEST_CASE(metadata_generated_keys_win) {
  ScratchDir dir;
  ToyModel<float> model;
  const fs::path path = dir / "toy.safetensors";
  moerb::save_checkpoint(model, path,
                         {{"format", "pt"}, {"scalar", "double"}, {"toy.width", "9"}, {"k", "v"}});
  const Metadata metadata = moerb::SafetensorsFile::open(path).metadata();
  const Metadata expected = {
      {"format", "moerb"}, {"scalar", "float"}, {"toy.width", "4"}, {"k", "v"}};
  BOOST_TEST((metadata == expected));
  // Metadata returned by a load can be passed back in.
  ToyModel<float> copy;
  moerb::save_checkpoint(copy, path, moerb::load_checkpoint(copy, path));
  BOOST_TEST((moerb::SafetensorsFile::open(path).metadata() == expected));
}

BOOST_AUTO_TEST_CASE(saves_and_loads_other_dtypes) {
  ScratchDir dir;
  ToyModel<double> model;
  model.randomize(4);
  model.weight.value(1, 1) = 1e6;  // beyond F16
  for (const Dtype dtype : {Dtype::f32, Dtype::f16, Dtype::bf16}) {
    BOOST_TEST_CONTEXT("dtype " << moerb::dtype_name(dtype)) {
      const fs::path path = dir / "narrow.safetensors";
      moerb::save_checkpoint(model, path, {}, dtype);
      BOOST_TEST((moerb::SafetensorsFile::open(path).info("bias").dtype == dtype));
      ToyModel<double> loaded;
      moerb::load_checkpoint(loaded, path);
      for (Index i = 0; i < model.weight.value.size(); ++i) {
        const double v = model.weight.value.data()[i];
        const double expected = dtype == Dtype::f32 ? static_cast<double>(static_cast<float>(v))
                                : dtype == Dtype::f16
                                    ? moerb::float16_value(moerb::float16_bits(v))
                                    : moerb::bfloat16_value(moerb::bfloat16_bits(v));
        BOOST_TEST(loaded.weight.value.data()[i] == expected);
      }
    }
  }
  // A double checkpoint loads into a float model (rounded to nearest).
  const fs::path path = dir / "double.safetensors";
  moerb::save_checkpoint(model, path);
  ToyModel<float> as_float;
  moerb::load_checkpoint(as_float, path);
  BOOST_TEST(same_bits(as_float.weight.value, Matrix<float>(model.weight.value.cast<float>())));
  BOOST_TEST(same_bits(as_float.running_mean, Matrix<float>(model.running_mean.cast<float>())));
}

BOOST_AUTO_TEST_CASE(one_dimensional_tensors_load_into_row_vectors) {
  ScratchDir dir;
  const fs::path path = dir / "torch_style.safetensors";
  Rng rng(5);
  Matrix<double> a(2, 3), b(1, 4);
  fill(a, rng);
  fill(b, rng);
  moerb::write_safetensors(path, {moerb::make_tensor_record("a", a, Dtype::f32),
                                  moerb::make_tensor_record("b", b, Dtype::f64, {4})});
  PlainModel<double> model(2, 3, 4);
  BOOST_TEST(moerb::load_checkpoint(model, path).empty());
  BOOST_TEST(same_bits(model.b.value, b));
  BOOST_TEST(same_bits(model.a.value, Matrix<double>(a.cast<float>().cast<double>())));
}

BOOST_AUTO_TEST_CASE(shape_mismatch_names_the_tensor_and_loads_nothing) {
  ScratchDir dir;
  const fs::path path = dir / "plain.safetensors";
  PlainModel<double> saved(2, 3, 4);
  Rng rng(6);
  fill(saved.a.value, rng);
  fill(saved.b.value, rng);
  moerb::save_checkpoint(saved, path);

  PlainModel<double> wider(2, 3, 5);  // "a" matches, "b" does not: "a" must stay untouched
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(wider, path), moerb::error,
                        message_has({path.string(), "nothing loaded", "shape mismatch", "'b'",
                                     "[1, 4] in the file", "[1, 5] in the model"}));
  BOOST_TEST(wider.a.value.isZero());
  BOOST_TEST(wider.b.value.isZero());

  PlainModel<double> transposed(3, 2, 4);
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(transposed, path), moerb::error,
                        message_has({"'a' is [2, 3] in the file but [3, 2] in the model"}));
  BOOST_TEST(transposed.b.value.isZero());
}

BOOST_AUTO_TEST_CASE(missing_and_unknown_tensors) {
  ScratchDir dir;
  ToyModel<double> full;
  full.randomize(7);
  const fs::path path = dir / "toy.safetensors";
  moerb::save_checkpoint(full, path);

  // PlainModel's "a" and "b" are not in the file, whose three tensors PlainModel lacks.
  PlainModel<double> plain(3, 4, 4);
  BOOST_CHECK_EXCEPTION(
      moerb::load_checkpoint(plain, path), moerb::error,
      message_has({path.string(), "2 model tensor(s) missing from the file: 'a', 'b'",
                   "3 tensor(s) in the file unknown to the model: 'bias', 'running_mean', 'weight'",
                   "strict = false"}));
  BOOST_TEST(plain.a.value.isZero());
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(plain, path, {.strict = false}), moerb::error,
                        [](const moerb::error& e) {
                          const std::string what = e.what();
                          return what.find("missing from the file: 'a', 'b'") !=
                                     std::string::npos &&
                                 what.find("unknown") == std::string::npos;
                        });

  // A file without the buffer: missing in any mode.
  const fs::path partial = dir / "partial.safetensors";
  moerb::write_safetensors(partial,
                           {moerb::make_tensor_record("weight", full.weight.value, Dtype::f64),
                            moerb::make_tensor_record("bias", full.bias.value, Dtype::f64)},
                           {{"toy.width", "4"}});
  ToyModel<double> toy;
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(toy, partial, {.strict = false}), moerb::error,
                        message_has({"missing from the file: 'running_mean'"}));
  BOOST_TEST(toy.weight.value.isZero());

  // Extra tensors: an error in strict mode, ignored otherwise.
  const fs::path extra = dir / "extra.safetensors";
  moerb::write_safetensors(
      extra,
      {moerb::make_tensor_record("weight", full.weight.value, Dtype::f64),
       moerb::make_tensor_record("bias", full.bias.value, Dtype::f64),
       moerb::make_tensor_record("running_mean", full.running_mean, Dtype::f64),
       moerb::make_tensor_record("optimizer.step", Matrix<double>::Ones(1, 1), Dtype::f64)},
      {{"toy.width", "4"}});
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(toy, extra), moerb::error,
                        message_has({"unknown to the model: 'optimizer.step'"}));
  BOOST_TEST(toy.weight.value.isZero());
  moerb::load_checkpoint(toy, extra, {.strict = false});
  BOOST_TEST(same_bits(toy.weight.value, full.weight.value));
  BOOST_TEST(same_bits(toy.running_mean, full.running_mean));
}

BOOST_AUTO_TEST_CASE(config_check_rejects_other_architectures_first) {
  ScratchDir dir;
  ToyModel<double> narrow(4);
  narrow.randomize(8);
  const fs::path path = dir / "toy.safetensors";
  moerb::save_checkpoint(narrow, path);
  ToyModel<double> wide(6);
  // The model's own explanation, not a shape mismatch.
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(wide, path), moerb::error,
                        message_has({"ToyModel: the checkpoint has width 4, this model 6"}));
  BOOST_TEST(wide.weight.value.isZero());
  // A file without the configuration (not written by save_checkpoint) is rejected too.
  const fs::path bare = dir / "bare.safetensors";
  moerb::write_safetensors(bare, {});
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(narrow, bare), moerb::error,
                        message_has({"no toy.width"}));
}

BOOST_AUTO_TEST_CASE(corrupt_files_are_rejected_before_anything_loads) {
  ScratchDir dir;
  ToyModel<double> model;
  model.randomize(9);
  const fs::path path = dir / "toy.safetensors";
  moerb::save_checkpoint(model, path);
  std::string bytes = read_file(path);
  bytes.resize(bytes.size() - 1);
  {
    std::ofstream out(dir / "cut.safetensors", std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  ToyModel<double> target;
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(target, dir / "cut.safetensors"), moerb::error,
                        message_has({"cut.safetensors"}));
  BOOST_TEST(target.weight.value.isZero());
  BOOST_CHECK_EXCEPTION(moerb::load_checkpoint(target, dir / "absent.safetensors"), moerb::error,
                        message_has({"absent.safetensors"}));
}

BOOST_AUTO_TEST_CASE(saving_is_atomic) {
  ScratchDir dir;
  ToyModel<double> model;
  model.randomize(10);
  const fs::path path = dir / "toy.safetensors";
  moerb::save_checkpoint(model, path);
  const std::string before = read_file(path);
  ToyModel<double> changed;
  changed.randomize(11);

  // A directory that does not exist.
  const fs::path nowhere = dir / "no" / "such" / "dir" / "toy.safetensors";
  BOOST_CHECK_EXCEPTION(moerb::save_checkpoint(changed, nowhere), moerb::error,
                        message_has({nowhere.string()}));
  BOOST_TEST(!fs::exists(dir / "no"));

  // Failures before writing (a model visiting a name twice, non-UTF-8 metadata).
  DuplicateNames duplicate;
  BOOST_CHECK_EXCEPTION(moerb::save_checkpoint(duplicate, path), moerb::error,
                        message_has({"'p' twice"}));
  BOOST_CHECK_EXCEPTION(moerb::save_checkpoint(changed, path, {{"bad", "\xff"}}), moerb::error,
                        message_has({"UTF-8"}));
  BOOST_TEST(read_file(path) == before);

  // A read-only directory (meaningless for root, who may write anyway: then skipped).
  const fs::path locked = dir / "locked";
  fs::create_directories(locked);
  moerb::save_checkpoint(model, locked / "toy.safetensors");
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  const bool can_write = std::ofstream(locked / "probe").good();
  if (can_write) {
    fs::remove(locked / "probe");
    BOOST_TEST_MESSAGE("read-only directory check skipped: this user may write there anyway");
  } else {
    BOOST_CHECK_EXCEPTION(moerb::save_checkpoint(changed, locked / "toy.safetensors"), moerb::error,
                          message_has({"locked", "temporary file"}));
    BOOST_TEST(read_file(locked / "toy.safetensors") == before);
  }
  fs::permissions(locked, fs::perms::owner_all);

#if defined(__unix__)
  // A write that fails half-way (the file-size limit, which binds root as well): the target keeps
  // its old contents and the temporary file is removed.
  rlimit original{};
  BOOST_REQUIRE(getrlimit(RLIMIT_FSIZE, &original) == 0);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // fail with EFBIG, not a signal
  rlimit limited = original;
  limited.rlim_cur = 64;  // the header alone is longer
  BOOST_REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
  bool threw = false;
  std::string message;
  try {
    moerb::save_checkpoint(changed, path);
  } catch (const moerb::error& e) {
    threw = true;
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &original);
  std::signal(SIGXFSZ, previous_handler);
  BOOST_TEST(threw);
  BOOST_TEST(message.find(path.string()) != std::string::npos, message);
  BOOST_TEST(read_file(path) == before);
#endif
  BOOST_TEST(dir.entries().size() == 2u);  // toy.safetensors and locked/: no temporary files
}

BOOST_AUTO_TEST_CASE(moe_layer_with_buffers_round_trips) {
  using Router = moerb::BiasBalancedRouter<double>;
  using Expert = moerb::FFNExpert<double>;
  using Layer = moerb::MoELayer<Router, Expert>;
  const auto make = [] {
    return Layer(Router({.input_dim = 4, .num_experts = 3, .k = 2}),
                 {.expert = {.d_model = 4, .d_ff = 5}, .num_shared_experts = 1});
  };
  Layer saved = make();
  Rng rng(12);
  saved.initialize(rng);
  saved.visit_buffers([&](std::string_view, Matrix<double>& b) { fill(b, rng); }, "");
  ScratchDir dir;
  const fs::path path = dir / "moe.safetensors";
  moerb::save_checkpoint(saved, path);
  const moerb::SafetensorsFile file = moerb::SafetensorsFile::open(path);
  BOOST_TEST(file.contains("router.bias"));
  BOOST_TEST(file.contains("experts.2.w_out"));
  BOOST_TEST(file.contains("shared_experts.0.b_in"));

  Layer loaded = make();
  moerb::load_checkpoint(loaded, path);
  std::map<std::string, Matrix<double>> want;
  saved.visit_parameters(
      [&](std::string_view n, Parameter<double>& p) { want[std::string(n)] = p.value; }, "");
  saved.visit_buffers([&](std::string_view n, Matrix<double>& b) { want[std::string(n)] = b; }, "");
  std::size_t checked = 0;
  const auto compare = [&](std::string_view n, const Matrix<double>& m) {
    BOOST_TEST(same_bits(m, want.at(std::string(n))), n);
    ++checked;
  };
  loaded.visit_parameters([&](std::string_view n, Parameter<double>& p) { compare(n, p.value); },
                          "");
  loaded.visit_buffers([&](std::string_view n, Matrix<double>& b) { compare(n, b); }, "");
  BOOST_TEST(checked == want.size());
  BOOST_TEST(checked == file.size());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_io_checkpoint

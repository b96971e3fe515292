// Writes, for every spec of specs.h, what the core starts a run from, for an independent
// implementation to train from exactly the same tensors (torch_reference.py):
//
//   DIR/NAME/spec.json     the spec (specs.h, SpecToJson)
//   DIR/NAME/train_x.f32   the training inputs, train_size × input_dim, one example per row
//   DIR/NAME/train_y.i32   their labels, train_size
//   DIR/NAME/layer_I.f32   layer I's initial weight, out × in, row-major (biases start at zero)
//   DIR/NAME/batches.i32   the examples of every step's batch, steps × batch, in batch order
//
// All little-endian float32 / int32 as the machine stores them. Only the core's public API is
// used: MakeLabDataset, Mlp::Initialize (what the Trainer's model starts from), and a
// BatchSampler on the data seed (the Trainer's sequence: the same data, batch and seed give the
// same batches), whose batches are mapped back to example indices.
//
// Usage: reference_export DIR
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/data.h"
#include "core/init.h"
#include "core/model.h"
#include "tests/reference/specs.h"

namespace ablate::reference {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

bool WriteBytes(const std::filesystem::path& path, const void* data, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) std::fprintf(stderr, "reference_export: cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

std::vector<uint32_t> Key(const Eigen::Ref<const core::Vector>& column) {
  std::vector<uint32_t> key(column.size());
  std::memcpy(key.data(), column.data(), column.size() * sizeof(float));
  return key;
}

bool Export(const ReferenceSpec& spec, const std::filesystem::path& dir) {
  const core::ExperimentConfig& c = spec.config;
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "spec.json") << SpecToJson(spec).dump(2) << "\n";

  const core::Dataset data = core::MakeLabDataset(c.data, c.model.input_dim);
  // Column-major input_dim × train_size is one example after another.
  if (!WriteBytes(dir / "train_x.f32", data.train_x.data(), data.train_x.size() * sizeof(float)) ||
      !WriteBytes(dir / "train_y.i32", data.train_y.data(),
                  data.train_y.size() * sizeof(int32_t))) {
    return false;
  }

  core::Mlp model(c.model);
  model.Initialize(*core::FindInitScheme(spec.init.scheme), spec.init);
  for (size_t i = 0; i < model.layers().size(); ++i) {
    const RowMajor weight = model.layers()[i].weight;
    if (!WriteBytes(dir / ("layer_" + std::to_string(i) + ".f32"), weight.data(),
                    weight.size() * sizeof(float))) {
      return false;
    }
  }

  std::map<std::vector<uint32_t>, int32_t> index_of;
  for (int32_t e = 0; e < c.data.train_size; ++e) index_of[Key(data.train_x.col(e))] = e;
  if (index_of.size() != static_cast<size_t>(c.data.train_size)) {
    std::fprintf(stderr, "reference_export: %s has two equal examples\n", spec.name.c_str());
    return false;
  }
  core::BatchSampler sampler(data, c.train.batch, c.data.seed);
  core::Matrix x(c.model.input_dim, c.train.batch);
  std::vector<int32_t> y(c.train.batch);
  std::vector<int32_t> batches;
  batches.reserve(static_cast<size_t>(c.train.steps) * c.train.batch);
  for (int step = 0; step < c.train.steps; ++step) {
    sampler.Next(x, y);
    for (int k = 0; k < c.train.batch; ++k) batches.push_back(index_of.at(Key(x.col(k))));
  }
  return WriteBytes(dir / "batches.i32", batches.data(), batches.size() * sizeof(int32_t));
}

}  // namespace
}  // namespace ablate::reference

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: reference_export DIR\n");
    return 2;
  }
  for (const ablate::reference::ReferenceSpec& spec : ablate::reference::ReferenceSpecs()) {
    if (!ablate::reference::Export(spec, std::filesystem::path(argv[1]) / spec.name)) return 1;
    std::printf("exported %s\n", spec.name.c_str());
  }
  return 0;
}

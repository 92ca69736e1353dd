// Read-only access to safetensors checkpoints (one file, or shards listed in
// model.safetensors.index.json), memory-mapped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace edgelm {

enum class StDType { kF32, kF16, kBF16, kI8, kI32, kI64, kF64 };

struct StTensor {
  StDType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  uint64_t size = 0;  // bytes
  int64_t numel() const;
  // Element `i` converted to float (f32/f16/bf16/f64/int types).
  float Get(int64_t i) const;
  // Elements [begin, begin+n) converted to float.
  void Read(int64_t begin, int64_t n, float* out) const;
};

class SafetensorsCheckpoint {
 public:
  ~SafetensorsCheckpoint();
  // `path`: a .safetensors file, or a directory with model.safetensors or an index of shards.
  static Status Open(const std::string& path, std::unique_ptr<SafetensorsCheckpoint>* out);

  const StTensor* Find(const std::string& name) const;
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }

 private:
  SafetensorsCheckpoint() = default;
  Status AddFile(const std::string& file);

  struct Mapping {
    void* base;
    size_t size;
  };
  std::vector<Mapping> mappings_;
  std::map<std::string, StTensor> tensors_;
};

}  // namespace edgelm

// Writes .edgelm files. Tensor bytes are produced by callbacks in row chunks and streamed to disk,
// so multi-GB models are written with bounded memory. The file appears under its final name only
// when complete (written to a temporary file in the same directory, then renamed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "format/model_config.h"
#include "format/tensor.h"
#include "format/tokenizer_data.h"

namespace edgelm {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // [rows, cols] or [cols]
  DType dtype = DType::F32;
  bool per_row_scales = false;  // required for I8/I4/I2
  int64_t scale_group_size = 0;  // > 0: [rows][cols / scale_group_size] scales instead of one per row
  ActivationQuant activation = ActivationQuant::None;
  float input_scale = 0.0f;     // StaticInt8 / StaticInt8Full
  float output_scale = 0.0f;    // > 0: int8 output requantization (published static FCs)
  // Fills rows [row_begin, row_end): their encoded bytes into `data` and, with per-row scales, the
  // rows' fp32 scales into `scales` (one per row, or cols / scale_group_size per row).
  std::function<Status(int64_t row_begin, int64_t row_end, uint8_t* data, float* scales)> fill;
};

struct ModelMetadata {
  ModelConfig config;
  const TokenizerData* tokenizer = nullptr;  // optional
  std::string recipe;
  std::string recipe_description;
  std::string recipe_json;
  std::string source;
  std::string command_line;
  std::string source_format;  // "safetensors", "qat-export", "litertlm", "compressed-tensors", "gguf", "synthetic"
  std::string source_sha256;  // hex, for single-file sources
  // Record a CRC-32 of every tensor's bytes and scales (ModelFile::VerifyTensor). False writes a file
  // as converters before 1.1 did (for tests of such files).
  bool write_checksums = true;
};

// bytes_done / bytes_total of the data region.
using WriteProgress = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;

Status WriteModelFile(const std::string& path, const ModelMetadata& meta, const std::vector<TensorSpec>& tensors,
                      const WriteProgress& progress = nullptr);

const char* ConverterVersion();

}  // namespace edgelm

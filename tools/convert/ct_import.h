// compressed-tensors checkpoints (Google's gemma-4-E{2,4}B-it-qat-mobile-ct): config.json's
// quantization_config and the quantized modules of model.safetensors, turned into TensorSpecs whose
// integer codes and scales are the checkpoint's own. ImportCompressedTensors (importer.h) runs this
// over the whole Gemma 4 manifest; the per-tensor step is public so tests can check single modules.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "convert/safetensors.h"
#include "format/model_writer.h"
#include "model/gemma4_tensors.h"

namespace edgelm {

// A config_groups target: an exact module name, "re:<regex>" (matched from the start of the name, like
// compressed-tensors' re.match), or a module class name ("Linear", "Embedding").
struct CtTarget {
  std::string text;
  bool is_regex = false;
  std::regex regex;
};

// One config_groups entry, checked: symmetric static int weights of 2, 4 or 8 bits, per channel or per
// group; activations, when present, symmetric static int8 per tensor.
struct CtGroup {
  std::string name;
  std::vector<CtTarget> targets;
  bool packed = true;       // format pack-quantized (weight_packed + weight_shape); else int-quantized (int8 weight)
  int bits = 0;
  int64_t group_size = 0;   // 0: one scale per output channel
  bool input_activations = false;
  bool output_activations = false;
};

class CtCheckpoint {
 public:
  // Reads `dir`/config.json's quantization_config and maps the safetensors in `dir`.
  static Status Open(const std::string& dir, std::unique_ptr<CtCheckpoint>* out);

  // The spec of manifest tensor `info`, read from its module (tensor names under the checkpoint's text
  // prefix). `is_head`: the tensor is also the output head (a tied embed_tokens). Every shape, dtype,
  // scale, zero point and code is checked here, before anything is written.
  Status Spec(const TensorInfo& info, bool is_head, TensorSpec* out) const;

  // True if the checkpoint stores a separate output head (lm_head).
  bool HasLmHead() const;
  const nlohmann::json& quantization_config() const { return quantization_config_; }
  const std::vector<CtGroup>& groups() const { return groups_; }

 private:
  CtCheckpoint() = default;
  std::string ModuleName(const TensorInfo& info) const;
  Status SelectGroup(const std::string& module, const TensorInfo& info, const CtGroup** group) const;
  Status QuantizedSpec(const std::string& module, const TensorInfo& info, const CtGroup& group, bool is_head,
                       TensorSpec* out) const;
  Status FloatSpec(const std::string& tensor_name, const TensorInfo& info, bool is_matrix, TensorSpec* out) const;

  std::string dir_;
  std::string text_prefix_;  // "model.language_model." (multimodal) or "model." (text-only)
  nlohmann::json quantization_config_;
  std::vector<CtGroup> groups_;
  std::vector<CtTarget> ignore_;
  std::unique_ptr<SafetensorsCheckpoint> tensors_;
};

}  // namespace edgelm

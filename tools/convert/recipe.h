// Output recipes: which dtype and activation quantization each tensor gets.
#pragma once

#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "format/tensor.h"
#include "model/gemma4_tensors.h"

namespace edgelm {

struct TensorEncoding {
  DType dtype = DType::F32;
  ActivationQuant activation = ActivationQuant::None;
  bool output_scale = false;  // the linear requantizes its output to int8 (published recipe)
  int64_t scale_group_size = 0;  // > 0: one scale per this many columns (gathered tables)
  bool static_input() const {
    return activation == ActivationQuant::StaticInt8 || activation == ActivationQuant::StaticInt8Full;
  }
};

class Recipe {
 public:
  // `name`: f32, bf16, f16, q4_0, mobile, mobile-int4, published. `overrides`: "REGEX=dtype" strings, matched
  // against tensor names in order; the last match wins.
  static Status Create(const std::string& name, const std::vector<std::string>& overrides, Recipe* out);

  const std::string& name() const { return name_; }
  std::string description() const;
  TensorEncoding Choose(const TensorInfo& tensor) const;
  // True when some linear takes static int8 inputs (scales then come from calibration).
  bool needs_static_scales() const { return name_ == "mobile" || name_ == "mobile-int4" || published(); }
  // Google's published mobile bit allocation and arithmetic: output and static KV scales too.
  bool published() const { return name_ == "published"; }

 private:
  std::string name_;
  std::vector<std::pair<std::regex, DType>> overrides_;
};

}  // namespace edgelm

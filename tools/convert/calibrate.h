// Static scales for post-training quantization: runs a float model over calibration text and records,
// for every linear, the 99.99th percentile of |input| per window (averaged over windows, as the QAT
// reference initializes its scales; scale = that / 127), and, for the published recipe, max |output|
// of every linear and max |K|, |V| of every KV owner (after their norms and RoPE) over all windows,
// / 127 (how the published mobile model's output and KV scales are set).
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace edgelm {

struct CalibrationOptions {
  int window = 256;       // tokens per forward pass (BOS + window-1 text tokens)
  int max_windows = 32;
  double percentile = 99.99;
};

struct CalibratedScales {
  std::map<std::string, float> input;   // by tensor name
  std::map<std::string, float> output;  // by tensor name
  std::map<int, float> key, value;      // by KV-owner layer
};

// `float_model`: an .edgelm file with float weights and a tokenizer.
Status CalibrateStaticScales(const std::string& float_model, const std::string& text_file,
                             const CalibrationOptions& options, CalibratedScales* scales);

}  // namespace edgelm

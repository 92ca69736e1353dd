// Static activation scales for post-training quantization: runs a float model over calibration text
// and records, for every linear, the 99.99th percentile of |input| per window (averaged over windows,
// as the QAT reference initializes its scales). scale = that / 127.
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

// `float_model`: an .edgelm file with float weights and a tokenizer. Keys of `scales` are tensor names.
Status CalibrateStaticScales(const std::string& float_model, const std::string& text_file,
                             const CalibrationOptions& options, std::map<std::string, float>* scales);

}  // namespace edgelm

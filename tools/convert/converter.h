// edgelm-convert's engine: Hugging Face float checkpoints, QAT exports, or synthetic weights ->
// a .edgelm file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "convert/quantize.h"
#include "format/model_writer.h"

namespace edgelm {

struct ConvertOptions {
  std::string input;                 // HF or QAT checkpoint directory (unused with synthesize_config)
  std::string output;                // .edgelm path
  std::string format = "bf16";       // f32 | bf16 | f16 | q4_0 | mobile | mobile-int4; QAT input keeps its recipe
  bool format_given = false;         // --format was on the command line (refused for published inputs)
  std::string tokenizer;             // tokenizer.json / tokenizer.model; default: the one in `input`
  std::string synthesize_config;     // config.json: write seeded random weights of that shape instead
  uint64_t seed = 1;
  std::vector<std::string> tensor_types;  // "REGEX=dtype" overrides
  ScaleSearch scale_search = ScaleSearch::kMse;  // random weights (--synthesize) always use absmax
  bool embed_scale_bf16 = false;     // round sqrt(hidden) to bf16 like HF does for bf16 weights
  // Text to calibrate static int8 input scales with (mobile recipes from float input): the float
  // checkpoint runs over it first. Synthetic models use a fixed plausible scale instead.
  std::string calibration_text;
  std::string command_line;
  std::string hf_config;             // --config: facts a published file does not record (ImportOptions)
};

// True if `dir` holds a QAT export (quant_recipe.json next to the safetensors).
bool IsQatCheckpoint(const std::string& dir);

Status Convert(const ConvertOptions& options, const WriteProgress& progress);

}  // namespace edgelm

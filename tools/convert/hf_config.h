// Hugging Face Gemma 4 config.json -> resolved ModelConfig (every per-layer quantity explicit).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "format/model_config.h"

namespace edgelm {

struct HfSpecialIds {
  int bos = -1, eos = -1, pad = -1;
  std::vector<int> eos_list;  // config's eos_token_id may be a list
};

// Accepts text-only (gemma4_text) and multimodal (nested text_config) configs, both the flat
// `global_head_dim` and the `per_layer_config` styles (docs §2.3).
Status ParseHfConfigText(const std::string& json_text, ModelConfig* config, HfSpecialIds* ids);
Status ParseHfConfigFile(const std::string& path, ModelConfig* config, HfSpecialIds* ids);

}  // namespace edgelm

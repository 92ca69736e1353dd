// Perplexity of a model on a text, computed the way ../shared/models/brown-tiny/README.md defines it:
// the text is one token stream (no BOS inside); window w covers stream[s, s+W) and feeds
// [bos] + stream[s, s+W-1], so every token is predicted exactly once with stride == W. With a
// smaller stride, windows overlap and only tokens not scored before count.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "model/gemma4.h"
#include "runtime/kv_cache.h"
#include "runtime/tokenizer.h"

namespace edgelm {

struct PerplexityOptions {
  int window = 256;      // tokens per window including the BOS
  int stride = 256;      // tokens between window starts
  int max_windows = 0;   // 0 = the whole text
  KvType kv_type = KvType::kF32;
};

struct PerplexityResult {
  double nll_sum = 0.0;
  int64_t tokens = 0;    // predicted tokens
  int windows = 0;
  double seconds = 0.0;
  double perplexity() const;
};

Status ComputePerplexity(const Gemma4Model& model, const Tokenizer& tokenizer, const std::string& text,
                         const PerplexityOptions& options, PerplexityResult* result);

}  // namespace edgelm

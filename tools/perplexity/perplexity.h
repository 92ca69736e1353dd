// Perplexity of a model on a text, computed the way ../shared/models/brown-tiny/README.md defines it:
// the text is one token stream (no BOS inside); window w covers stream[s, s+W) and feeds
// [bos] + stream[s, s+W-1], so every token is predicted exactly once with stride == W. With a
// smaller stride, windows overlap and only tokens not scored before count. Built on the public C API
// (edgelm_session_score).
#pragma once

#include <cstdint>
#include <string>

#include "edgelm/edgelm.h"

namespace edgelm {

struct PerplexityOptions {
  int window = 256;      // tokens per window including the BOS
  int stride = 256;      // tokens between window starts
  int max_windows = 0;   // 0 = the whole text
  edgelm_kv_type kv_type = EDGELM_KV_F32;
};

struct PerplexityResult {
  double nll_sum = 0.0;
  int64_t tokens = 0;    // predicted tokens
  int windows = 0;
  double seconds = 0.0;
  double perplexity() const;
};

// On failure, `error` receives the library's message.
edgelm_status ComputePerplexity(const edgelm_model* model, const std::string& text, const PerplexityOptions& options,
                                PerplexityResult* result, std::string* error);

}  // namespace edgelm

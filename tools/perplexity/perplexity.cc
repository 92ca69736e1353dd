#include "perplexity/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace edgelm {

double PerplexityResult::perplexity() const { return tokens > 0 ? std::exp(nll_sum / static_cast<double>(tokens)) : 0.0; }

edgelm_status ComputePerplexity(const edgelm_model* model, const std::string& text, const PerplexityOptions& o,
                                PerplexityResult* result, std::string* error) {
  auto fail = [error](edgelm_status st, const std::string& message) {
    *error = message;
    return st;
  };
  if (o.window < 2 || o.stride < 1 || o.stride > o.window)
    return fail(EDGELM_INVALID_ARGUMENT, "need window >= 2 and 1 <= stride <= window");
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  if (edgelm_model_get_info(model, &info) != EDGELM_OK) return fail(EDGELM_INVALID_ARGUMENT, edgelm_last_error());
  if (info.bos_token < 0) return fail(EDGELM_UNSUPPORTED, "the tokenizer has no BOS token");
  size_t count = 0;
  edgelm_status st = edgelm_tokenize(model, text.data(), text.size(), 0, 0, nullptr, 0, &count);
  std::vector<int32_t> stream(count);
  if (st == EDGELM_BUFFER_TOO_SMALL) st = edgelm_tokenize(model, text.data(), text.size(), 0, 0, stream.data(), count, &count);
  if (st != EDGELM_OK) return fail(st, edgelm_last_error());

  const auto start = std::chrono::steady_clock::now();
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.context_length = o.window + 1;  // [bos] + the W scored tokens; the last is never run
  so.prefill_chunk = o.window;
  so.kv_type = o.kv_type;
  edgelm_session* session = nullptr;
  if ((st = edgelm_session_create(model, &so, &session)) != EDGELM_OK) return fail(st, edgelm_last_error());
  PerplexityResult r;
  std::vector<float> logprobs;
  int64_t scored_until = 0;  // stream tokens before this index are already scored
  const int64_t n = static_cast<int64_t>(stream.size());
  for (int64_t s = 0; s < n && st == EDGELM_OK; s += o.stride) {
    if (o.max_windows > 0 && r.windows == o.max_windows) break;
    const int64_t end = std::min<int64_t>(s + o.window, n);
    logprobs.resize(static_cast<size_t>(end - s));
    // [bos] + stream[s, end-1) predicts stream[s, end).
    st = edgelm_session_reset(session);
    if (st == EDGELM_OK) st = edgelm_session_append_tokens(session, &info.bos_token, 1);
    if (st == EDGELM_OK) st = edgelm_session_score(session, stream.data() + s, logprobs.size(), logprobs.data(), nullptr);
    for (int64_t j = std::max<int64_t>(0, scored_until - s); st == EDGELM_OK && j < end - s; ++j) {
      r.nll_sum -= logprobs[static_cast<size_t>(j)];
      ++r.tokens;
    }
    scored_until = end;
    ++r.windows;
    if (end == n) break;
  }
  if (st != EDGELM_OK) *error = edgelm_session_error(session);
  edgelm_session_free(session);
  if (st != EDGELM_OK) return st;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  *result = r;
  return EDGELM_OK;
}

}  // namespace edgelm

#include "perplexity/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "runtime/session.h"

namespace edgelm {

double PerplexityResult::perplexity() const { return tokens > 0 ? std::exp(nll_sum / static_cast<double>(tokens)) : 0.0; }

Status ComputePerplexity(const Gemma4Model& model, const Tokenizer& tokenizer, const std::string& text,
                         const PerplexityOptions& o, PerplexityResult* result) {
  if (o.window < 2 || o.stride < 1 || o.stride > o.window) return InvalidArgument("need window >= 2 and 1 <= stride <= window");
  if (tokenizer.bos_id() < 0) return Unsupported("the tokenizer has no BOS token");
  std::vector<int> stream;
  EDGELM_RETURN_IF_ERROR(tokenizer.Encode(text, EncodeOptions{}, &stream));
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Session> session;
  EDGELM_RETURN_IF_ERROR(Session::Create(model, &tokenizer, nullptr, SessionOptions{o.window, o.window, o.kv_type}, &session));
  const int vocab = model.config().vocab_size;
  PerplexityResult r;
  std::vector<float> logits;
  int64_t scored_until = 0;  // stream tokens before this index are already scored
  for (int64_t s = 0; s < static_cast<int64_t>(stream.size()); s += o.stride) {
    if (o.max_windows > 0 && r.windows == o.max_windows) break;
    const int64_t end = std::min<int64_t>(s + o.window, static_cast<int64_t>(stream.size()));
    std::vector<int> input = {tokenizer.bos_id()};
    input.insert(input.end(), stream.begin() + s, stream.begin() + end - 1);
    session->Reset();
    EDGELM_RETURN_IF_ERROR(session->AppendTokens(input.data(), input.size()));
    EDGELM_RETURN_IF_ERROR(session->Evaluate(&logits));
    // input[j] predicts stream[s + j].
    for (int64_t j = std::max<int64_t>(0, scored_until - s); j < end - s; ++j) {
      const float* row = logits.data() + j * vocab;
      const float max_logit = *std::max_element(row, row + vocab);
      double sum = 0.0;
      for (int v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v] - max_logit));
      r.nll_sum += std::log(sum) + max_logit - row[stream[s + j]];
      ++r.tokens;
    }
    scored_until = end;
    ++r.windows;
    if (end == static_cast<int64_t>(stream.size())) break;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  *result = r;
  return Status::Ok();
}

}  // namespace edgelm

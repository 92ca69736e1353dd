// Sampler: picks the next token from one row of logits.
//
// Pipeline (each stage optional): repetition/presence penalties -> temperature -> top-k ->
// softmax -> top-p -> min-p -> renormalize -> draw. Draws are bit-reproducible for a seed on every
// platform and compiler: the PRNG (xoshiro256** seeded by splitmix64), the uniform conversion and
// exp are implemented here from IEEE basic operations, and every ranking uses a total order
// (value, then token id), so no library-specific rounding or tie handling leaks into the result.
// This assumes floating-point contraction is not forced across statements (-ffp-contract=fast).
//
// Cost for a 262144-token vocabulary: one pass to load the logits; top-k ranks with a single heap
// pass; top-p without top-k sorts only the tokens of the weight buckets the nucleus can reach.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "common/status.h"

namespace edgelm {

struct SamplerParams {
  float temperature = 1.0f;         // 0 = greedy (argmax, lowest token id on ties)
  int top_k = 0;                    // keep the k highest logits; 0 = off
  float top_p = 1.0f;               // keep the smallest set holding >= top_p of the mass; 1 = off
  float min_p = 0.0f;               // drop tokens with p < min_p * p_max; 0 = off
  float repetition_penalty = 1.0f;  // recent tokens: positive logits divided, negative multiplied
  float presence_penalty = 0.0f;    // subtracted once from each distinct recent token's logit
  int penalty_last_n = 64;          // how many of the newest recent tokens penalties see; 0 = none
  uint64_t seed = 0;
  // Added to a token's logit after the penalties (-inf bans it); ids outside the vocabulary are
  // ignored here (the session refuses them).
  std::vector<std::pair<int, float>> logit_bias;

  // InvalidArgument naming the field for NaN/inf or out-of-range values.
  Status Validate() const;
};

// One sampler per sequence; not thread-safe. Scratch buffers grow to the largest vocab seen and
// are then reused, so steady-state sampling does not allocate.
class Sampler {
 public:
  // Returned by Sample when no token can be chosen: null logits, vocab <= 0, or every logit is NaN
  // or -inf (a model bug the caller should surface rather than emit an arbitrary token).
  static constexpr int kNoToken = -1;

  // Validates `params`; on success `*sampler` owns a sampler seeded with params.seed.
  static Status Create(const SamplerParams& params, std::unique_ptr<Sampler>* sampler);

  // `logits`: vocab floats (borrowed for the call), already softcapped. NaN counts as -inf and +inf
  // as the largest float (all +inf tokens share the mass). `recent_tokens`: the n_recent most
  // recent token ids, oldest first (may be null when n_recent is 0); ids outside [0, vocab) are
  // ignored. Returns a token id in [0, vocab) or kNoToken. Greedy calls consume no randomness;
  // every other successful call consumes exactly one 64-bit draw.
  int Sample(const float* logits, int vocab, const int* recent_tokens, int n_recent);

  // Restarts the random stream as if created with `seed`.
  void Reset(uint64_t seed);

  const SamplerParams& params() const { return params_; }

 private:
  explicit Sampler(const SamplerParams& params);

  void LoadLogits(const float* logits, int vocab, const int* recent_tokens, int n_recent);
  double ToWeights(const int* pool, int pool_size, float max_logit);
  void RankTop(int count);
  void RankNucleusCandidates(double threshold);
  int NucleusSize(const int* ranked, int pool_size, double threshold, double* mass) const;
  double ApplyMinP(const int* pool, int pool_size);
  int Draw(const int* pool, int pool_size, double mass);
  double NextUniform();

  SamplerParams params_;
  uint64_t rng_state_[4];
  // A pool is a set of token ids: ranked_'s first n entries, or every id when it is null.
  std::vector<float> weights_;  // by token id: penalized logit, then unnormalized probability
  std::vector<int> ranked_;     // token ids, best first, once top-k or top-p ranked them
  std::vector<uint32_t> bucket_counts_;  // top-p histogram
};

}  // namespace edgelm

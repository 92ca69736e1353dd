#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

namespace edgelm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Orders token ids by their value (logit or weight), highest first, lower id on ties: a total
// order, so heaps and sorts end in the same arrangement with every standard library.
struct RanksHigher {
  const float* values;
  bool operator()(int a, int b) const {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  }
};

// Calls visit(id) for each token id of a pool: `ids[0, size)`, or 0..size-1 when ids is null.
template <typename Visit>
void ForEachId(const int* ids, int size, Visit&& visit) {
  if (ids == nullptr) {
    for (int id = 0; id < size; ++id) visit(id);
  } else {
    for (int i = 0; i < size; ++i) visit(ids[i]);
  }
}

// The reductions below keep several independent partial results in a fixed grouping: as
// reproducible as a plain loop, without one long dependency chain over the vocabulary.
float MaxOf(const std::vector<float>& values) {
  constexpr size_t kLanes = 8;
  float lanes[kLanes];
  std::fill(lanes, lanes + kLanes, kNegInf);
  size_t i = 0;
  for (; i + kLanes <= values.size(); i += kLanes) {
    for (size_t lane = 0; lane < kLanes; ++lane) {
      lanes[lane] = std::max(lanes[lane], values[i + lane]);
    }
  }
  for (; i < values.size(); ++i) lanes[0] = std::max(lanes[0], values[i]);
  return *std::max_element(lanes, lanes + kLanes);
}

double SumOf(const float* values, int size) {
  constexpr int kLanes = 4;
  double lanes[kLanes] = {0, 0, 0, 0};
  int i = 0;
  for (; i + kLanes <= size; i += kLanes) {
    for (int lane = 0; lane < kLanes; ++lane) lanes[lane] += values[i + lane];
  }
  for (; i < size; ++i) lanes[0] += values[i];
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

// NaN ranks as -inf; +inf becomes the largest float so subtracting the max never yields NaN.
float Sanitize(float logit) {
  return std::isnan(logit) ? kNegInf : std::min(logit, std::numeric_limits<float>::max());
}

float Penalize(float logit, const SamplerParams& params) {
  const float repeated =
      logit > 0 ? logit / params.repetition_penalty : logit * params.repetition_penalty;
  return repeated - params.presence_penalty;
}

// a * b + c as two roundings. Separate statements are never fused into an FMA by compilers that
// contract only within an expression (GCC in ISO mode, Clang); -ffp-contract=fast would break
// bit-reproducibility.
inline float MultiplyAdd(float a, float b, float c) {
  const float product = a * b;
  return product + c;
}

uint32_t BitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float FloatFromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// exp(x) for x <= 0 from IEEE basic operations only, so every platform rounds identically (libm
// expf differs by an ulp between vendors, which would shift seeded draws). Returns 0 below -87,
// i.e. for weights under 1e-38 of the top token.
inline float PortableExp(float x) {
  constexpr float kFloor = -87.0f;
  constexpr float kLog2E = 1.44269504f;
  constexpr float kLn2High = 0.693359375f;  // 9 significant bits: octaves * kLn2High is exact
  constexpr float kLn2Low = -2.12194440e-4f;
  constexpr float kRoundingBias = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  // Non-positive floats order by magnitude like their unsigned bits. Integer compares keep this
  // branch-free so callers' loops vectorize (float compares are not if-converted under the
  // default -ftrapping-math).
  const uint32_t floor_bits = BitsOf(kFloor);
  const bool below_floor = BitsOf(x) > floor_bits;
  const float clamped = FloatFromBits(below_floor ? floor_bits : BitsOf(x));
  const float in_octaves = clamped * kLog2E;
  const float octaves = (in_octaves + kRoundingBias) - kRoundingBias;
  const float octaves_high = octaves * kLn2High;
  const float octaves_low = octaves * kLn2Low;
  const float r = (clamped - octaves_high) - octaves_low;  // |r| <= ln2 / 2
  // Taylor series through r^7 (Horner); the result is within 2 ulp of exp(x).
  float series = MultiplyAdd(1.0f / 5040, r, 1.0f / 720);
  series = MultiplyAdd(series, r, 1.0f / 120);
  series = MultiplyAdd(series, r, 1.0f / 24);
  series = MultiplyAdd(series, r, 1.0f / 6);
  series = MultiplyAdd(series, r, 0.5f);
  series = MultiplyAdd(series, r, 1.0f);
  series = MultiplyAdd(series, r, 1.0f);
  // octaves is in [-126, 0], so 2^octaves is a normal float and the scaling is exact.
  const float power_of_two = FloatFromBits((static_cast<int32_t>(octaves) + 127) << 23);
  const float result = series * power_of_two;
  return FloatFromBits(BitsOf(result) & (below_floor ? 0u : ~0u));
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t RotateLeft(uint64_t x, int bits) { return (x << bits) | (x >> (64 - bits)); }

}  // namespace

Status SamplerParams::Validate() const {
  const auto reject = [](const char* field, const char* requirement, double got) {
    std::ostringstream message;
    message << "SamplerParams." << field << " must be " << requirement << ", got " << got;
    return InvalidArgument(message.str());
  };
  if (!std::isfinite(temperature) || temperature < 0) {
    return reject("temperature", "finite and >= 0 (0 = greedy)", temperature);
  }
  if (top_k < 0) return reject("top_k", ">= 0 (0 = off)", top_k);
  if (!(top_p > 0 && top_p <= 1)) return reject("top_p", "in (0, 1] (1 = off)", top_p);
  if (!(min_p >= 0 && min_p <= 1)) return reject("min_p", "in [0, 1] (0 = off)", min_p);
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0) {
    return reject("repetition_penalty", "finite and > 0 (1 = off)", repetition_penalty);
  }
  if (!std::isfinite(presence_penalty)) {
    return reject("presence_penalty", "finite (0 = off)", presence_penalty);
  }
  if (penalty_last_n < 0) return reject("penalty_last_n", ">= 0 (0 = off)", penalty_last_n);
  for (const auto& [id, bias] : logit_bias)
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity())
      return reject("logit_bias", "finite or -inf (a ban)", bias);
  return Status::Ok();
}

Status Sampler::Create(const SamplerParams& params, std::unique_ptr<Sampler>* sampler) {
  EDGELM_RETURN_IF_ERROR(params.Validate());
  sampler->reset(new Sampler(params));
  return Status::Ok();
}

Sampler::Sampler(const SamplerParams& params) : params_(params) { Reset(params.seed); }

void Sampler::Reset(uint64_t seed) {
  for (uint64_t& word : rng_state_) word = SplitMix64(&seed);
}

// xoshiro256**, top 53 bits scaled to [0, 1).
double Sampler::NextUniform() {
  uint64_t* s = rng_state_;
  const uint64_t result = RotateLeft(s[1] * 5, 7) * 9;
  const uint64_t shifted = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= shifted;
  s[3] = RotateLeft(s[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

int Sampler::Sample(const float* logits, int vocab, const int* recent_tokens, int n_recent) {
  if (logits == nullptr || vocab <= 0) return kNoToken;
  LoadLogits(logits, vocab, recent_tokens, n_recent);
  const float max_logit = MaxOf(weights_);
  if (max_logit == kNegInf) return kNoToken;
  if (params_.temperature == 0.0f) {
    return static_cast<int>(std::find(weights_.begin(), weights_.end(), max_logit) -
                            weights_.begin());
  }

  // The pool to draw from: every id (pool == nullptr) until a filter ranks ids into ranked_.
  const int* pool = nullptr;
  int pool_size = vocab;
  if (params_.top_k > 0 && params_.top_k < vocab) {
    RankTop(params_.top_k);
    pool = ranked_.data();
    pool_size = params_.top_k;
  }
  double mass = ToWeights(pool, pool_size, max_logit);
  if (params_.top_p < 1.0f) {
    const double threshold = params_.top_p * mass;
    if (pool == nullptr) {
      RankNucleusCandidates(threshold);
      pool = ranked_.data();
      pool_size = static_cast<int>(ranked_.size());
    }
    pool_size = NucleusSize(pool, pool_size, threshold, &mass);
  }
  if (params_.min_p > 0.0f) mass = ApplyMinP(pool, pool_size);
  return Draw(pool, pool_size, mass);
}

void Sampler::LoadLogits(const float* logits, int vocab, const int* recent_tokens, int n_recent) {
  weights_.resize(vocab);
  for (int id = 0; id < vocab; ++id) weights_[id] = Sanitize(logits[id]);

  const bool penalties_on = params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f;
  if (penalties_on && recent_tokens != nullptr && n_recent > 0) {
    const int window = std::min(n_recent, params_.penalty_last_n);
    // Recomputed from the raw logit, so a token repeated in the window is penalized once.
    ForEachId(recent_tokens + n_recent - window, window, [&](int id) {
      if (id >= 0 && id < vocab) weights_[id] = Sanitize(Penalize(logits[id], params_));
    });
  }
  for (const auto& [id, bias] : params_.logit_bias)
    if (id >= 0 && id < vocab) weights_[id] = Sanitize(weights_[id] + bias);
}

// Turns the pool's logits into unnormalized probabilities (the top token gets exactly 1) and
// returns their sum. Temperature scales the max-shifted logits: the same as scaling first, but it
// cannot overflow.
double Sampler::ToWeights(const int* pool, int pool_size, float max_logit) {
  float* weights = weights_.data();  // locals, so the compiler sees no aliasing and vectorizes
  const float temperature = params_.temperature;
  ForEachId(pool, pool_size,
            [=](int id) { weights[id] = PortableExp((weights[id] - max_logit) / temperature); });
  if (pool == nullptr) return SumOf(weights, pool_size);
  double mass = 0;
  ForEachId(pool, pool_size, [&](int id) { mass += weights[id]; });
  return mass;
}

// Puts the `count` best ids into ranked_, best first. One pass keeps a heap of the best so far
// with the weakest in front, so almost every token costs a single comparison.
void Sampler::RankTop(int count) {
  const RanksHigher higher{weights_.data()};
  ranked_.resize(count);
  std::iota(ranked_.begin(), ranked_.end(), 0);
  std::make_heap(ranked_.begin(), ranked_.end(), higher);
  for (int id = count; id < static_cast<int>(weights_.size()); ++id) {
    if (!higher(id, ranked_.front())) continue;
    std::pop_heap(ranked_.begin(), ranked_.end(), higher);
    ranked_.back() = id;
    std::push_heap(ranked_.begin(), ranked_.end(), higher);
  }
  std::sort_heap(ranked_.begin(), ranked_.end(), higher);
}

// Puts a superset of the top-p nucleus into ranked_, best first, without sorting the vocabulary.
// Tokens are counted per weight bucket; count * (bucket's smallest weight) bounds a bucket's mass
// from below, so the buckets down to where that bound reaches the threshold surely hold the
// nucleus, and only their tokens are sorted.
void Sampler::RankNucleusCandidates(double threshold) {
  // Non-negative floats order like their bits; the top bits (exponent and 3 mantissa bits) split
  // each octave into 8 buckets. Weights are <= 1, which is bucket 1016.
  constexpr int kBucketShift = 20;
  constexpr int kBuckets = 1024;
  constexpr int kLanes = 4;  // consecutive ids count into separate lanes: no store-to-load chain
  const auto bucket_of = [](float weight) { return BitsOf(weight) >> kBucketShift; };
  bucket_counts_.assign(kLanes * kBuckets, 0);
  const int vocab = static_cast<int>(weights_.size());
  for (int id = 0; id < vocab; ++id)
    ++bucket_counts_[(id % kLanes) * kBuckets + bucket_of(weights_[id])];

  uint32_t cutoff = kBuckets - 1;
  for (double mass_bound = 0; cutoff > 0; --cutoff) {
    uint32_t count = 0;
    for (int lane = 0; lane < kLanes; ++lane) count += bucket_counts_[lane * kBuckets + cutoff];
    mass_bound += count * static_cast<double>(FloatFromBits(cutoff << kBucketShift));
    if (mass_bound >= threshold) break;
  }
  ranked_.clear();
  for (int id = 0; id < vocab; ++id) {
    if (bucket_of(weights_[id]) >= cutoff) ranked_.push_back(id);
  }
  std::sort(ranked_.begin(), ranked_.end(), RanksHigher{weights_.data()});
}

// Length of the shortest prefix of the ranked pool holding >= threshold; sets *mass to its mass.
int Sampler::NucleusSize(const int* ranked, int pool_size, double threshold, double* mass) const {
  *mass = 0;
  for (int i = 0; i < pool_size; ++i) {
    *mass += weights_[ranked[i]];
    if (*mass >= threshold) return i + 1;
  }
  return pool_size;
}

// Zeroes pool weights below min_p * p_max (p_max's weight is exactly 1); returns the kept mass.
double Sampler::ApplyMinP(const int* pool, int pool_size) {
  double mass = 0;
  ForEachId(pool, pool_size, [&](int id) {
    if (weights_[id] < params_.min_p) weights_[id] = 0.0f;
    mass += weights_[id];
  });
  return mass;
}

int Sampler::Draw(const int* pool, int pool_size, double mass) {
  const double target = NextUniform() * mass;
  double prefix_mass = 0;
  int last_positive = kNoToken;
  for (int i = 0; i < pool_size; ++i) {
    const int id = pool == nullptr ? i : pool[i];
    if (weights_[id] == 0.0f) continue;
    prefix_mass += weights_[id];
    if (target < prefix_mass) return id;
    last_positive = id;
  }
  return last_positive;  // rounding put target at the very top of the mass
}

}  // namespace edgelm

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "runtime/text_scanner.h"

namespace edgelm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kGemmaVocab = 262144;

std::unique_ptr<Sampler> MakeSampler(const SamplerParams& params) {
  std::unique_ptr<Sampler> sampler;
  const Status status = Sampler::Create(params, &sampler);
  INFO(status.message());
  REQUIRE(status.ok());
  return sampler;
}

SamplerParams Greedy() {
  SamplerParams params;
  params.temperature = 0.0f;
  return params;
}

int SampleOnce(const SamplerParams& params, const std::vector<float>& logits,
               const std::vector<int>& recent = {}) {
  return MakeSampler(params)->Sample(logits.data(), static_cast<int>(logits.size()), recent.data(),
                                     static_cast<int>(recent.size()));
}

std::vector<int> DrawCounts(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    const int token = sampler.Sample(logits.data(), static_cast<int>(logits.size()), nullptr, 0);
    REQUIRE((token >= 0 && token < static_cast<int>(logits.size())));
    ++counts[token];
  }
  return counts;
}

// Logits uniform in [-scale, scale) from a standard-specified engine (mt19937).
std::vector<float> RandomLogits(int vocab, uint32_t seed, float scale) {
  std::mt19937 engine(seed);
  std::vector<float> logits(vocab);
  for (float& logit : logits) logit = static_cast<float>((engine() / 4294967296.0 * 2 - 1) * scale);
  return logits;
}

// Independent double-precision model of the filter pipeline: the probability the sampler should
// give each token (0 for excluded tokens). Sorts the whole vocabulary, which the sampler avoids.
std::vector<double> ReferenceProbabilities(const SamplerParams& params,
                                           const std::vector<float>& logits) {
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  if (params.top_k > 0 && params.top_k < static_cast<int>(order.size())) order.resize(params.top_k);
  std::vector<double> weights;
  for (int token : order)
    weights.push_back(std::exp((logits[token] - logits[order[0]]) / params.temperature));
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  size_t nucleus = 0;
  for (double mass = 0; nucleus < weights.size() && mass < params.top_p * total; ++nucleus) {
    mass += weights[nucleus];
  }
  std::vector<double> probabilities(logits.size(), 0.0);
  double kept_mass = 0;
  for (size_t rank = 0; rank < nucleus; ++rank) {
    if (weights[rank] < params.min_p * weights[0]) continue;
    probabilities[order[rank]] = weights[rank];
    kept_mass += weights[rank];
  }
  for (double& p : probabilities) p /= kept_mass;
  return probabilities;
}

std::set<int> Support(const std::vector<double>& probabilities) {
  std::set<int> tokens;
  for (size_t token = 0; token < probabilities.size(); ++token) {
    if (probabilities[token] > 0) tokens.insert(static_cast<int>(token));
  }
  return tokens;
}

// Draws from a sampler built with `params` and checks the counts against the reference:
// excluded tokens never appear, every kept token likely to appear does, and a chi-square
// statistic (tokens expected < 5 times pooled) stays within ~6 sigma of its degrees of freedom.
void CheckMatchesReference(const SamplerParams& params, const std::vector<float>& logits,
                           int draws) {
  const std::vector<double> expected = ReferenceProbabilities(params, logits);
  const std::vector<int> counts = DrawCounts(*MakeSampler(params), logits, draws);
  double chi_square = 0, pooled_expected = 0, pooled_observed = 0;
  int buckets = 0;
  for (size_t token = 0; token < logits.size(); ++token) {
    const double expected_count = expected[token] * draws;
    if (expected_count == 0) {
      INFO("excluded token " << token);
      REQUIRE(counts[token] == 0);
    } else if (expected_count < 5) {
      pooled_expected += expected_count;
      pooled_observed += counts[token];
    } else {
      INFO("kept token " << token << " expected " << expected_count << " times");
      if (expected_count >= 15) REQUIRE(counts[token] > 0);  // P(miss) < 3e-7
      chi_square += std::pow(counts[token] - expected_count, 2) / expected_count;
      ++buckets;
    }
  }
  if (pooled_expected > 0) {
    chi_square += std::pow(pooled_observed - pooled_expected, 2) / pooled_expected;
    ++buckets;
  }
  const double degrees = std::max(buckets - 1, 1);
  CHECK(chi_square < degrees + 6 * std::sqrt(2 * degrees) + 10);
}

// `count` distinct logits decreasing by `step`, scattered over a power-of-two vocabulary whose
// other entries sit at -30 (the softcap floor); the peaks' weights span many weight buckets.
std::vector<float> ScatteredPeaks(int vocab, int count, float step) {
  std::vector<float> logits(vocab, -30.0f);
  // 7919 is odd, so multiplying by it permutes [0, vocab).
  for (int i = 0; i < count; ++i) logits[(i * 7919 + 13) % vocab] = -step * i;
  return logits;
}

std::vector<float> LogitsOf(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

}  // namespace

TEST_CASE("SamplerParams::Validate accepts defaults and names the offending field") {
  CHECK(SamplerParams().Validate().ok());
  CHECK(Greedy().Validate().ok());

  const std::vector<std::pair<std::string, std::function<void(SamplerParams&)>>> invalid = {
      {"temperature", [](SamplerParams& p) { p.temperature = -0.1f; }},
      {"temperature", [](SamplerParams& p) { p.temperature = kNaN; }},
      {"temperature", [](SamplerParams& p) { p.temperature = kInf; }},
      {"top_k", [](SamplerParams& p) { p.top_k = -1; }},
      {"top_p", [](SamplerParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplerParams& p) { p.top_p = 1.01f; }},
      {"top_p", [](SamplerParams& p) { p.top_p = kNaN; }},
      {"min_p", [](SamplerParams& p) { p.min_p = -0.01f; }},
      {"min_p", [](SamplerParams& p) { p.min_p = 1.5f; }},
      {"min_p", [](SamplerParams& p) { p.min_p = kNaN; }},
      {"repetition_penalty", [](SamplerParams& p) { p.repetition_penalty = 0.0f; }},
      {"repetition_penalty", [](SamplerParams& p) { p.repetition_penalty = kNaN; }},
      {"presence_penalty", [](SamplerParams& p) { p.presence_penalty = -kInf; }},
      {"penalty_last_n", [](SamplerParams& p) { p.penalty_last_n = -1; }},
  };
  for (const auto& [field, make_invalid] : invalid) {
    SamplerParams params;
    make_invalid(params);
    const Status status = params.Validate();
    INFO(field << ": " << status.message());
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::Contains("SamplerParams." + field));
    std::unique_ptr<Sampler> sampler;
    CHECK_FALSE(Sampler::Create(params, &sampler).ok());
    CHECK(sampler == nullptr);
  }
  SamplerParams negative_presence;  // encourages repetition: unusual but meaningful
  negative_presence.presence_penalty = -1.0f;
  CHECK(negative_presence.Validate().ok());
}

TEST_CASE("Greedy returns the argmax, lowest id on ties") {
  CHECK(SampleOnce(Greedy(), {0.5f, 3.0f, -1.0f, 3.0f, 2.0f}) == 1);
  CHECK(SampleOnce(Greedy(), {-2.0f, -1.0f, -1.5f}) == 1);
  CHECK(SampleOnce(Greedy(), {7.0f}) == 0);
  CHECK(SampleOnce(Greedy(), {1.0f, kInf, 2.0f, kInf}) == 1);
}

TEST_CASE("Draws are reproducible for a seed and differ across seeds") {
  const std::vector<float> logits = RandomLogits(50, 1, 2.0f);
  const auto draw_sequence = [&](Sampler& sampler) {
    std::vector<int> tokens;
    for (int i = 0; i < 200; ++i) tokens.push_back(sampler.Sample(logits.data(), 50, nullptr, 0));
    return tokens;
  };
  SamplerParams params;
  params.seed = 42;
  const auto sampler = MakeSampler(params);
  const std::vector<int> first = draw_sequence(*sampler);
  CHECK(draw_sequence(*MakeSampler(params)) == first);
  sampler->Reset(42);
  CHECK(draw_sequence(*sampler) == first);
  params.seed = 43;
  CHECK(draw_sequence(*MakeSampler(params)) != first);
}

// Pins the PRNG, the uniform conversion and exp: a change here breaks reproducibility of every
// seeded generation across versions and platforms.
TEST_CASE("Seeded draws match the golden sequence") {
  SamplerParams params;
  params.seed = 20240601;
  params.temperature = 0.8f;
  const auto sampler = MakeSampler(params);
  const std::vector<float> logits = {0.0f, 0.5f, 1.0f, 1.5f, -0.5f, 0.25f, 2.0f, 0.75f};
  std::vector<int> tokens;
  for (int i = 0; i < 16; ++i) tokens.push_back(sampler->Sample(logits.data(), 8, nullptr, 0));
  CHECK(tokens == std::vector<int>{3, 5, 6, 6, 6, 3, 1, 3, 6, 3, 3, 3, 3, 2, 6, 6});
}

TEST_CASE("Temperature sampling follows the softmax distribution") {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f};
  for (float temperature : {0.7f, 1.0f, 1.5f}) {
    SamplerParams params;
    params.temperature = temperature;
    params.seed = 7;
    INFO("temperature " << temperature);
    CheckMatchesReference(params, logits, 200000);
  }
}

TEST_CASE("top-k never returns a token outside the k highest logits") {
  const std::vector<float> logits = RandomLogits(1000, 2, 5.0f);
  SamplerParams params;
  params.temperature = 3.0f;  // flatten so every kept token is drawn often
  params.top_k = 10;
  REQUIRE(Support(ReferenceProbabilities(params, logits)).size() == 10);
  CheckMatchesReference(params, logits, 50000);

  params.top_k = 5000;  // larger than the vocabulary: no filtering
  CheckMatchesReference(params, logits, 20000);
}

TEST_CASE("top-p keeps the minimal nucleus") {
  const std::vector<float> logits = LogitsOf({0.5, 0.3, 0.15, 0.05});
  SamplerParams params;
  params.top_p = 0.75f;  // 0.5 alone is short of 0.75; 0.5 + 0.3 reaches it
  REQUIRE(Support(ReferenceProbabilities(params, logits)) == std::set<int>{0, 1});
  CheckMatchesReference(params, logits, 50000);
  params.top_p = 0.85f;
  REQUIRE(Support(ReferenceProbabilities(params, logits)) == std::set<int>{0, 1, 2});
  CheckMatchesReference(params, logits, 50000);

  SECTION("nucleus cut inside a weight bucket") {
    // The 105th and 106th peaks (weights 0.2101 and 0.2070) share a bucket of the sampler's
    // histogram, so only the exact walk over the sorted candidates can place the cut.
    const std::vector<float> peaks = ScatteredPeaks(16384, 300, 0.015f);
    params.top_p = 0.8f;
    REQUIRE(Support(ReferenceProbabilities(params, peaks)).size() == 105);
    CheckMatchesReference(params, peaks, 10000);
  }
  SECTION("after top-k") {
    params.top_k = 100;
    params.top_p = 0.5f;
    CheckMatchesReference(params, ScatteredPeaks(16384, 1000, 0.02f), 10000);
  }
}

TEST_CASE("min-p drops tokens below min_p * p_max") {
  SamplerParams params;
  params.min_p = 0.1f;
  const std::vector<float> logits = LogitsOf({0.4, 0.2, 0.08, 0.036, 0.02, 0.264});
  REQUIRE(Support(ReferenceProbabilities(params, logits)) == std::set<int>{0, 1, 2, 5});
  CheckMatchesReference(params, logits, 50000);

  params.top_p = 0.95f;  // keeps ~210 peaks
  params.min_p = 0.2f;   // then keeps those with exp(-0.01 i / 0.7) >= 0.2, i.e. i <= 112
  params.temperature = 0.7f;
  const std::vector<float> peaks = ScatteredPeaks(16384, 1000, 0.01f);
  REQUIRE(Support(ReferenceProbabilities(params, peaks)).size() == 113);
  CheckMatchesReference(params, peaks, 10000);
}

TEST_CASE("Repetition penalty divides positive and multiplies negative recent logits") {
  SamplerParams params = Greedy();
  params.repetition_penalty = 1.5f;
  CHECK(SampleOnce(params, {2.0f, 1.8f, 0.0f}, {0}) == 1);         // 2 / 1.5 < 1.8
  CHECK(SampleOnce(params, {-5.0f, -1.0f, -1.2f}, {1}) == 2);      // -1 * 1.5 < -1.2
  CHECK(SampleOnce(params, {2.0f, 1.0f}, {0, 0, 0}) == 0);         // once per token: 1.33 > 1
  CHECK(SampleOnce(params, {2.0f, 1.8f}, {1}) == 0);               // only recent tokens
  CHECK(SampleOnce(params, {2.0f, 1.8f}, {-1, 2, 1 << 30}) == 0);  // out-of-vocab ids ignored

  params.penalty_last_n = 2;
  CHECK(SampleOnce(params, {2.0f, 1.8f, 0.0f}, {0, 2, 2}) == 0);  // token 0 left the window
  CHECK(SampleOnce(params, {2.0f, 1.8f, 0.0f}, {2, 0, 2}) == 1);
  params.penalty_last_n = 0;
  CHECK(SampleOnce(params, {2.0f, 1.8f, 0.0f}, {0}) == 0);
}

TEST_CASE("Presence penalty subtracts once per distinct recent token") {
  SamplerParams params = Greedy();
  params.presence_penalty = 0.15f;
  CHECK(SampleOnce(params, {2.0f, 1.8f}, {0, 0, 0}) == 0);  // 1.85: not scaled by the count
  params.presence_penalty = 0.3f;
  CHECK(SampleOnce(params, {2.0f, 1.8f}, {0}) == 1);

  SamplerParams sampling;
  sampling.presence_penalty = 50.0f;
  const std::vector<float> logits = {0.0f, 0.0f};
  const std::vector<int> recent = {0};
  const auto sampler = MakeSampler(sampling);
  for (int i = 0; i < 100; ++i) CHECK(sampler->Sample(logits.data(), 2, recent.data(), 1) == 1);
}

TEST_CASE("NaN and infinite logits never crash or win") {
  const std::vector<float> with_nan = {kNaN, 1.0f, kNaN, 3.0f, kNaN};
  CHECK(SampleOnce(Greedy(), with_nan) == 3);
  SamplerParams params;
  const auto sampler = MakeSampler(params);
  std::vector<int> counts = DrawCounts(*sampler, with_nan, 2000);
  CHECK(counts[0] + counts[2] + counts[4] == 0);
  CHECK((counts[1] > 0 && counts[3] > 0));

  // +inf tokens share all the mass.
  counts = DrawCounts(*sampler, {1.0f, kInf, 2.0f, kInf}, 2000);
  CHECK(counts[0] + counts[2] == 0);
  CHECK((counts[1] > 800 && counts[3] > 800));

  // -inf tokens kept by a generous top-k still have zero probability.
  params.top_k = 3;
  counts = DrawCounts(*MakeSampler(params), {-kInf, 0.0f, -kInf, 0.0f}, 2000);
  CHECK(counts[0] + counts[2] == 0);

  // Nothing to choose from: a clear sentinel rather than an arbitrary token.
  for (const std::vector<float>& hopeless :
       {std::vector<float>{kNaN, kNaN}, std::vector<float>{-kInf, kNaN, -kInf}}) {
    CHECK(SampleOnce(Greedy(), hopeless) == Sampler::kNoToken);
    CHECK(sampler->Sample(hopeless.data(), static_cast<int>(hopeless.size()), nullptr, 0) ==
          Sampler::kNoToken);
  }
  CHECK(sampler->Sample(nullptr, 4, nullptr, 0) == Sampler::kNoToken);
  CHECK(sampler->Sample(with_nan.data(), 0, nullptr, 0) == Sampler::kNoToken);
  const int after_failures = sampler->Sample(with_nan.data(), 5, nullptr, 0);
  CHECK((after_failures == 1 || after_failures == 3));
}

TEST_CASE("Gemma-sized vocabulary") {
  const std::vector<float> logits = RandomLogits(kGemmaVocab, 3, 30.0f);
  const int argmax =
      static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  CHECK(SampleOnce(Greedy(), logits) == argmax);

  SECTION("top-k, top-p and repetition penalty") {
    SamplerParams params;
    params.top_k = 64;
    params.top_p = 0.95f;
    params.repetition_penalty = 1.1f;
    const std::vector<int> recent = {argmax, 5, 6};
    std::vector<float> penalized = logits;
    for (int token : recent) {
      float& logit = penalized[token];
      logit = logit > 0 ? logit / params.repetition_penalty : logit * params.repetition_penalty;
    }
    const std::set<int> allowed = Support(ReferenceProbabilities(params, penalized));
    const auto sampler = MakeSampler(params);
    for (int i = 0; i < 200; ++i) {
      CHECK(allowed.count(sampler->Sample(logits.data(), kGemmaVocab, recent.data(), 3)) == 1);
    }
  }
  SECTION("top-p alone") {
    SamplerParams params;
    params.top_p = 0.9f;
    const std::vector<float> peaks = ScatteredPeaks(kGemmaVocab, 1000, 0.005f);
    const std::set<int> nucleus = Support(ReferenceProbabilities(params, peaks));
    REQUIRE(nucleus.size() > 400);
    const auto sampler = MakeSampler(params);
    for (int i = 0; i < 100; ++i) {
      CHECK(nucleus.count(sampler->Sample(peaks.data(), kGemmaVocab, nullptr, 0)) == 1);
    }
  }
  SECTION("plain temperature, interleaved with a tiny vocabulary to reuse scratch across sizes") {
    const auto sampler = MakeSampler(SamplerParams());
    const std::vector<float> tiny = {0.0f, 100.0f};
    for (int i = 0; i < 20; ++i) {
      const int token = sampler->Sample(logits.data(), kGemmaVocab, nullptr, 0);
      CHECK((token >= 0 && token < kGemmaVocab));
      CHECK(sampler->Sample(tiny.data(), 2, nullptr, 0) == 1);
    }
  }
}

TEST_CASE("Logit bias moves or bans tokens, after the penalties, in every sampling mode") {
  const std::vector<float> logits = {1.0f, 5.0f, 3.0f, -2.0f};
  SamplerParams params = Greedy();
  params.logit_bias = {{1, -kInf}};  // ban the argmax
  CHECK(MakeSampler(params)->Sample(logits.data(), 4, nullptr, 0) == 2);
  params.logit_bias = {{3, 10.0f}, {42, 100.0f}};  // an id past this vocab is ignored here
  CHECK(MakeSampler(params)->Sample(logits.data(), 4, nullptr, 0) == 3);
  // Sampled: a banned token is never drawn.
  params = SamplerParams();
  params.seed = 3;
  params.logit_bias = {{1, -kInf}, {2, -kInf}};
  auto sampler = MakeSampler(params);
  for (int i = 0; i < 200; ++i) {
    const int token = sampler->Sample(logits.data(), 4, nullptr, 0);
    CHECK((token == 0 || token == 3));
  }
  for (float bad : {kNaN, kInf}) {
    params.logit_bias = {{0, bad}};
    CHECK(params.Validate().code() == StatusCode::kInvalidArgument);
  }
}

// Pushes `pieces` through a TextScanner of stop strings: what was shown, and whether one ended it.
static std::pair<std::string, bool> Shown(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  TextScanner filter(stops);
  std::string shown;
  for (const std::string& piece : pieces) {
    int found = -1;
    shown += filter.Push(piece, &found);
    if (found >= 0) return {shown, true};
  }
  return {shown + filter.Flush(), false};
}

TEST_CASE("Stop strings spanning pieces are never shown; near misses are released") {
  using Result = std::pair<std::string, bool>;
  CHECK(Shown({"<end>"}, {"Hello", " wor", "ld<e", "nd> more"}) == Result("Hello world", true));
  CHECK(Shown({"<end>"}, {"a <e", "n", "x"}) == Result("a <enx", false));  // a near miss, released
  CHECK(Shown({"ab", "b"}, {"xa", "b"}) == Result("x", true));             // the earliest match wins
  CHECK(Shown({"\xC3\xA9t\xC3\xA9"}, {"l'\xC3\xA9", "t\xC3\xA9!"}) == Result("l'", true));
  CHECK(Shown({}, {"plain", " text"}) == Result("plain text", false));
  // Held back exactly while it could still match.
  TextScanner filter({"<end>"});
  int found = -1;
  CHECK(filter.Push("abc<e", &found) == "abc");
  CHECK(filter.Push("n", &found) == "");
  CHECK(filter.Push("d", &found) == "");
  CHECK(found == -1);
  CHECK(filter.Push(">tail", &found) == "");
  CHECK(found == 0);
}

TEST_CASE("Text scanner: the text after a match stays held and is scanned for the next one") {
  TextScanner scanner({"<a>", "<b>"});
  int found = -1;
  CHECK(scanner.Push("x<a>y<b", &found) == "x");
  CHECK(found == 0);
  CHECK(scanner.Push("", &found) == "y");  // "<b" could still become "<b>"
  CHECK(found == -1);
  CHECK(scanner.Push(">z", &found) == "");
  CHECK(found == 1);
  CHECK(scanner.Push("", &found) == "z");
  CHECK(scanner.Flush().empty());
}

}  // namespace edgelm

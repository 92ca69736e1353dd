// The two engines of the integer linears on a whole model: brown-tiny in the mobile QAT recipe (int8
// attention and KV-owner MLPs, int2 KV-sharing MLPs, int4 head with per-token inputs) gives the same
// logits through XNNPACK as through our kernels, up to float rounding, and XNNPACK's packed copy
// replaces the file's weights rather than adding to them.
#include <catch2/catch.hpp>

#include <vector>

#include "common/npy.h"
#include "model/xnn_linear.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

const char* const kModel = EDGELM_SOURCE_DIR "/models/brown-tiny-mobile.edgelm";

std::unique_ptr<LoadedModel> Load(LinearEngine engine) {
  LoadOptions options;
  options.engine = engine;
  std::unique_ptr<LoadedModel> m;
  const Status s = LoadedModel::Open(kModel, options, &m);
  INFO(s.message());
  REQUIRE(s.ok());
  return m;
}

std::vector<float> Logits(const Gemma4Model& model, const std::vector<int>& tokens, int chunk) {
  std::unique_ptr<KvCache> kv;
  const int T = static_cast<int>(tokens.size());
  REQUIRE(KvCache::Create(model.config(), KvCacheOptions{T, chunk, KvType::kF32}, &kv).ok());
  WorkspacePtr ws = model.NewWorkspace(nullptr);
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  std::vector<float> logits(tokens.size() * vocab);
  for (int i = 0; i < T; i += chunk) {
    const int n = std::min(chunk, T - i);
    const Status s = model.Forward(tokens.data() + i, n, LogitsMode::kAll, kv.get(), ws.get(), logits.data() + i * vocab);
    REQUIRE(s.ok());
  }
  return logits;
}

TEST_CASE("XNNPACK and edgelm's kernels give the same mobile-model logits") {
  NpyArray ids;
  REQUIRE(ReadNpy(testing::SharedPath("models/brown-tiny/qat-mobile/ref_input_ids_test128.npy"), &ids).ok());
  const std::vector<int> tokens(ids.ints.begin(), ids.ints.end());
  const std::unique_ptr<LoadedModel> ours = Load(LinearEngine::kEdgelm), xnn = Load(LinearEngine::kXnnpack);
  CHECK(ours->model().xnn().size() == 0);
  const XnnWeights& packed = xnn->model().xnn();
  INFO("tensors on XNNPACK: " << packed.size() << ", packed " << packed.packed_bytes() << " bytes for "
                              << packed.source_bytes() << " bytes of codes");
  REQUIRE(packed.size() > 0);
  // Scales, and per-channel sums for the kernels' zero-point terms, are all XNNPACK adds.
  CHECK(packed.packed_bytes() >= packed.source_bytes());
  CHECK(packed.packed_bytes() <= packed.source_bytes() * 1.10 + 64 * 1024);

  const size_t vocab = static_cast<size_t>(ours->config().vocab_size);
  // Decode-sized (1 token) and prefill-sized (32-token) calls: different XNNPACK kernels.
  for (int chunk : {1, 32}) {
    const testing::LogitComparison c = testing::CompareLogits(Logits(xnn->model(), tokens, chunk),
                                                              Logits(ours->model(), tokens, chunk), vocab);
    INFO("chunk " << chunk << ": max |d| " << c.max_abs << ", mean |d| " << c.mean_abs << ", argmax agree "
                  << c.argmax_agree << "/" << c.rows);
    // Integer sums are exact on both; only the order of two float multiplications differs (by one
    // ulp), and where an activation lands next to a rounding boundary of its static scale, its code
    // flips and the difference travels on. Measured: mean |d| 4e-4 on x86 and on i8mm cores; 0.014 on
    // dotprod cores for more than one token, whose XNNPACK assembly multiplies the two scales first
    // for every output (docs/performance.md).
    CHECK(c.mean_abs < 2e-2);
    CHECK(c.argmax_agree >= c.rows - 2);
  }
}

}  // namespace
}  // namespace edgelm

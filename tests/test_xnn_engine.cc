// The two engines of the integer linears on a whole model: brown-tiny in the mobile QAT recipe (int8
// attention and KV-owner MLPs, int2 KV-sharing MLPs, int4 head with per-token inputs) gives the same
// logits through XNNPACK as through our kernels, up to float rounding, and XNNPACK's packed copy
// replaces the file's weights rather than adding to them; kept in a cache file, it is mapped at later
// loads instead of packed, and whatever is wrong with that file costs a packing, never the load.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "common/hash.h"
#include "common/npy.h"
#include "model/xnn_linear.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

const char* const kModel = EDGELM_SOURCE_DIR "/models/brown-tiny-mobile.edgelm";

std::unique_ptr<LoadedModel> Load(LinearEngine engine, const std::string& packed_cache = "",
                                  LoadOptions::Verify verify = LoadOptions::Verify::kNone) {
  LoadOptions options;
  options.engine = engine;
  options.packed_weights_cache = packed_cache;
  options.verify = verify;
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

const std::vector<int>& TestTokens() {
  static const std::vector<int> tokens = [] {
    NpyArray ids;
    REQUIRE(ReadNpy(testing::SharedPath("models/brown-tiny/qat-mobile/ref_input_ids_test128.npy"), &ids).ok());
    return std::vector<int>(ids.ints.begin(), ids.ints.begin() + 40);
  }();
  return tokens;
}

// The packed weights served from a cache file are the bytes XNNPACK packs: the logits are those of a
// load without a cache, bit for bit, for decode- and prefill-sized calls.
void RequireSameLogits(const LoadedModel& got, const LoadedModel& want) {
  for (int chunk : {1, 16}) CHECK(Logits(got.model(), TestTokens(), chunk) == Logits(want.model(), TestTokens(), chunk));
}

TEST_CASE("XNNPACK's packed weights are written to the cache file at the first load and mapped from it at the next") {
  const std::string cache = testing::TempDir() + "/mobile.xnnpack";
  std::remove(cache.c_str());
  const std::unique_ptr<LoadedModel> plain = Load(LinearEngine::kXnnpack);
  const int planned = static_cast<int>(plain->model().xnn().size());
  REQUIRE(planned > 0);
  CHECK_FALSE(plain->model().xnn().served_from_cache_file());

  const std::unique_ptr<LoadedModel> first = Load(LinearEngine::kXnnpack, cache);
  const XnnWeights& written = first->model().xnn();
  CHECK(written.size() == static_cast<size_t>(planned));
  CHECK(written.cached_tensors() == 0);
  CHECK(written.served_from_cache_file());  // once written, this load maps it too
  REQUIRE(std::filesystem::exists(cache));
  CHECK(std::filesystem::file_size(cache) >= written.packed_bytes());

  const std::unique_ptr<LoadedModel> second = Load(LinearEngine::kXnnpack, cache, LoadOptions::Verify::kAtLoad);
  const XnnWeights& mapped = second->model().xnn();
  CHECK(mapped.size() == static_cast<size_t>(planned));
  CHECK(mapped.cached_tensors() == planned);
  CHECK(mapped.served_from_cache_file());
  CHECK(mapped.packed_bytes() == plain->model().xnn().packed_bytes());
  RequireSameLogits(*first, *plain);
  RequireSameLogits(*second, *plain);
  // populate faults the cache file's pages in at load, as it does the model's.
  LoadOptions populate;
  populate.engine = LinearEngine::kXnnpack;
  populate.packed_weights_cache = cache;
  populate.populate = true;
  std::unique_ptr<LoadedModel> populated;
  REQUIRE(LoadedModel::Open(kModel, populate, &populated).ok());
  CHECK(populated->model().xnn().cached_tensors() == planned);
  RequireSameLogits(*populated, *plain);
  // Our kernels need no packing: a cache path changes nothing for them.
  const std::unique_ptr<LoadedModel> ours = Load(LinearEngine::kEdgelm, testing::TempDir() + "/unused.xnnpack");
  CHECK(ours->model().xnn().size() == 0);
  CHECK_FALSE(std::filesystem::exists(testing::TempDir() + "/unused.xnnpack"));
}

TEST_CASE("a packed-weights cache that is damaged, stale or cannot be written costs a packing, not the load") {
  const std::string cache = testing::TempDir() + "/stale.xnnpack";
  std::remove(cache.c_str());
  const std::unique_ptr<LoadedModel> plain = Load(LinearEngine::kXnnpack);
  const int planned = static_cast<int>(plain->model().xnn().size());
  (void)Load(LinearEngine::kXnnpack, cache);
  const std::vector<uint8_t> good = testing::ReadFileBytes(cache);
  REQUIRE(good.size() > 4096);

  // Loads with `bytes` as the cache: `repacked` tensors (all by default) packed again, the same
  // logits, and the cache rewritten so that the next load maps every tensor.
  auto packs_again = [&](const std::vector<uint8_t>& bytes, LoadOptions::Verify verify, int repacked = -1) {
    testing::WriteFileBytes(cache, bytes);
    const std::unique_ptr<LoadedModel> m = Load(LinearEngine::kXnnpack, cache, verify);
    CHECK(m->model().xnn().size() == static_cast<size_t>(planned));
    CHECK(m->model().xnn().cached_tensors() == planned - (repacked < 0 ? planned : repacked));
    RequireSameLogits(*m, *plain);
    CHECK(Load(LinearEngine::kXnnpack, cache)->model().xnn().cached_tensors() == planned);
  };
  SECTION("packed bytes damaged, found by their checksum") {
    std::vector<uint8_t> bad = good;
    bad[bad.size() - 100] ^= 0x10;  // inside the last entry: entries end at the file's end
    packs_again(bad, LoadOptions::Verify::kAtLoad);
  }
  SECTION("truncated") { packs_again(std::vector<uint8_t>(good.begin(), good.begin() + good.size() / 2), LoadOptions::Verify::kNone); }
  SECTION("not a cache file") { packs_again(std::vector<uint8_t>(1000, 'x'), LoadOptions::Verify::kNone); }
  // `bytes` with its table and header checksums recomputed after an edit of the table (docs/format.md:
  // an 88-byte header, then 48-byte entries: the layout at byte 16 of each, the size at byte 32).
  auto resealed = [&](std::vector<uint8_t> bytes) {
    const uint64_t table = Fnv1a64(bytes.data() + 88, static_cast<size_t>(planned) * 48);
    std::memcpy(bytes.data() + 72, &table, sizeof table);
    const uint64_t header = Fnv1a64(bytes.data(), 80);
    std::memcpy(bytes.data() + 80, &header, sizeof header);
    return bytes;
  };
  uint32_t count = 0;
  std::memcpy(&count, good.data() + 12, sizeof count);
  REQUIRE(count == static_cast<uint32_t>(planned));
  SECTION("written on a CPU whose XNNPACK packs another layout") {
    std::vector<uint8_t> other = good;
    for (uint32_t i = 0; i < count; ++i) other[88 + i * 48 + 16] ^= 1;
    packs_again(resealed(other), LoadOptions::Verify::kNone);
  }
  SECTION("an entry shorter than XNNPACK reads, checksums and all") {
    std::vector<uint8_t> shorter = good;
    uint64_t size = 0;
    std::memcpy(&size, shorter.data() + 88 + 32, sizeof size);
    size -= 64;
    std::memcpy(shorter.data() + 88 + 32, &size, sizeof size);
    packs_again(resealed(shorter), LoadOptions::Verify::kNone, /*repacked=*/1);
  }
  SECTION("in a directory that does not exist") {
    const std::string nowhere = testing::TempDir() + "/no/such/dir/mobile.xnnpack";
    const std::unique_ptr<LoadedModel> m = Load(LinearEngine::kXnnpack, nowhere);
    CHECK(m->model().xnn().size() == static_cast<size_t>(planned));
    CHECK(m->model().xnn().cached_tensors() == 0);
    CHECK_FALSE(m->model().xnn().served_from_cache_file());  // kept in anonymous memory
    RequireSameLogits(*m, *plain);
  }
}

// Run by scripts/test-arm64.sh under several qemu CPU models in turn with one cache file: whatever CPU
// wrote it, a load on this one gives the logits of packing afresh, bit for bit (entries whose packing
// layout differs here are packed again), and leaves a file the next load maps whole.
TEST_CASE("a packed-weights cache written on another CPU", "[.packed-cache-across-cpus]") {
  const char* cache = std::getenv("EDGELM_TEST_PACKED_CACHE");
  REQUIRE(cache);
  const std::unique_ptr<LoadedModel> plain = Load(LinearEngine::kXnnpack);
  const std::unique_ptr<LoadedModel> m = Load(LinearEngine::kXnnpack, cache);
  const int planned = static_cast<int>(plain->model().xnn().size());
  std::printf("%d of %d packed tensors mapped from the cache\n", m->model().xnn().cached_tensors(), planned);
  CHECK(m->model().xnn().size() == static_cast<size_t>(planned));
  RequireSameLogits(*m, *plain);
  CHECK(Load(LinearEngine::kXnnpack, cache)->model().xnn().cached_tensors() == planned);
}

}  // namespace
}  // namespace edgelm

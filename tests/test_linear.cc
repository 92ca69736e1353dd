// Linear's activation and output arithmetic against a double-precision reference of its definition
// (schemas/edgelm.fbs): QAT static int8, TFLite-range static int8, per-token asymmetric int8 (XNNPACK
// qd8), and the int8 output requantization of the published static FCs, for I8/I4/I2 weights; and
// the XNNPACK engine (model/xnn_linear.h) against the same reference, every operator it runs; Linear
// over channel strips (model/strip_weights.h) equals Linear over the rows bit for bit; asymmetric codes
// run as they are with code sums give the exact integer sums through the kernels' epilogue.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "dispatch.h"
#include "model/linear.h"
#include "model/thread_pool.h"
#include "model/xnn_linear.h"

namespace edgelm {
namespace {

struct RandomWeights {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  std::vector<int> codes;  // [N][K]
  TensorView view;
};

RandomWeights MakeWeights(DType dtype, int N, int K, std::mt19937& rng) {
  RandomWeights w;
  const int lo = dtype == DType::I8 ? -127 : dtype == DType::I4 ? -8 : -2, hi = -lo - (dtype == DType::I8 ? 0 : 1);
  uint64_t row_bytes = 0;
  REQUIRE(RowBytes(dtype, K, &row_bytes).ok());
  w.bytes.assign(row_bytes * N, 0);
  std::uniform_int_distribution<int> code(lo, hi);
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  for (int n = 0; n < N; ++n) {
    w.scales.push_back(scale(rng));
    uint8_t* row = w.bytes.data() + n * row_bytes;
    for (int k = 0; k < K; ++k) {
      const int c = code(rng);
      w.codes.push_back(c);
      if (dtype == DType::I8) row[k] = static_cast<uint8_t>(c);
      else if (dtype == DType::I4) row[k / 2] |= static_cast<uint8_t>((c & 0xf) << (4 * (k % 2)));
      else row[k / 4] |= static_cast<uint8_t>((c & 3) << (2 * (k % 4)));
    }
  }
  w.view.dtype = dtype;
  w.view.shape = {N, K};
  w.view.data = w.bytes.data();
  w.view.size = w.bytes.size();
  w.view.scales = w.scales.data();
  return w;
}

// y[m][n] in double from the per-token integer codes minus zero point and the token's scale.
std::vector<double> Reference(const RandomWeights& w, const std::vector<std::vector<int>>& codes,
                              const std::vector<double>& x_scale, int N, int K) {
  std::vector<double> y;
  for (size_t m = 0; m < codes.size(); ++m)
    for (int n = 0; n < N; ++n) {
      int64_t acc = 0;
      for (int k = 0; k < K; ++k) acc += static_cast<int64_t>(codes[m][k]) * w.codes[static_cast<size_t>(n) * K + k];
      y.push_back(static_cast<double>(acc) * x_scale[m] * w.scales[n]);
    }
  return y;
}

double MaxAbs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

int BitsOf(DType dtype) { return dtype == DType::I8 ? 8 : dtype == DType::I4 ? 4 : 2; }

// Linear over w repacked into channel strips, read by the scalar strips reference and by the selected
// variant's strips GEMM if it has one, gives `want` (the row-major result) bit for bit; with `code_sums`
// too, if given.
void CheckStrips(const RandomWeights& w, const std::vector<float>& x, int M, const std::vector<float>& want,
                 const int32_t* code_sums = nullptr) {
  const int bits = BitsOf(w.view.dtype);
  const size_t N = static_cast<size_t>(w.view.rows()), K = static_cast<size_t>(w.view.cols());
  PreparedWeights prepared;
  prepared.strips = Strips{nullptr, edgelm_qs8_strip_bytes(bits, K), nullptr};
  prepared.code_sums = code_sums;
  std::vector<uint8_t> packed((N + 15) / 16 * prepared.strips.strip_bytes);
  edgelm_qs8_pack_strips(bits, N, K, w.view.data, w.bytes.size() / N, packed.data());
  prepared.strips.data = packed.data();
  const edgelm_kernels& selected = *edgelm_kernels_select();
  const qs8_qcxw_strips_gemm_fn gemms[] = {
      bits == 8 ? edgelm_qs8_qc8w_strips_gemm_scalar : bits == 4 ? edgelm_qs8_qc4w_strips_gemm_scalar : edgelm_qs8_qc2w_strips_gemm_scalar,
      bits == 8 ? selected.qs8_qc8w_strips_gemm : bits == 4 ? selected.qs8_qc4w_strips_gemm : selected.qs8_qc2w_strips_gemm};
  for (qs8_qcxw_strips_gemm_fn gemm : gemms) {
    if (!gemm) continue;
    prepared.strips.gemm = gemm;
    std::vector<float> y(want.size());
    LinearScratch scratch;
    Linear(w.view, prepared, x.data(), M, y.data(), &scratch, nullptr);
    CHECK(y == want);
  }
}

// Asymmetric codes run as they are with w's code sums: every output is the exact int32 sum of (code -
// zero point) x weight code through the kernels' float epilogue, bit for bit, over the rows and the
// strips, on one thread and on two.
void CheckCodeSums(const RandomWeights& w, const std::vector<float>& x, int M) {
  REQUIRE(LinearTakesCodeSums(w.view));
  const int N = static_cast<int>(w.view.rows()), K = static_cast<int>(w.view.cols());
  std::vector<int32_t> sums(static_cast<size_t>(N));
  edgelm_qs8_code_sums(BitsOf(w.view.dtype), sums.size(), static_cast<size_t>(K), w.view.data, w.bytes.size() / sums.size(),
                       sums.data());
  std::vector<float> want;
  std::vector<int8_t> q(static_cast<size_t>(K));
  for (int m = 0; m < M; ++m) {
    const AsymmetricQuant a = QuantizeAsymmetric(x.data() + static_cast<size_t>(m) * K, static_cast<size_t>(K), q.data());
    for (int n = 0; n < N; ++n) {
      int32_t acc = 0;
      for (int k = 0; k < K; ++k) acc += (q[k] - a.zero_point) * w.codes[static_cast<size_t>(n) * K + k];
      want.push_back(static_cast<float>(acc) * w.scales[n] * a.scale);
    }
  }
  PreparedWeights prepared;
  prepared.code_sums = sums.data();
  std::unique_ptr<ThreadPool> pool;
  REQUIRE(ThreadPool::Create(2, &pool).ok());
  LinearScratch scratch;
  for (pthreadpool_t threads : {static_cast<pthreadpool_t>(nullptr), pool->get()}) {
    std::vector<float> y(want.size());
    Linear(w.view, prepared, x.data(), M, y.data(), &scratch, threads);
    CHECK(y == want);
  }
  CheckStrips(w, x, M, want, sums.data());
}

// Runs Linear on the M tokens of x and checks it against `ref` to 1e-5 of the largest output.
std::vector<float> RunAndCheck(const RandomWeights& w, const std::vector<float>& x, int M, const std::vector<double>& ref) {
  std::vector<float> y(ref.size());
  LinearScratch scratch;
  Linear(w.view, PreparedWeights{}, x.data(), M, y.data(), &scratch, nullptr);
  double err = 0;
  for (size_t i = 0; i < y.size(); ++i) err = std::max(err, std::fabs(y[i] - ref[i]));
  INFO(DTypeName(w.view.dtype) << ": max |y - ref| " << err << " of max |ref| " << MaxAbs(ref));
  CHECK(err <= 1e-5 * MaxAbs(ref));
  CheckStrips(w, x, M, y);
  std::unique_ptr<ThreadPool> pool;  // the channel split over threads changes no bit
  REQUIRE(ThreadPool::Create(2, &pool).ok());
  std::vector<float> pooled(ref.size());
  Linear(w.view, PreparedWeights{}, x.data(), M, pooled.data(), &scratch, pool->get());
  CHECK(pooled == y);
  return y;
}

TEST_CASE("TFLite-range static int8 inputs keep their -128 codes") {
  std::mt19937 rng(7);
  for (DType dtype : {DType::I8, DType::I4, DType::I2}) {
    const int M = 5, N = 37, K = 72;  // ragged N, K a multiple of 4 (I2 rows stay byte aligned)
    RandomWeights w = MakeWeights(dtype, N, K, rng);
    w.view.activation = ActivationQuant::StaticInt8Full;
    w.view.input_scale = 0.05f;
    std::normal_distribution<float> normal(0.0f, 4.0f);  // about 1 in 8 inputs saturates
    std::vector<float> x(static_cast<size_t>(M) * K);
    for (float& v : x) v = normal(rng);
    x[3] = -127.5f * 0.05f;  // a tie: rounds to even, -128
    std::vector<std::vector<int>> codes(M, std::vector<int>(K));
    int saturated_low = 0;
    for (int m = 0; m < M; ++m)
      for (int k = 0; k < K; ++k) {
        const float r = std::nearbyint(x[static_cast<size_t>(m) * K + k] / 0.05f);
        codes[m][k] = static_cast<int>(std::min(127.0f, std::max(-128.0f, r)));
        saturated_low += codes[m][k] == -128;
      }
    REQUIRE(codes[0][3] == -128);
    REQUIRE(saturated_low > 10);
    const std::vector<double> ref = Reference(w, codes, std::vector<double>(M, 0.05f), N, K);
    const std::vector<float> y = RunAndCheck(w, x, M, ref);
  }
}

TEST_CASE("Asymmetric per-token inputs follow XNNPACK's qd8, including all-positive rows") {
  std::mt19937 rng(11);
  for (DType dtype : {DType::I8, DType::I4, DType::I2}) {
    for (int N : {45, 8200}) {  // 8200: passes of extra rows large enough to share the pool
      const int M = 11, K = 64;  // more tokens than one pass of extra rows
      RandomWeights w = MakeWeights(dtype, N, K, rng);
      w.view.activation = ActivationQuant::DynamicInt8Asymmetric;
      std::uniform_real_distribution<float> u(-1.0f, 3.0f);
      std::vector<float> x(static_cast<size_t>(M) * K);
      for (float& v : x) v = u(rng);
      for (int k = 0; k < K; ++k) x[K + k] = std::fabs(x[K + k]);  // token 1: zero point -128, codes up to 255
      for (int k = 0; k < K; ++k) x[2 * K + k] = 0.0f;             // token 2: all zero
      std::vector<std::vector<int>> codes(M, std::vector<int>(K));
      std::vector<double> scale(M);
      for (int m = 0; m < M; ++m) {
        const float* xm = x.data() + static_cast<size_t>(m) * K;
        const float lo = std::min(0.0f, *std::min_element(xm, xm + K)), hi = std::max(0.0f, *std::max_element(xm, xm + K));
        if (hi == lo) { scale[m] = 1.0; continue; }
        const float inv = 255.0f / (hi - lo);
        const float zero = (-128.0f + lo * inv) + (127.0f + hi * inv) > 0.0f ? -128.0f - lo * inv : 127.0f - hi * inv;
        const int zp = static_cast<int>(std::lrint(std::min(127.0f, std::max(-128.0f, zero))));
        for (int k = 0; k < K; ++k) {
          const int q = static_cast<int>(std::nearbyint(std::min<float>(127 - zp, std::max<float>(-128 - zp, xm[k] * inv)))) + zp;
          REQUIRE(q >= -128);
          REQUIRE(q <= 127);
          codes[m][k] = q - zp;
        }
        scale[m] = 1.0 / inv;
      }
      REQUIRE(*std::max_element(codes[1].begin(), codes[1].end()) == 255);
      const std::vector<double> ref = Reference(w, codes, scale, N, K);
      const std::vector<float> y = RunAndCheck(w, x, M, ref);  // without code sums: two kernel rows
      for (int n = 0; n < N; ++n) CHECK(y[2 * N + n] == 0.0f);
      if (dtype != DType::I8) CheckCodeSums(w, x, M);
      else CHECK_FALSE(LinearTakesCodeSums(w.view));  // int8 codes cannot take -128 everywhere
    }
  }
}

TEST_CASE("Code sums: more tokens and channels than one kernel call covers, and the K limit") {
  std::mt19937 rng(17);
  for (DType dtype : {DType::I4, DType::I2}) {
    for (const auto& [M, N] : {std::pair<int, int>{300, 45}, {3, 1000}}) {
      const int K = 40;
      RandomWeights w = MakeWeights(dtype, N, K, rng);
      w.view.activation = ActivationQuant::DynamicInt8Asymmetric;
      std::uniform_real_distribution<float> u(-2.0f, 1.0f);
      std::vector<float> x(static_cast<size_t>(M) * K);
      for (float& v : x) v = u(rng);
      CheckCodeSums(w, x, M);
    }
    // Exact float sums at unit scales need K * 128 * max |code| <= 2^24.
    TensorView wide;
    wide.dtype = dtype;
    wide.activation = ActivationQuant::DynamicInt8Asymmetric;
    const int64_t limit = dtype == DType::I4 ? 16384 : 65536;
    wide.shape = {8, limit};
    CHECK(LinearTakesCodeSums(wide));
    wide.shape = {8, limit + 4};
    CHECK_FALSE(LinearTakesCodeSums(wide));
    wide.shape = {8, 64};
    wide.activation = ActivationQuant::DynamicInt8;
    CHECK_FALSE(LinearTakesCodeSums(wide));
  }
}

TEST_CASE("An output scale requantizes to int8 steps with saturation") {
  std::mt19937 rng(3);
  const int M = 3, N = 50, K = 128;
  RandomWeights w = MakeWeights(DType::I8, N, K, rng);
  w.view.activation = ActivationQuant::StaticInt8Full;
  w.view.input_scale = 0.02f;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(M) * K);
  for (float& v : x) v = normal(rng);
  std::vector<float> plain(static_cast<size_t>(M) * N), requantized(plain.size());
  LinearScratch scratch;
  Linear(w.view, PreparedWeights{}, x.data(), M, plain.data(), &scratch, nullptr);
  float amax = 0;
  for (float v : plain) amax = std::max(amax, std::fabs(v));
  w.view.output_scale = amax / 100.0f;  // most outputs in range, none saturate
  Linear(w.view, PreparedWeights{}, x.data(), M, requantized.data(), &scratch, nullptr);
  for (size_t i = 0; i < plain.size(); ++i) {
    const float q = std::nearbyint(plain[i] / w.view.output_scale);
    CHECK(requantized[i] == q * w.view.output_scale);
  }
  w.view.output_scale = amax / 200.0f;  // the largest outputs saturate at 127 or -128 steps
  Linear(w.view, PreparedWeights{}, x.data(), M, requantized.data(), &scratch, nullptr);
  int saturated = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    const float q = std::min(127.0f, std::max(-128.0f, std::nearbyint(plain[i] / w.view.output_scale)));
    CHECK(requantized[i] == q * w.view.output_scale);
    saturated += std::fabs(q) >= 127.0f;
  }
  CHECK(saturated > 0);
}

// Codes and per-token scales of x[M][K] as the activation mode defines them (x ~= (code) * scale,
// codes already minus any zero point).
void QuantizeReference(const TensorView& w, const std::vector<float>& x, int M, int K,
                       std::vector<std::vector<int>>* codes, std::vector<double>* scales) {
  codes->assign(M, std::vector<int>(K));
  scales->assign(M, 1.0);
  for (int m = 0; m < M; ++m) {
    const float* xm = x.data() + static_cast<size_t>(m) * K;
    std::vector<int>& c = (*codes)[m];
    if (w.activation == ActivationQuant::DynamicInt8Asymmetric) {
      std::vector<int8_t> q(K);
      const AsymmetricQuant a = QuantizeAsymmetric(xm, K, q.data());  // checked against its definition above
      for (int k = 0; k < K; ++k) c[k] = q[k] - a.zero_point;
      (*scales)[m] = a.scale;
      continue;
    }
    const float scale = w.static_input() ? w.input_scale : edgelm_qs8_dynamic_scale_scalar(K, xm);
    const float lo = w.activation == ActivationQuant::StaticInt8Full ? -128.0f : -127.0f;
    for (int k = 0; k < K; ++k) c[k] = static_cast<int>(std::min(127.0f, std::max(lo, std::nearbyint(xm[k] / scale))));
    (*scales)[m] = scale;
  }
}

// XNNPACK's result: float outputs within 2 roundings of the exact product (its epilogue multiplies in
// another order than ours, docs/performance.md), int8 outputs the reference's code or, at a rounding
// tie of the float product, its neighbour.
void CheckXnnpack(const RandomWeights& w, const std::vector<float>& x, int M, XnnOperators* ops, int* ties) {
  const int N = static_cast<int>(w.view.rows()), K = static_cast<int>(w.view.cols());
  std::vector<std::vector<int>> codes;
  std::vector<double> scales;
  QuantizeReference(w.view, x, M, K, &codes, &scales);
  const std::vector<double> ref = Reference(w, codes, scales, N, K);
  std::vector<float> y(ref.size(), NAN);
  REQUIRE(ops->Run(w.view, x.data(), M, y.data(), nullptr));
  for (size_t i = 0; i < y.size(); ++i) {
    INFO(DTypeName(w.view.dtype) << " activation " << static_cast<int>(w.view.activation) << " M " << M << " N " << N
                                 << " K " << K << " output " << i << ": " << y[i] << " vs " << ref[i]);
    if (w.view.output_scale > 0.0f) {
      const double exact = ref[i] / w.view.output_scale;
      const double code = std::min(127.0, std::max(-128.0, std::nearbyint(exact)));
      const double got = y[i] / w.view.output_scale;
      const bool near_tie = std::fabs(std::fabs(exact - std::floor(exact)) - 0.5) < 1e-4;
      *ties += near_tie;
      CHECK(std::fabs(got - code) <= (near_tie ? 1.0 : 0.0) + 1e-3);
    } else {
      CHECK(std::fabs(y[i] - ref[i]) <= 2.5e-7 * std::fabs(ref[i]) + 1e-30);
    }
  }
}

TEST_CASE("XNNPACK runs every integer linear as the definition says, on ragged shapes") {
  std::mt19937 rng(5);
  const edgelm_kernels& kernels = *edgelm_kernels_select();
  INFO("edgelm kernels: " << kernels.name);
  int ties = 0, checked = 0;
  for (DType dtype : {DType::I8, DType::I4, DType::I2})
    for (ActivationQuant a : {ActivationQuant::StaticInt8, ActivationQuant::StaticInt8Full, ActivationQuant::None,
                              ActivationQuant::DynamicInt8Asymmetric})
      for (bool int8_output : {false, true})
        for (const auto& [N, K] : {std::pair<int, int>{1, 8}, {7, 24}, {37, 72}, {64, 256}, {19, 1024}}) {
          if (int8_output && a != ActivationQuant::StaticInt8 && a != ActivationQuant::StaticInt8Full) continue;
          RandomWeights w = MakeWeights(dtype, N, K, rng);
          w.view.name = "w";
          w.view.activation = a;
          w.view.input_scale = 0.05f;
          std::normal_distribution<float> normal(0.0f, 2.5f);  // static inputs saturate now and then
          std::vector<float> x(static_cast<size_t>(16) * K);
          for (float& v : x) v = normal(rng);
          for (int k = 0; k < K; ++k) x[K + k] = std::fabs(x[K + k]);  // token 1: all positive
          if (int8_output) {
            std::vector<std::vector<int>> codes;
            std::vector<double> scales;
            QuantizeReference(w.view, x, 16, K, &codes, &scales);
            w.view.output_scale = static_cast<float>(MaxAbs(Reference(w, codes, scales, N, K)) / 120.0);
          }
          const XnnOperator op = ChooseXnnOperator(w.view, LinearEngine::kXnnpack);
          if (op == XnnOperator::kNone) {
            INFO("no XNNPACK SIMD kernel for this tensor on this CPU (2-bit without dotprod)");
            CHECK(dtype == DType::I2);
            continue;
          }
          std::unique_ptr<XnnWeights> packed;
          REQUIRE(XnnWeights::Create(nullptr, {&w.view}, LinearEngine::kXnnpack, {}, &packed).ok());
          REQUIRE(packed->size() == 1);
          CHECK(packed->packed_bytes() >= w.view.size);
          XnnOperators ops(packed.get());
          for (int M : {1, 2, 5, 16}) {  // one operator reshaped for each batch size, and back
            CheckXnnpack(w, x, M, &ops, &ties);
            ++checked;
          }
          CheckXnnpack(w, x, 1, &ops, &ties);
        }
  INFO("rounding ties of int8 outputs: " << ties);
  CHECK(checked > 100);
}

TEST_CASE("The engine rule: forced edgelm runs nothing on XNNPACK; float weights never go to it") {
  std::mt19937 rng(9);
  RandomWeights w = MakeWeights(DType::I8, 16, 64, rng);
  w.view.activation = ActivationQuant::StaticInt8;
  w.view.input_scale = 0.1f;
  CHECK(ChooseXnnOperator(w.view, LinearEngine::kEdgelm) == XnnOperator::kNone);
  CHECK(ChooseXnnOperator(w.view, LinearEngine::kXnnpack) == XnnOperator::kQd8F32Qc8w);
  w.view.output_scale = 1e-6f;  // a requantization scale XNNPACK refuses (>= 256)
  CHECK(ChooseXnnOperator(w.view, LinearEngine::kXnnpack) == XnnOperator::kNone);
  RandomWeights odd = MakeWeights(DType::I4, 4, 63, rng);  // odd K: rows are padded to whole bytes
  CHECK(ChooseXnnOperator(odd.view, LinearEngine::kXnnpack) == XnnOperator::kNone);
  TensorView f;
  f.dtype = DType::F32;
  f.shape = {4, 8};
  CHECK(ChooseXnnOperator(f, LinearEngine::kXnnpack) == XnnOperator::kNone);
}

}  // namespace
}  // namespace edgelm

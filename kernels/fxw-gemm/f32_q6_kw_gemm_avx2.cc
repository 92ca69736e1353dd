// f32 x Q6_K weights GEMM with AVX2/FMA, written for the tied LM head of Gemma 4 E2B (262144 x 1536
// Q6_K, 330 MB read per decoded token): decoding must keep up with memory bandwidth.
// A 256-weight super-block is decoded to int8 (q - 32) 32 weights at a time with byte masks and shifts,
// widened to f32 (exact), and each 16-weight sub-block's dot product is scaled by d * scale once, where
// the scalar reference multiplies every weight by it: only the rounding differs. Sub-blocks alternate
// between two accumulators per token so the scaling FMAs do not wait on each other.
#include "gemm.h"
#include "simd/f32_gemm_avx2.h"

namespace {

constexpr size_t kSuperBlock = 256, kSuperBlockBytes = 210;

// The 16 sub-block scales d * scale[i] of one super-block (d is the f16 at byte 208).
void SubBlockScales(const uint8_t* block, float out[16]) {
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(static_cast<unsigned short>(block[208] | (block[209] << 8))));
  const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 192));
  _mm256_storeu_ps(out, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scales))));
  _mm256_storeu_ps(out + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(scales, scales)))));
}

// q - 32 of weights 32j .. 32j+31 of one 128-weight half: the low nibbles of ql[0..63] (j = 0, 1) or
// its high nibbles (j = 2, 3), and bits 2j, 2j+1 of qh[0..31] as bits 4, 5.
struct HalfCodes {
  __m256i q[4];
  explicit HalfCodes(const uint8_t* ql, const uint8_t* qh) {
    const __m256i low0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
    const __m256i low1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
    const __m256i nibble = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30), offset = _mm256_set1_epi8(32);
    // 16-bit shifts move bits across bytes; the masks keep only bits that stayed in their byte.
    const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(high, 4), bits45);
    const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(high, 2), bits45);
    const __m256i h2 = _mm256_and_si256(high, bits45);
    const __m256i h3 = _mm256_and_si256(_mm256_srli_epi16(high, 2), bits45);
    q[0] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(low0, nibble), h0), offset);
    q[1] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(low1, nibble), h1), offset);
    q[2] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low0, 4), nibble), h2), offset);
    q[3] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low1, 4), nibble), h3), offset);
  }
};

inline __m256 WidenLow8(__m128i codes) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes)); }

// y[m][0] for MR token rows and one weight row.
template <int MR>
void RowDots(size_t K, const float* x, size_t x_stride, const uint8_t* w, float* y, size_t y_stride) {
  __m256 acc[MR][2];
  for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
  alignas(32) float scale[16];
  for (size_t b = 0; b < K / kSuperBlock; ++b) {
    const uint8_t* block = w + b * kSuperBlockBytes;
    _mm_prefetch(reinterpret_cast<const char*>(block + 4 * kSuperBlockBytes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(block + 4 * kSuperBlockBytes + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(block + 4 * kSuperBlockBytes + 128), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(block + 4 * kSuperBlockBytes + 192), _MM_HINT_T0);
    SubBlockScales(block, scale);
    for (int half = 0; half < 2; ++half) {
      const HalfCodes codes(block + 64 * half, block + 128 + 32 * half);
      for (int j = 0; j < 4; ++j) {
        const __m128i low = _mm256_castsi256_si128(codes.q[j]), high = _mm256_extracti128_si256(codes.q[j], 1);
        const __m256 w0 = WidenLow8(low), w1 = WidenLow8(_mm_unpackhi_epi64(low, low));
        const __m256 w2 = WidenLow8(high), w3 = WidenLow8(_mm_unpackhi_epi64(high, high));
        const __m256 scale_a = _mm256_broadcast_ss(scale + 8 * half + 2 * j);
        const __m256 scale_b = _mm256_broadcast_ss(scale + 8 * half + 2 * j + 1);
        const size_t k = b * kSuperBlock + 128 * half + 32 * j;
        for (int m = 0; m < MR; ++m) {
          const float* xk = x + m * x_stride + k;
          const __m256 a = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xk + 8), _mm256_mul_ps(w0, _mm256_loadu_ps(xk)));
          const __m256 c = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xk + 24), _mm256_mul_ps(w2, _mm256_loadu_ps(xk + 16)));
          acc[m][0] = _mm256_fmadd_ps(scale_a, a, acc[m][0]);
          acc[m][1] = _mm256_fmadd_ps(scale_b, c, acc[m][1]);
        }
      }
    }
  }
  for (int m = 0; m < MR; ++m) y[m * y_stride] = SumLanes(_mm256_add_ps(acc[m][0], acc[m][1]));
}

// Token rows MR at a time (each weight row decoded once per MR tokens); a ragged end with fewer.
template <int MR>
void Rows(size_t rows, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes,
          float* y, size_t y_stride) {
  if constexpr (MR > 1) {
    if (rows < MR) return Rows<MR - 1>(rows, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
  }
  for (size_t n = 0; n < N; ++n) RowDots<MR>(K, x, x_stride, w + n * w_row_bytes, y + n, y_stride);
}

}  // namespace

extern "C" void edgelm_f32_q6_kw_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride,
                                           const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride) {
  constexpr size_t kMR = 3;  // 3 x 2 accumulators + 4 widened vectors + 2 scales + temporaries: 16 ymm
  for (size_t m0 = 0; m0 < M; m0 += kMR)
    Rows<kMR>(M - m0 < kMR ? M - m0 : kMR, N, K, x + m0 * x_stride, x_stride, w, w_row_bytes, y + m0 * y_stride,
              y_stride);
}

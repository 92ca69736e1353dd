// AVX-512 VNNI pieces shared by the qs8 x {I8, I4, I2} kernels. vpdpbusd multiplies unsigned by signed
// bytes and adds groups of four straight into int32 lanes (no int16 saturation), so every dtype maps its
// codes to unsigned w + kOffset and the driver subtracts kOffset * sum(x). 32 zmm hold a 4x4 tile.
// Policies decode a chunk of one weight row into Codes{__m512i code[kCodesPerByte]}, code j meeting the
// packed activations at x_chunk + j * 64 (qs8_gemm_tiles.h); DecodeInPlace leaves code j at bit kBits * j
// of its byte (masked, not shifted) for the strips GEMV.
#pragma once

#include <immintrin.h>

#include "simd/qs8_gemm_tiles.h"
#include "simd/qs8_interleave_avx2.h"

namespace {

struct Qs8Avx512Vnni {
  using Acc = __m512i;
  static constexpr size_t kVectorBytes = 64;
  static constexpr int kMR = 4, kNR = 4, kGemvNR = 8;
  static Acc Zero() { return _mm512_setzero_si512(); }
  static int32_t Reduce(Acc v) {
    // Masked extracts: GCC 12's unmasked ones and casts trip -Wuninitialized inside its own headers.
    const __m256i s8 = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xff, v, 0), _mm512_maskz_extracti64x4_epi64(0xff, v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
  }
  static __m512i Load(const void* p) { return _mm512_loadu_si512(p); }
  static Acc AddByteSums(Acc acc, const int8_t* x) { return _mm512_dpbusd_epi32(acc, _mm512_set1_epi8(1), Load(x)); }
  // A 64-byte chunk is two AVX2 halves: groups b < 32 and b >= 32.
  template <size_t cpb>
  static void Interleave(const int8_t* x, int8_t* out) {
    InterleaveActivations<cpb>(x, out, kVectorBytes);
    InterleaveActivations<cpb>(x + 32 * cpb, out + 32, kVectorBytes);
  }
  // Biased codes of one chunk: XOR with 0x80 / 0x88 / 0xaa adds 2^(bits-1) to every two's-complement code.
  static __m512i LoadBiased(const uint8_t* p, char bias) { return _mm512_xor_si512(Load(p), _mm512_set1_epi8(bias)); }
};

// Prefill with output channels in vector lanes. The tiles above keep one weight row per vector, so
// every vpdpbusd needs a horizontal sum at the end and every weight chunk is decoded once per four
// tokens. Here 16 weight rows are decoded once into a strip: a 16x16 dword transpose makes strip
// vector s hold dword s of each row's codes, which meets dword s of the packed activations broadcast,
// so each vpdpbusd adds four products to each of 16 channels and the epilogue stores 16 floats at once.
constexpr size_t kStripLanes = 16;
constexpr int kLaneMR = 8, kLaneStrips = 2;  // register tile: 8 tokens x 32 channels, 16 accumulators
constexpr size_t kLaneMinRows = 32;  // below this the strip decode costs more than it saves (Zen 5: 24-32)

// out[g] lane n = in[n] lane g (dwords), in three rounds of two-source permutes (vpermt2d: GCC 12's
// unpack and shuffle intrinsics trip -Wmaybe-uninitialized, and SIMDe has no masked shuffle).
inline void TransposeDwords16(const __m512i (&in)[16], __m512i (&out)[16]) {
  const auto perm = [](__m512i a, __m512i b, __m512i index) { return _mm512_permutex2var_epi32(a, index, b); };
  // Within 128-bit blocks: rows 2p, 2p+1 at dwords 4L, 4L+1 / at 4L+2, 4L+3 (unpack lo / hi).
  const __m512i lo32 = _mm512_setr_epi32(0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
  const __m512i hi32 = _mm512_setr_epi32(2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
  // Qword pairs of those: rows 4q .. 4q+3 at dword 4L + i.
  const __m512i lo64 = _mm512_setr_epi32(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
  const __m512i hi64 = _mm512_setr_epi32(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
  // 4x4 transpose of 128-bit blocks.
  const __m512i blocks01 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const __m512i blocks23 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const __m512i blocks02 = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
  const __m512i blocks13 = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  __m512i pair[16], quad[16];
  for (int p = 0; p < 8; ++p) {
    pair[2 * p] = perm(in[2 * p], in[2 * p + 1], lo32);
    pair[2 * p + 1] = perm(in[2 * p], in[2 * p + 1], hi32);
  }
  for (int q = 0; q < 4; ++q) {  // quad[4i + q], block L: rows 4q .. 4q+3 at dword 4L + i
    const __m512i* p = pair + 4 * q;
    quad[q] = perm(p[0], p[2], lo64);
    quad[4 + q] = perm(p[0], p[2], hi64);
    quad[8 + q] = perm(p[1], p[3], lo64);
    quad[12 + q] = perm(p[1], p[3], hi64);
  }
  for (int i = 0; i < 4; ++i) {  // out[4L + i] = block L of quad[4i + 0 .. 3]
    const __m512i* b = quad + 4 * i;
    const __m512i low01 = perm(b[0], b[1], blocks01), high01 = perm(b[0], b[1], blocks23);
    const __m512i low23 = perm(b[2], b[3], blocks01), high23 = perm(b[2], b[3], blocks23);
    out[i] = perm(low01, low23, blocks02);
    out[4 + i] = perm(low01, low23, blocks13);
    out[8 + i] = perm(high01, high23, blocks02);
    out[12 + i] = perm(high01, high23, blocks13);
  }
}

// Strip of weight rows [n0, n0 + rows), 1 <= rows <= 16: `steps` = a.x_stride / 4 vectors, vector s
// for activation dword s. Lanes past `rows` repeat row n0; their sums are never stored.
template <class P>
void DecodeStrip(const Qs8GemmArgs& a, size_t n0, size_t rows, __m512i* strip) {
  constexpr size_t V = P::kVectorBytes, cpb = P::kCodesPerByte;
  alignas(64) uint8_t tail[kStripLanes][V];
  const size_t full = a.tail_bytes ? a.chunks - 1 : a.chunks;
  for (size_t c = 0; c < a.chunks; ++c) {
    typename P::Codes codes[kStripLanes];
    for (size_t r = 0; r < kStripLanes; ++r) {
      const uint8_t* row = a.w + (n0 + (r < rows ? r : 0)) * a.w_row_bytes + c * V;
      if (c == full) {  // the rows' last, partial chunk: zero-padded copies, so no load leaves the matrix
        memset(tail[r], 0, V);
        memcpy(tail[r], row, a.tail_bytes);
        row = tail[r];
      }
      codes[r] = P::Decode(row);
    }
    for (size_t j = 0; j < cpb; ++j) {
      __m512i in[kStripLanes], out[kStripLanes];
      for (size_t r = 0; r < kStripLanes; ++r) in[r] = codes[r].code[j];
      TransposeDwords16(in, out);
      for (size_t g = 0; g < kStripLanes; ++g) _mm512_store_si512(strip + (c * cpb + j) * kStripLanes + g, out[g]);
    }
  }
}

// y[m][n .. n + min(valid, 16)) from the integer dots of 16 channels in lanes, scaled exactly as the
// scalar reference: float(dot - kOffset * x_sum) * w_scale * x_scale, in 256-bit halves (SIMDe has no
// 512-bit int-to-float conversion).
template <class P>
inline void StoreLanes(const Qs8GemmArgs& a, __m512i acc, size_t m, size_t n, size_t valid) {
  const __m512i dots = _mm512_sub_epi32(acc, _mm512_set1_epi32(P::kOffset * a.x_sum[m]));
  const float x_scale = a.x_scale[m];
  float* y = a.y + m * a.y_stride + n;
  const float* w_scale = a.w_scale + n;
  if (valid < kStripLanes) {  // the last channels of the matrix
    alignas(64) int32_t lanes[kStripLanes];
    _mm512_store_si512(lanes, dots);
    for (size_t i = 0; i < valid; ++i) y[i] = static_cast<float>(lanes[i]) * w_scale[i] * x_scale;
    return;
  }
  const __m256 low = _mm256_cvtepi32_ps(_mm512_maskz_extracti64x4_epi64(0xff, dots, 0));
  const __m256 high = _mm256_cvtepi32_ps(_mm512_maskz_extracti64x4_epi64(0xff, dots, 1));
  _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_mul_ps(low, _mm256_loadu_ps(w_scale)), _mm256_set1_ps(x_scale)));
  _mm256_storeu_ps(y + 8, _mm256_mul_ps(_mm256_mul_ps(high, _mm256_loadu_ps(w_scale + 8)), _mm256_set1_ps(x_scale)));
}

inline __m512i BroadcastDword(const int8_t* x, size_t dword) {
  int32_t v;
  memcpy(&v, x + 4 * dword, 4);
  return _mm512_set1_epi32(v);
}

// Tokens [m0, m0 + MR) x channels [n0, n0 + cols), cols <= kLaneStrips * 16, from the strips at `strips`.
template <class P, int MR>
void LaneTile(const Qs8GemmArgs& a, const __m512i* strips, size_t steps, size_t m0, size_t n0, size_t cols) {
  __m512i acc[MR][kLaneStrips];
  for (int m = 0; m < MR; ++m)
    for (int p = 0; p < kLaneStrips; ++p) acc[m][p] = _mm512_setzero_si512();
  const int8_t* x = a.x + m0 * a.x_stride;
  for (size_t s = 0; s < steps; ++s) {
    __m512i w[kLaneStrips];
    for (int p = 0; p < kLaneStrips; ++p) w[p] = _mm512_load_si512(strips + p * steps + s);
    for (int m = 0; m < MR; ++m) {
      const __m512i xs = BroadcastDword(x + m * a.x_stride, s);
      for (int p = 0; p < kLaneStrips; ++p) acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], w[p], xs);
    }
  }
  for (int p = 0; p < kLaneStrips; ++p) {
    const size_t c0 = p * kStripLanes;
    if (c0 >= cols) break;
    for (int m = 0; m < MR; ++m) StoreLanes<P>(a, acc[m][p], m0 + m, n0 + c0, cols - c0);
  }
}

template <class P, int MR>
void LaneRows(const Qs8GemmArgs& a, const __m512i* strips, size_t steps, size_t m0, size_t rows, size_t n0, size_t cols) {
  if constexpr (MR > 1) {
    if (rows < MR) return LaneRows<P, MR - 1>(a, strips, steps, m0, rows, n0, cols);
  }
  LaneTile<P, MR>(a, strips, steps, m0, n0, cols);
}

// The qs8_qcxw_gemm_fn contract: lane tiles from kLaneMinRows tokens, the row tiles below.
template <class P>
void Qs8GemmAvx512Vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                       size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride) {
  if (M < kLaneMinRows || N == 0) return Qs8Gemm<P>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
  constexpr size_t C = kCodesPerChunk<P>;
  const size_t steps = (K + C - 1) / C * C / 4;
  Qs8GemmArgs a;
  void* strips = nullptr;
  if (!PrepareQs8Gemm<P>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride,
                         kLaneStrips * steps * sizeof(__m512i), &a, &strips))
    return;
  __m512i* strip = static_cast<__m512i*>(strips);
  for (size_t n0 = 0; n0 < N; n0 += kLaneStrips * kStripLanes) {
    const size_t cols = N - n0 < kLaneStrips * kStripLanes ? N - n0 : kLaneStrips * kStripLanes;
    for (int p = 0; p < kLaneStrips; ++p) {
      const size_t first = n0 + p * kStripLanes;  // a strip past N repeats the block's first row
      const size_t rows = first < N ? (N - first < kStripLanes ? N - first : kStripLanes) : 1;
      DecodeStrip<P>(a, first < N ? first : n0, rows, strip + p * steps);
    }
    for (size_t m0 = 0; m0 < M; m0 += kLaneMR)
      LaneRows<P, kLaneMR>(a, strip, steps, m0, M - m0 < kLaneMR ? M - m0 : kLaneMR, n0, cols);
  }
}

// --- GEMM over channel strips (gemm.h): the weights are already in lanes, so nothing is transposed;
// each call only decodes the bit planes of the blocks it reads. ------------------------------------

// v / 2^bits for v a multiple of 2^bits: the sign bit flipped makes v + 2^31 unsigned, a logical shift
// divides that exactly and 2^(31 - bits) comes off again (SIMDe, which the tests build these kernels
// with on CPUs without AVX-512, has no 512-bit arithmetic shift of dwords). Masked: GCC 12's unmasked
// shift trips -Wmaybe-uninitialized inside its own header.
inline __m512i DivideExactPow2(__m512i v, unsigned bits) {
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  const __m512i shifted = _mm512_maskz_srl_epi32(0xffff, _mm512_xor_si512(v, sign), _mm_cvtsi32_si128(static_cast<int>(bits)));
  return _mm512_sub_epi32(shifted, _mm512_set1_epi32(static_cast<int32_t>(uint32_t{1} << (31 - bits))));
}

// Decode (M = 1): one strip of 16 channels, read as one linear stream. Codes stay at their bit
// position (plane j holds code << bits*j: one AND per plane, no shift), each plane in its own
// accumulators, shifted back when folded (exact: every product is a multiple of 2^(bits*j)). Folding
// every kFoldBlocks blocks keeps the top plane's sums inside int32 for any K. Eight accumulators (U
// blocks of kCodesPerByte planes) keep vpdpbusd's latency off the critical path.
template <class P>
void StripGemv(const Qs8GemmArgs& a, size_t n0, size_t cols) {
  constexpr size_t cpb = P::kCodesPerByte, U = 8 / cpb;
  constexpr size_t kFoldBlocks = 4096;  // 4096 blocks * 4 products * 255 * 128 < 2^31
  const uint8_t* strip = a.w + n0 / kStripLanes * a.w_row_bytes;
  const size_t blocks = a.chunks;
  __m512i total = _mm512_setzero_si512();
  for (size_t b = 0; b < blocks;) {
    const size_t end = blocks - b > kFoldBlocks ? b + kFoldBlocks : blocks;
    __m512i acc[U * cpb];
    for (size_t i = 0; i < U * cpb; ++i) acc[i] = _mm512_setzero_si512();
    for (; b + U <= end; b += U)
      for (size_t u = 0; u < U; ++u) {
        PrefetchStripAhead(strip + (b + u) * P::kVectorBytes);
        const typename P::Codes codes = P::DecodeInPlace(strip + (b + u) * P::kVectorBytes);
        for (size_t j = 0; j < cpb; ++j)
          acc[u * cpb + j] = _mm512_dpbusd_epi32(acc[u * cpb + j], codes.code[j], BroadcastDword(a.x, (b + u) * cpb + j));
      }
    for (; b < end; ++b) {
      const typename P::Codes codes = P::DecodeInPlace(strip + b * P::kVectorBytes);
      for (size_t j = 0; j < cpb; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], codes.code[j], BroadcastDword(a.x, b * cpb + j));
    }
    for (size_t j = 0; j < cpb; ++j) {
      __m512i sum = acc[j];
      for (size_t u = 1; u < U; ++u) sum = _mm512_add_epi32(sum, acc[u * cpb + j]);
      total = _mm512_add_epi32(total, DivideExactPow2(sum, P::kBits * j));
    }
  }
  StoreLanes<P>(a, total, 0, n0, cols);
}

// Tokens [m0, m0 + MR) x channels [n0, n0 + cols), cols <= kLaneStrips * 16: the lane tile of the
// row-major kernels above, reading strips in place.
template <class P, int MR>
void StripTile(const Qs8GemmArgs& a, size_t m0, size_t n0, size_t cols) {
  constexpr size_t cpb = P::kCodesPerByte;
  const uint8_t* strip[kLaneStrips];
  for (int p = 0; p < kLaneStrips; ++p)  // a strip past the matrix reads the first one; never stored
    strip[p] = a.w + (n0 / kStripLanes + (p * kStripLanes < cols ? p : 0)) * a.w_row_bytes;
  __m512i acc[MR][kLaneStrips];
  for (int m = 0; m < MR; ++m)
    for (int p = 0; p < kLaneStrips; ++p) acc[m][p] = _mm512_setzero_si512();
  const int8_t* x = a.x + m0 * a.x_stride;
  for (size_t b = 0; b < a.chunks; ++b) {
    typename P::Codes codes[kLaneStrips];
    for (int p = 0; p < kLaneStrips; ++p) codes[p] = P::Decode(strip[p] + b * P::kVectorBytes);
    for (size_t j = 0; j < cpb; ++j)
      for (int m = 0; m < MR; ++m) {
        const __m512i xs = BroadcastDword(x + m * a.x_stride, b * cpb + j);
        for (int p = 0; p < kLaneStrips; ++p) acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], codes[p].code[j], xs);
      }
  }
  for (int p = 0; p < kLaneStrips; ++p) {
    const size_t c0 = p * kStripLanes;
    if (c0 >= cols) break;
    for (int m = 0; m < MR; ++m) StoreLanes<P>(a, acc[m][p], m0 + m, n0 + c0, cols - c0);
  }
}

template <class P, int MR>
void StripRows(const Qs8GemmArgs& a, size_t m0, size_t rows, size_t n0, size_t cols) {
  if constexpr (MR > 1) {
    if (rows < MR) return StripRows<P, MR - 1>(a, m0, rows, n0, cols);
  }
  StripTile<P, MR>(a, m0, n0, cols);
}

// The qs8_qcxw_strips_gemm_fn contract. Activations are copied into this thread's scratch, zero-padded
// to whole vectors (codes past K then meet zeros whatever their bias), with their sums.
template <class P>
void Qs8StripsGemmAvx512Vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* strips,
                             const float* w_scale, const float* x_scale, float* y, size_t y_stride) {
  if (M == 0 || N == 0) return;
  constexpr size_t V = P::kVectorBytes, codes_per_block = 4 * P::kCodesPerByte;
  const size_t blocks = (K + codes_per_block - 1) / codes_per_block;
  const size_t stride = (K + V - 1) / V * V;
  const size_t sum_bytes = (M * sizeof(int32_t) + 63) / 64 * 64;
  uint8_t* scratch = static_cast<uint8_t*>(edgelm_scratch(sum_bytes + M * stride));
  if (!scratch) {
    for (size_t m = 0; m < M; ++m) memset(y + m * y_stride, 0, N * sizeof(float));
    return;
  }
  int32_t* x_sum = reinterpret_cast<int32_t*>(scratch);
  int8_t* padded = reinterpret_cast<int8_t*>(scratch + sum_bytes);
  for (size_t m = 0; m < M; ++m) {
    int8_t* row = padded + m * stride;
    memcpy(row, x + m * x_stride, K);
    memset(row + K, 0, stride - K);
    __m512i sums = _mm512_setzero_si512();
    for (size_t v = 0; v < stride; v += V) sums = P::AddByteSums(sums, row + v);
    x_sum[m] = P::Reduce(sums);
  }
  const Qs8GemmArgs a{blocks, 0, strips, blocks * V, padded, stride, x_sum, w_scale, x_scale, y, y_stride};
  if (M == 1) {
    for (size_t n0 = 0; n0 < N; n0 += kStripLanes) StripGemv<P>(a, n0, N - n0);
    return;
  }
  for (size_t n0 = 0; n0 < N; n0 += kLaneStrips * kStripLanes)
    for (size_t m0 = 0; m0 < M; m0 += kLaneMR)
      StripRows<P, kLaneMR>(a, m0, M - m0 < kLaneMR ? M - m0 : kLaneMR, n0, N - n0);
}

}  // namespace

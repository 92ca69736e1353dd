// Register-tiled driver shared by the SIMD int8-activation x packed-integer-weight kernels (gemm.h's
// qs8_qcxw_gemm_fn contract). An ISA/dtype policy P supplies the arithmetic:
//   Acc, Zero(), Reduce(Acc) -> int32        an int32 accumulator vector
//   kVectorBytes                             packed weight bytes per chunk (one vector load)
//   kCodesPerByte                            1 (I8), 2 (I4), 4 (I2)
//   kOffset                                  Accumulate adds sum_k x*(w + kOffset); the driver subtracts
//                                            kOffset * sum_k x afterwards (exact in int32)
//   Codes Decode(const uint8_t* chunk)       one chunk of one weight row, decoded for Accumulate
//   Acc Accumulate(Acc, const Codes&, const int8_t* x_chunk)
//   kMR x kNR                                prefill tile (token rows x weight rows), kGemvNR for M == 1
//   Interleave<cpb>(x_chunk, out), AddByteSums(Acc, x)   activation repacking and row sums (SIMD)
// Activations are repacked per call so that code j of packed byte b in a chunk meets x[chunk + cpb*b + j]
// at x_chunk[j*kVectorBytes + b]: bits are extracted with whole-vector shifts, never re-interleaved.
// The repacked rows are zero-padded to whole chunks, which makes K tails (and the padding bits of a
// row's last byte) contribute nothing.
//
// Everything here is `static`/anonymous: each including file is built for a different ISA, and shared
// out-of-line copies could run e.g. AVX-512 code on an AVX2 machine.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "simd/scratch.h"

namespace {

// How far ahead of the block it decodes a strips GEMV (M = 1) asks for weights (one prefetch per 64-byte
// block). The hardware prefetcher alone leaves a single core at 80-90 % of a plain read once a block
// carries 2-4 vpdpbusd (int4, int2): asking 8 KB ahead raised the mean rate over the E2B shapes by
// 7-18 % at 1 and 2 threads on Zen 5 (4-32 KB were within noise of each other). The call's strips are
// one linear stream, and its successor on the same thread usually continues it, so the lines past the
// call are not wasted.
constexpr size_t kStripGemvPrefetchBytes = 8192;

// Asks for the weights kStripGemvPrefetchBytes past `block` (read, kept in every cache level).
inline void PrefetchStripAhead(const uint8_t* block) { __builtin_prefetch(block + kStripGemvPrefetchBytes, 0, 3); }

template <class P>
constexpr size_t kCodesPerChunk = P::kVectorBytes * P::kCodesPerByte;

// x: [M][x_stride] int8 -> packed [M][chunks * kCodesPerChunk<P>] in the policy's order; x_sum[m] = sum_k x[m][k]
// (only when kOffset needs it). Full chunks go through the policy's SIMD Interleave / AddByteSums.
template <class P>
void PackActivations(size_t M, size_t K, const int8_t* x, size_t x_stride, size_t chunks, int8_t* packed,
                     int32_t* x_sum) {
  constexpr size_t V = P::kVectorBytes, cpb = P::kCodesPerByte, C = kCodesPerChunk<P>;
  const size_t full = K / C;
  for (size_t m = 0; m < M; ++m) {
    const int8_t* xm = x + m * x_stride;
    int8_t* out = packed + m * chunks * C;
    typename P::Acc sums = P::Zero();
    for (size_t c = 0; c < full; ++c) {
      P::template Interleave<cpb>(xm + c * C, out + c * C);
      if constexpr (P::kOffset != 0)
        for (size_t v = 0; v < cpb; ++v) sums = P::AddByteSums(sums, xm + c * C + v * V);
    }
    int32_t tail_sum = 0;
    if (full < chunks) {
      memset(out + full * C, 0, C);
      for (size_t k = full * C; k < K; ++k) {
        const size_t i = k - full * C;
        out[full * C + (i % cpb) * V + i / cpb] = xm[k];
        tail_sum += xm[k];
      }
    }
    x_sum[m] = P::Reduce(sums) + tail_sum;
  }
}

// One chunk for an MR x NR tile: each weight row is decoded once and reused for every token row.
template <class P, int MR, int NR>
inline void TileStep(const uint8_t* w, size_t w_stride, const int8_t* x, size_t x_stride,
                     typename P::Acc (&acc)[MR][NR]) {
  for (int n = 0; n < NR; ++n) {
    const typename P::Codes codes = P::Decode(w + n * w_stride);
    for (int m = 0; m < MR; ++m) acc[m][n] = P::Accumulate(acc[m][n], codes, x + m * x_stride);
  }
}

// Integer dot products of MR packed token rows with NR weight rows over all chunks; the last chunk of
// each row may hold only `tail_bytes` bytes, which are copied out so no load leaves the matrix.
template <class P, int MR, int NR>
void TileDots(size_t chunks, size_t tail_bytes, const uint8_t* w, size_t w_row_bytes, const int8_t* x,
              size_t x_stride, int32_t (&dots)[MR][NR]) {
  constexpr size_t V = P::kVectorBytes, C = kCodesPerChunk<P>;
  typename P::Acc acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) acc[m][n] = P::Zero();
  const size_t full = tail_bytes ? chunks - 1 : chunks;
  for (size_t c = 0; c < full; ++c) {
    // Sweep the next tile's rows (contiguous) from start to end while this tile runs: its rows are too
    // short for the hardware prefetcher to ramp up on each, and one linear stream beats NR strided ones.
    // Decode (M = 1) reads DRAM at 15 instead of 10-12 GB/s on the benchmark machine with this.
    for (int n = 0; n < NR; ++n) __builtin_prefetch(w + NR * w_row_bytes + (c * NR + n) * V);
    TileStep<P, MR, NR>(w + c * V, w_row_bytes, x + c * C, x_stride, acc);
  }
  if (tail_bytes) {
    alignas(64) uint8_t tail[NR][V] = {};
    for (int n = 0; n < NR; ++n) memcpy(tail[n], w + n * w_row_bytes + full * V, tail_bytes);
    TileStep<P, MR, NR>(&tail[0][0], V, x + full * C, x_stride, acc);
  }
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) dots[m][n] = P::Reduce(acc[m][n]);
}

struct Qs8GemmArgs {
  size_t chunks, tail_bytes;  // per weight row
  const uint8_t* w;
  size_t w_row_bytes;
  const int8_t* x;  // packed
  size_t x_stride;  // packed row stride
  const int32_t* x_sum;
  const float* w_scale;
  const float* x_scale;
  float* y;
  size_t y_stride;
};

// Output block [m0, m0+MR) x [n0, n0+NR), scaled exactly as the scalar reference does.
template <class P, int MR, int NR>
void OutputTile(const Qs8GemmArgs& a, size_t m0, size_t n0) {
  int32_t dots[MR][NR];
  TileDots<P, MR, NR>(a.chunks, a.tail_bytes, a.w + n0 * a.w_row_bytes, a.w_row_bytes, a.x + m0 * a.x_stride,
                      a.x_stride, dots);
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      const int32_t acc = dots[m][n] - P::kOffset * a.x_sum[m0 + m];
      a.y[(m0 + m) * a.y_stride + n0 + n] = static_cast<float>(acc) * a.w_scale[n0 + n] * a.x_scale[m0 + m];
    }
}

// Runs the tile for token rows [m0, m0 + rows) with 1 <= rows <= MR as compile-time tiles.
template <class P, int MR, int NR>
void OutputRows(const Qs8GemmArgs& a, size_t m0, size_t rows, size_t n0) {
  if constexpr (MR > 1) {
    if (rows < MR) return OutputRows<P, MR - 1, NR>(a, m0, rows, n0);
  }
  OutputTile<P, MR, NR>(a, m0, n0);
}

template <class P, int MR, int NR>
void GemmTiles(const Qs8GemmArgs& a, size_t M, size_t N) {
  size_t n0 = 0;
  for (; n0 + NR <= N; n0 += NR)
    for (size_t m0 = 0; m0 < M; m0 += MR) OutputRows<P, MR, NR>(a, m0, M - m0 < MR ? M - m0 : MR, n0);
  for (; n0 < N; ++n0)
    for (size_t m0 = 0; m0 < M; m0 += MR) OutputRows<P, MR, 1>(a, m0, M - m0 < MR ? M - m0 : MR, n0);
}

// Repacks the activations into this thread's scratch, followed by `extra_bytes` (64-byte aligned) for
// the caller at *extra. False when the scratch could not be allocated: y is then zeroed, never partial.
template <class P>
bool PrepareQs8Gemm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                    size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride,
                    size_t extra_bytes, Qs8GemmArgs* a, void** extra) {
  constexpr size_t V = P::kVectorBytes, cpb = P::kCodesPerByte, C = kCodesPerChunk<P>;
  const size_t chunks = (K + C - 1) / C;
  const size_t row_bytes_used = (K + cpb - 1) / cpb;
  const size_t packed_stride = chunks * C;
  // x_sum first: it keeps the packed rows 64-byte aligned.
  const size_t sum_bytes = (M * sizeof(int32_t) + 63) / 64 * 64;
  uint8_t* scratch = static_cast<uint8_t*>(edgelm_scratch(sum_bytes + M * packed_stride + extra_bytes));
  if (!scratch) {
    for (size_t m = 0; m < M; ++m) memset(y + m * y_stride, 0, N * sizeof(float));
    return false;
  }
  int32_t* x_sum = reinterpret_cast<int32_t*>(scratch);
  int8_t* packed = reinterpret_cast<int8_t*>(scratch + sum_bytes);
  PackActivations<P>(M, K, x, x_stride, chunks, packed, x_sum);
  *a = Qs8GemmArgs{chunks, row_bytes_used % V, w, w_row_bytes, packed, packed_stride, x_sum, w_scale, x_scale, y, y_stride};
  if (extra) *extra = scratch + sum_bytes + M * packed_stride;
  return true;
}

template <class P>
void Qs8Gemm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes,
             const float* w_scale, const float* x_scale, float* y, size_t y_stride) {
  if (M == 0 || N == 0) return;
  Qs8GemmArgs a;
  if (!PrepareQs8Gemm<P>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride, 0, &a, nullptr)) return;
  if (M == 1)
    GemmTiles<P, 1, P::kGemvNR>(a, M, N);
  else
    GemmTiles<P, P::kMR, P::kNR>(a, M, N);
}

}  // namespace

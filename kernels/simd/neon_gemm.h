// Tiling shared by the NEON GEMMs: a Tile accumulates kRows activation rows against kCols packed weight
// rows over all of K, one Packing::kK-wide step at a time. Freestanding (Android/iOS kernels): only
// compiler headers.
//
// A Tile provides:
//   Packing              kK (activations per step), kVectors, Bytes(k) (packed bytes of the first k weights)
//   Sum                  int32_t or float
//   kRows, kCols
//   Step(x, w)           x[r] points at kK activations, w[c] at Bytes(kK) packed bytes
//   Sums(out)            out[r][c] = the accumulated dot product of x row r and weight row c
#pragma once

#include <stddef.h>
#include <stdint.h>

// Loops over a tile's rows, columns and vectors must unroll completely so that its accumulator arrays
// live in registers: clang 14 otherwise leaves some in memory. (Clang reads the GCC spelling too.)
#define EDGELM_NEON_UNROLL _Pragma("GCC unroll 16")

// Internal linkage on purpose: each kernel file compiles these templates with its own -march, and a
// shared (inline) symbol would let the linker keep an SDOT-compiled copy for the plain-NEON kernels.
namespace {

inline size_t MinSize(size_t a, size_t b) { return a < b ? a : b; }

template <class T>
void CopyPrefix(T* dst, const T* src, size_t count) {
  for (size_t i = 0; i < count; ++i) dst[i] = src[i];
}

// Whether a packing's activation rows are already zero-padded to whole steps (its kXPadded).
template <class P, class = void>
struct XIsPadded {
  static constexpr bool value = false;
};
template <class P>
struct XIsPadded<P, decltype(void(P::kXPadded))> {
  static constexpr bool value = P::kXPadded;
};

// Runs tile.Step on every whole step of K, then once on zero-padded copies of the ragged end (the
// activations are used in place when their rows are padded already): a zero activation cancels whatever
// a packed row holds past K (the spare bits of its last byte).
template <class Tile, class T>
void AccumulateK(Tile& tile, const T* const* x, const uint8_t* const* w, size_t K) {
  using P = typename Tile::Packing;
  size_t k = 0;
  for (; k + P::kK <= K; k += P::kK) {
    const T* x_step[Tile::kRows];
    const uint8_t* w_step[Tile::kCols];
    EDGELM_NEON_UNROLL for (int r = 0; r < Tile::kRows; ++r) x_step[r] = x[r] + k;
    EDGELM_NEON_UNROLL for (int c = 0; c < Tile::kCols; ++c) w_step[c] = w[c] + P::Bytes(k);
    tile.Step(x_step, w_step);
  }
  if (k == K) return;
  T x_pad[Tile::kRows][P::kK] = {};
  uint8_t w_pad[Tile::kCols][P::Bytes(P::kK)] = {};
  const T* x_step[Tile::kRows];
  const uint8_t* w_step[Tile::kCols];
  for (int r = 0; r < Tile::kRows; ++r) {
    if (XIsPadded<P>::value) {
      x_step[r] = x[r] + k;
    } else {
      CopyPrefix(x_pad[r], x[r] + k, K - k);
      x_step[r] = x_pad[r];
    }
  }
  for (int c = 0; c < Tile::kCols; ++c) {
    CopyPrefix(w_pad[c], w[c] + P::Bytes(k), P::Bytes(K) - P::Bytes(k));
    w_step[c] = w_pad[c];
  }
  tile.Step(x_step, w_step);
}

// Every output column of the kRows rows starting at x, in blocks of kCols. A ragged last block repeats
// the last weight row (computed, not stored) so that tiles never branch. store(r, n, sum) writes one
// result of row r, column n.
template <class Tile, class T, class Store>
void TileRows(const T* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes, size_t N, size_t K, Store store) {
  const T* x_rows[Tile::kRows];
  for (int r = 0; r < Tile::kRows; ++r) x_rows[r] = x + r * x_stride;
  for (size_t n0 = 0; n0 < N; n0 += Tile::kCols) {
    const uint8_t* w_rows[Tile::kCols];
    for (int c = 0; c < Tile::kCols; ++c) w_rows[c] = w + MinSize(n0 + c, N - 1) * w_row_bytes;
    Tile tile;
    AccumulateK(tile, x_rows, w_rows, K);
    typename Tile::Sum sums[Tile::kRows][Tile::kCols];
    tile.Sums(sums);
    const size_t cols = MinSize(Tile::kCols, N - n0);
    for (int r = 0; r < Tile::kRows; ++r)
      for (size_t c = 0; c < cols; ++c) store(r, n0 + c, sums[r][c]);
  }
}

}  // namespace

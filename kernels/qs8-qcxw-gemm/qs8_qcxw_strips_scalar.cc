// Channel strips (gemm.h): the repacking of row-major integer weights, and the scalar reference GEMM
// over strips. Both are ISA-independent and built with baseline flags.
#include <cstring>

#include "gemm.h"
#include "simd/scratch.h"

namespace {

constexpr size_t kStripChannels = 16, kBlockBytes = 64;

constexpr size_t CodesPerDword(int bits) { return 32 / static_cast<size_t>(bits); }

// One row's dword b (its codes k = b * codes_per_dword + r at bits r * bits) in strip order: code r at
// byte r % 4, bit plane r / 4. For I4 that moves nibble r = j + 4h to position 2j + h, for I2 crumb
// 4i + j to 4j + i (a 4x4 transpose); each is two delta swaps.
uint32_t ToStripOrder(int bits, uint32_t v) {
  uint32_t t;
  if (bits == 4) {
    t = (v ^ (v >> 8)) & 0x0000ff00u;  // bytes 1 and 2: nibbles 0 1 4 5 2 3 6 7
    v ^= t ^ (t << 8);
    t = (v ^ (v >> 4)) & 0x00f000f0u;  // nibbles 1 <-> 2 and 5 <-> 6: 0 4 1 5 2 6 3 7
    v ^= t ^ (t << 4);
  } else if (bits == 2) {
    t = (v ^ (v >> 12)) & 0x0000f0f0u;  // the off-diagonal 2x2 blocks of crumbs trade places
    v ^= t ^ (t << 12);
    t = (v ^ (v >> 6)) & 0x00cc00ccu;  // and each 2x2 block is transposed
    v ^= t ^ (t << 6);
  }
  return v;
}

// Code k of channel c of a strip, sign-extended.
inline int32_t StripCode(int bits, const uint8_t* strip, size_t c, size_t k) {
  const size_t per_dword = CodesPerDword(bits), r = k % per_dword;
  uint32_t dword;
  memcpy(&dword, strip + (k / per_dword) * kBlockBytes + 4 * c, 4);
  const unsigned shift = static_cast<unsigned>(8 * (r % 4) + bits * (r / 4));
  const int32_t code = static_cast<int32_t>((dword >> shift) & ((1u << bits) - 1));
  return code >= (1 << (bits - 1)) ? code - (1 << bits) : code;
}

template <int kBits>
void StripsGemm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* strips,
                const float* w_scale, const float* x_scale, float* y, size_t y_stride) {
  int8_t* decoded = static_cast<int8_t*>(edgelm_scratch(K));
  if (!decoded) {  // out of memory, recorded by edgelm_scratch: zeros, as every variant writes
    for (size_t m = 0; m < M; ++m) memset(y + m * y_stride, 0, N * sizeof(float));
    return;
  }
  const size_t strip_bytes = edgelm_qs8_strip_bytes(kBits, K);
  for (size_t n = 0; n < N; ++n) {
    const uint8_t* strip = strips + (n / kStripChannels) * strip_bytes;
    for (size_t k = 0; k < K; ++k) decoded[k] = static_cast<int8_t>(StripCode(kBits, strip, n % kStripChannels, k));
    for (size_t m = 0; m < M; ++m) {
      const int8_t* xm = x + m * x_stride;
      int32_t acc = 0;
      for (size_t k = 0; k < K; ++k) acc += static_cast<int32_t>(xm[k]) * decoded[k];
      y[m * y_stride + n] = static_cast<float>(acc) * w_scale[n] * x_scale[m];
    }
  }
}

}  // namespace

extern "C" {

size_t edgelm_qs8_strip_bytes(int bits, size_t K) {
  return (K + CodesPerDword(bits) - 1) / CodesPerDword(bits) * kBlockBytes;
}

void edgelm_qs8_pack_strips(int bits, size_t N, size_t K, const uint8_t* w, size_t w_row_bytes, uint8_t* strips) {
  const size_t per_dword = CodesPerDword(bits), blocks = (K + per_dword - 1) / per_dword;
  const size_t row_bytes_used = (K * static_cast<size_t>(bits) + 7) / 8;
  // The last dword of a row: its bytes past the row and its codes past K read as zeros.
  const size_t last_codes = K - (blocks - 1) * per_dword;
  const uint32_t last_mask = last_codes * bits >= 32 ? ~0u : (1u << (last_codes * bits)) - 1;
  for (size_t n0 = 0; n0 < N; n0 += kStripChannels) {
    uint32_t* strip = reinterpret_cast<uint32_t*>(strips + (n0 / kStripChannels) * blocks * kBlockBytes);
    for (size_t c = 0; c < kStripChannels; ++c) {
      uint32_t* out = strip + c;
      if (n0 + c >= N) {
        for (size_t b = 0; b < blocks; ++b) out[b * kStripChannels] = 0;
        continue;
      }
      const uint8_t* row = w + (n0 + c) * w_row_bytes;
      for (size_t b = 0; b + 1 < blocks; ++b) {
        uint32_t v;
        memcpy(&v, row + 4 * b, 4);
        out[b * kStripChannels] = ToStripOrder(bits, v);
      }
      uint32_t v = 0;
      memcpy(&v, row + 4 * (blocks - 1), row_bytes_used - 4 * (blocks - 1));
      out[(blocks - 1) * kStripChannels] = ToStripOrder(bits, v & last_mask);
    }
  }
}

void edgelm_qs8_qc8w_strips_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                        const uint8_t* strips, const float* w_scale, const float* x_scale, float* y,
                                        size_t y_stride) {
  StripsGemm<8>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}

void edgelm_qs8_qc4w_strips_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                        const uint8_t* strips, const float* w_scale, const float* x_scale, float* y,
                                        size_t y_stride) {
  StripsGemm<4>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}

void edgelm_qs8_qc2w_strips_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                        const uint8_t* strips, const float* w_scale, const float* x_scale, float* y,
                                        size_t y_stride) {
  StripsGemm<2>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}

}  // extern "C"

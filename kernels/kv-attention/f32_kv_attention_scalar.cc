// Scalar reference of the kv-attention kernels: eight lanes in a plain array, std::fma per lane.
#include <cmath>

#include "simd/kv_attention.h"

namespace {

struct ScalarVec {
  float lane[8];

  static ScalarVec Zero() { return ScalarVec{}; }
  static ScalarVec LoadF32(const float* p) {
    ScalarVec v;
    for (int l = 0; l < 8; ++l) v.lane[l] = p[l];
    return v;
  }
  static ScalarVec LoadBF16(const uint8_t* p) {
    ScalarVec v;
    for (int l = 0; l < 8; ++l) {
      const uint32_t bits = static_cast<uint32_t>(p[2 * l] | (p[2 * l + 1] << 8)) << 16;
      __builtin_memcpy(&v.lane[l], &bits, 4);
    }
    return v;
  }
  static ScalarVec LoadI8(const uint8_t* p) {
    ScalarVec v;
    for (int l = 0; l < 8; ++l) v.lane[l] = static_cast<float>(static_cast<int8_t>(p[l]));
    return v;
  }
  static ScalarVec LoadI4(const uint8_t* p) {
    ScalarVec v;
    for (int l = 0; l < 8; ++l) v.lane[l] = static_cast<float>((((p[l / 2] >> (4 * (l % 2))) & 0xf) ^ 8) - 8);
    return v;
  }
  static ScalarVec Mul(ScalarVec a, float s) {
    for (float& x : a.lane) x *= s;
    return a;
  }
  static ScalarVec Fma(ScalarVec a, ScalarVec b, ScalarVec acc) {
    for (int l = 0; l < 8; ++l) acc.lane[l] = std::fma(a.lane[l], b.lane[l], acc.lane[l]);
    return acc;
  }
  static ScalarVec FmaScalar(float a, ScalarVec b, ScalarVec acc) {
    for (int l = 0; l < 8; ++l) acc.lane[l] = std::fma(a, b.lane[l], acc.lane[l]);
    return acc;
  }
  static void Store(float* p, ScalarVec v) {
    for (int l = 0; l < 8; ++l) p[l] = v.lane[l];
  }
  template <int G>
  static void Reduce(const ScalarVec* acc, float* sums) {
    for (int g = 0; g < G; ++g) {
      const float* x = acc[g].lane;
      sums[g] = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
    }
  }
};

}  // namespace

EDGELM_DEFINE_KV_ATTENTION(scalar, ScalarVec)

// AVX2 + FMA kv-attention kernels: one __m256 per eight lanes; compiled with -mavx2 -mfma.
#include "simd/kv_attention.h"
#include "simd/kv_vec_avx2.h"

EDGELM_DEFINE_KV_ATTENTION(avx2, Avx2Vec)

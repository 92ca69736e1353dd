// f32-vtanh kernels vectorized for AVX2 (8 lanes): simd/f32_vtanh.h's loops built with this file's ISA flags.
#include "activation.h"
#include "simd/f32_vtanh.h"

EDGELM_DEFINE_F32_VTANH(avx2)

// Scalar reference of the f32-vtanh kernels: simd/f32_vtanh.h's loops at the baseline ISA (which the
// compiler may still vectorize with SSE2 or NEON: elementwise, that changes no result).
#include "activation.h"
#include "simd/f32_vtanh.h"

EDGELM_DEFINE_F32_VTANH(scalar)

extern "C" float edgelm_f32_tanh_scalar(float x) { return TanhF32(x); }

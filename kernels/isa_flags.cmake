# The compiler flags of each SIMD kernel variant, keyed by the variant suffix of the file names
# (qs8_qc8w_gemm_neondot.cc -> neondot). The one place they are written: kernels/CMakeLists.txt applies
# them per file, never to a whole target, and scripts/check-mobile-kernels.sh reads the ARM ones from
# here (keep one set() per line). Files of the baseline variants, scalar and neon (ARMv8.0 Advanced SIMD,
# part of every aarch64 CPU), get no flags.
# The i8mm files name exactly the features dispatch checks (dotprod + i8mm) rather than armv8.6-a,
# which would allow more.
set(EDGELM_ISA_FLAGS_avx2 -mavx2 -mfma -mf16c)
set(EDGELM_ISA_FLAGS_avx512f -mavx2 -mfma -mf16c -mavx512f)
set(EDGELM_ISA_FLAGS_avx512vnni -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni)
set(EDGELM_ISA_FLAGS_neondot -march=armv8.2-a+dotprod)
set(EDGELM_ISA_FLAGS_i8mm -march=armv8.2-a+dotprod+i8mm)

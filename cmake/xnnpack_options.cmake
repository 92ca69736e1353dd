# How XNNPACK, pthreadpool and cpuinfo are configured for edgelm, for both ways of building them:
# scripts/build-deps.sh passes this file as an initial cache (cmake -C), and EDGELM_DEPS=fetch
# includes it before adding the sources.
#   Static libraries, position-independent: they are linked into libedgelm.so and merged into
#   libedgelm.a. Production microkernels only (no tests or benchmarks, which would force every
#   microkernel and download googletest). KleidiAI off: it serves none of the qs8/qd8 x qc8w/qc4w/qc2w
#   operators edgelm uses, and GCC 12 (aarch64) hits an internal compiler error in one of its files.
set(CMAKE_POSITION_INDEPENDENT_CODE ON CACHE BOOL "")
set(XNNPACK_LIBRARY_TYPE static CACHE STRING "")
set(XNNPACK_BUILD_TESTS OFF CACHE BOOL "")
set(XNNPACK_BUILD_BENCHMARKS OFF CACHE BOOL "")
set(XNNPACK_BUILD_ALL_MICROKERNELS OFF CACHE BOOL "")
set(XNNPACK_BUILD_YNNPACK OFF CACHE BOOL "")
set(XNNPACK_ENABLE_KLEIDIAI OFF CACHE BOOL "")
set(CPUINFO_LIBRARY_TYPE static CACHE STRING "")
set(CPUINFO_BUILD_TOOLS OFF CACHE BOOL "")
set(CPUINFO_BUILD_UNIT_TESTS OFF CACHE BOOL "")
set(CPUINFO_BUILD_MOCK_TESTS OFF CACHE BOOL "")
set(CPUINFO_BUILD_BENCHMARKS OFF CACHE BOOL "")
set(CPUINFO_BUILD_PKG_CONFIG OFF CACHE BOOL "")
set(PTHREADPOOL_LIBRARY_TYPE static CACHE STRING "")
set(PTHREADPOOL_BUILD_TESTS OFF CACHE BOOL "")
set(PTHREADPOOL_BUILD_BENCHMARKS OFF CACHE BOOL "")

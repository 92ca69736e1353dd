# Finds edgelm's dependencies from Debian packages (natively, or the arm64 copies unpacked into
# ARM64_DEPS_ROOT when cross-compiling). Debian's cpuinfo CMake config resolves a wrong prefix, and
# XNNPACK/pthreadpool ship no config at all, so those three are found by path.
find_package(Threads REQUIRED)
find_package(FlatBuffers CONFIG REQUIRED)

find_path(CPUINFO_INCLUDE_DIR cpuinfo.h REQUIRED)
find_library(CPUINFO_LIBRARY cpuinfo REQUIRED)
add_library(cpuinfo::cpuinfo UNKNOWN IMPORTED)
set_target_properties(cpuinfo::cpuinfo PROPERTIES
  IMPORTED_LOCATION "${CPUINFO_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${CPUINFO_INCLUDE_DIR}")

find_path(PTHREADPOOL_INCLUDE_DIR pthreadpool.h REQUIRED)
find_library(PTHREADPOOL_LIBRARY pthreadpool REQUIRED)
add_library(pthreadpool::pthreadpool UNKNOWN IMPORTED)
set_target_properties(pthreadpool::pthreadpool PROPERTIES
  IMPORTED_LOCATION "${PTHREADPOOL_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${PTHREADPOOL_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES Threads::Threads)

find_path(XNNPACK_INCLUDE_DIR xnnpack.h REQUIRED)
find_library(XNNPACK_LIBRARY XNNPACK REQUIRED)
add_library(XNNPACK::XNNPACK UNKNOWN IMPORTED)
set_target_properties(XNNPACK::XNNPACK PROPERTIES
  IMPORTED_LOCATION "${XNNPACK_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${XNNPACK_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES "pthreadpool::pthreadpool;cpuinfo::cpuinfo")

# nlohmann-json (header only): the converter's config.json / tokenizer.json / safetensors headers.
find_package(nlohmann_json 3 CONFIG REQUIRED)

# flatc runs on the build host, also when cross-compiling.
find_program(FLATC_EXECUTABLE flatc REQUIRED)

if(EDGELM_BUILD_TESTS)
  find_package(Catch2 2 CONFIG REQUIRED)
endif()

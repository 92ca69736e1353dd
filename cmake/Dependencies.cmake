# Finds or builds edgelm's dependencies; EDGELM_DEPS (CMakeLists.txt) says which:
#   prebuilt  XNNPACK, pthreadpool and cpuinfo at the commits of third_party/pins.txt, built once per
#             machine by scripts/build-deps.sh into a cache (this configure step runs it: the first time
#             takes a few minutes, later ones print the cached prefix at once; or pass
#             EDGELM_DEPS_PREFIX); flatbuffers from Debian (natively, or the arm64 copies unpacked into
#             ARM64_DEPS_ROOT when cross-compiling). Desktop builds and CI.
#   fetch     everything from pinned sources inside this build: Android and iOS.
# Either way the result is the same targets, cpuinfo::cpuinfo, pthreadpool::pthreadpool,
# XNNPACK::XNNPACK and flatbuffers::flatbuffers, and FLATC_EXECUTABLE, a flatc for the build machine.
find_package(Threads REQUIRED)

if(EDGELM_DEPS STREQUAL "prebuilt")
  find_package(FlatBuffers CONFIG REQUIRED)
  # flatc runs on the build host, also when cross-compiling.
  find_program(FLATC_EXECUTABLE flatc REQUIRED)

  if(NOT EDGELM_DEPS_PREFIX)
    if(CMAKE_CROSSCOMPILING AND CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
      set(deps_arch aarch64)
    elseif(NOT CMAKE_CROSSCOMPILING)
      set(deps_arch native)
    else()
      message(FATAL_ERROR "EDGELM_DEPS=prebuilt builds for this machine or aarch64 Linux; use EDGELM_DEPS=fetch")
    endif()
    execute_process(COMMAND ${PROJECT_SOURCE_DIR}/scripts/build-deps.sh --arch ${deps_arch}
                    OUTPUT_VARIABLE deps_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE deps_result)
    if(NOT deps_result EQUAL 0)
      message(FATAL_ERROR "scripts/build-deps.sh --arch ${deps_arch} failed")
    endif()
    set(EDGELM_DEPS_PREFIX "${deps_prefix}" CACHE PATH "XNNPACK, pthreadpool and cpuinfo built by scripts/build-deps.sh")
  endif()
  # Static, position-independent archives: XNNPACK's operators need both of its libraries.
  foreach(library XNNPACK xnnpack-microkernels-prod pthreadpool cpuinfo)
    set(path "${EDGELM_DEPS_PREFIX}/lib/lib${library}.a")
    if(NOT EXISTS "${path}")
      message(FATAL_ERROR "${path} is missing: run scripts/build-deps.sh, or clear EDGELM_DEPS_PREFIX")
    endif()
    string(MAKE_C_IDENTIFIER "${library}" target)
    add_library(edgelm_dep_${target} STATIC IMPORTED)
    set_target_properties(edgelm_dep_${target} PROPERTIES IMPORTED_LOCATION "${path}"
                          INTERFACE_INCLUDE_DIRECTORIES "${EDGELM_DEPS_PREFIX}/include")
    list(APPEND EDGELM_DEPS_ARCHIVES "${path}")
  endforeach()
  set_target_properties(edgelm_dep_pthreadpool PROPERTIES INTERFACE_LINK_LIBRARIES Threads::Threads)
  set_target_properties(edgelm_dep_XNNPACK PROPERTIES
    INTERFACE_LINK_LIBRARIES "edgelm_dep_xnnpack_microkernels_prod;edgelm_dep_pthreadpool;edgelm_dep_cpuinfo;m"
    IMPORTED_LINK_INTERFACE_MULTIPLICITY 2)
  add_library(cpuinfo::cpuinfo ALIAS edgelm_dep_cpuinfo)
  add_library(pthreadpool::pthreadpool ALIAS edgelm_dep_pthreadpool)
  add_library(XNNPACK::XNNPACK ALIAS edgelm_dep_XNNPACK)

elseif(EDGELM_DEPS STREQUAL "fetch")
  include(FetchContent)
  if(POLICY CMP0135)
    cmake_policy(SET CMP0135 NEW)  # extracted files get the extraction time: rebuilds stay correct
  endif()
  # CMake 4 refuses projects that claim compatibility with CMake < 3.5, as clog (inside cpuinfo) does;
  # this lets it configure them. Older CMake ignores the variable.
  set(CMAKE_POLICY_VERSION_MINIMUM 3.5)

  # The revisions Debian 12 packages, which CI tests, so that every platform runs the same library
  # code; FP16 and FXdiv (header-only helpers of XNNPACK and pthreadpool) at the revisions that XNNPACK
  # pins itself. FetchContent refuses an archive whose hash differs. The flatbuffers runtime is only
  # headers here, so it must match flatc exactly: generated code asserts the version.
  FetchContent_Declare(xnnpack
    URL https://github.com/google/XNNPACK/archive/ae108ef49aa5623b896fc93d4298c49d1750d9ba.tar.gz
    URL_HASH SHA512=597354c8c5b786ba24a8c9759409fee7b090ec497547919da4c5786a571b5ef237d1da204b7fd553217089792acb5e40ea1e6d26e3a638aa32df1e63c14d1c91)
  FetchContent_Declare(cpuinfo
    URL https://github.com/pytorch/cpuinfo/archive/082deffc80ce517f81dc2f3aebe6ba671fcd09c9.tar.gz
    URL_HASH SHA256=4379348ec3127b37e854a0a66f85ea1d3c606e5f3a6dce235dc9c69ce663c026)
  FetchContent_Declare(pthreadpool
    URL https://github.com/Maratyszcza/pthreadpool/archive/1787867f6183f056420e532eec640cba25efafea.zip
    URL_HASH SHA256=ec47d402b43ad763b2a33727f2459144397e8c4f1f4fae9b064576240c562557)
  # SOURCE_SUBDIR names a folder without a CMakeLists.txt: download only, the build uses the headers.
  FetchContent_Declare(fxdiv
    URL https://github.com/Maratyszcza/FXdiv/archive/b408327ac2a15ec3e43352421954f5b1967701d1.zip
    URL_HASH SHA256=ab7dfb08829bee33dca38405d647868fb214ac685e379ec7ef2bebcd234cd44d
    SOURCE_SUBDIR include)
  FetchContent_Declare(fp16
    URL https://github.com/Maratyszcza/FP16/archive/0a92994d729ff76a58f692d3028ca1b64b145d91.zip
    URL_HASH SHA256=e66e65515fa09927b348d3d584c68be4215cfe664100d01c9dbc7655a5716d70
    SOURCE_SUBDIR include)
  FetchContent_Declare(flatbuffers
    URL https://github.com/google/flatbuffers/archive/v2.0.8.tar.gz
    URL_HASH SHA256=f97965a727d26386afaefff950badef2db3ab6af9afe23ed6d94bfb65f95f37e
    SOURCE_SUBDIR include)
  FetchContent_MakeAvailable(fxdiv fp16 flatbuffers)

  # Static libraries (merged into libedgelm.a, see cmake/Packaging.cmake) without their tests, tools
  # and benchmarks, which would each download more at configure time.
  set(CPUINFO_LIBRARY_TYPE static CACHE STRING "")
  set(PTHREADPOOL_LIBRARY_TYPE static CACHE STRING "")
  set(XNNPACK_LIBRARY_TYPE static CACHE STRING "")
  foreach(off_option CPUINFO_BUILD_TOOLS CPUINFO_BUILD_UNIT_TESTS CPUINFO_BUILD_MOCK_TESTS
                     CPUINFO_BUILD_BENCHMARKS CPUINFO_BUILD_PKG_CONFIG XNNPACK_BUILD_TESTS XNNPACK_BUILD_BENCHMARKS)
    set(${off_option} OFF CACHE BOOL "")
  endforeach()

  # pthreadpool and XNNPACK download whatever *_SOURCE_DIR is undefined, and reuse a target that
  # already exists under the name they would give it.
  add_library(fxdiv INTERFACE)
  target_include_directories(fxdiv INTERFACE ${fxdiv_SOURCE_DIR}/include)
  add_library(fp16 INTERFACE)
  target_include_directories(fp16 INTERFACE ${fp16_SOURCE_DIR}/include)
  set(FXDIV_SOURCE_DIR ${fxdiv_SOURCE_DIR})
  set(FP16_SOURCE_DIR ${fp16_SOURCE_DIR})
  FetchContent_MakeAvailable(cpuinfo pthreadpool)
  set(CPUINFO_SOURCE_DIR ${cpuinfo_SOURCE_DIR})
  set(CLOG_SOURCE_DIR ${cpuinfo_SOURCE_DIR})  # clog lives in cpuinfo's tree
  set(PTHREADPOOL_SOURCE_DIR ${pthreadpool_SOURCE_DIR})

  # XNNPACK 2022-02 predates CMake's iOS platform and knows iOS by its older name, Darwin (one
  # architecture per build, from CMAKE_OSX_ARCHITECTURES). The function scope keeps the rename local.
  function(edgelm_add_xnnpack)
    if(CMAKE_SYSTEM_NAME STREQUAL "iOS")
      set(CMAKE_SYSTEM_NAME Darwin)
    endif()
    FetchContent_MakeAvailable(xnnpack)
  endfunction()
  edgelm_add_xnnpack()
  FetchContent_GetProperties(xnnpack)
  # Built only when something links it (the kernel benchmark), not by default.
  set_property(DIRECTORY ${xnnpack_SOURCE_DIR} PROPERTY EXCLUDE_FROM_ALL ON)

  add_library(flatbuffers_headers INTERFACE)
  target_include_directories(flatbuffers_headers INTERFACE ${flatbuffers_SOURCE_DIR}/include)
  add_library(flatbuffers::flatbuffers ALIAS flatbuffers_headers)
  add_library(pthreadpool::pthreadpool ALIAS pthreadpool)
  add_library(XNNPACK::XNNPACK ALIAS XNNPACK)
  # cpuinfo::cpuinfo: cpuinfo's own CMakeLists defines it.

  # flatc must run on the build machine and match the headers, so it is built once, at configure time,
  # from the same source with the build machine's compiler (the outer toolchain file is not passed on).
  if(NOT FLATC_EXECUTABLE)
    set(flatc_build ${CMAKE_BINARY_DIR}/flatc-host)
    set(generator_args -G "${CMAKE_GENERATOR}")
    if(CMAKE_MAKE_PROGRAM)
      list(APPEND generator_args -DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM})
    endif()
    message(STATUS "Building flatc for the build machine in ${flatc_build}")
    execute_process(
      COMMAND ${CMAKE_COMMAND} -S ${flatbuffers_SOURCE_DIR} -B ${flatc_build} ${generator_args}
              -DCMAKE_BUILD_TYPE=Release -DCMAKE_RUNTIME_OUTPUT_DIRECTORY_RELEASE=${flatc_build}/bin
              -DFLATBUFFERS_BUILD_TESTS=OFF -DFLATBUFFERS_BUILD_FLATLIB=OFF -DFLATBUFFERS_BUILD_FLATHASH=OFF
      OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
    execute_process(COMMAND ${CMAKE_COMMAND} --build ${flatc_build} --target flatc --config Release
                    OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
    set(FLATC_EXECUTABLE ${flatc_build}/bin/flatc${CMAKE_HOST_EXECUTABLE_SUFFIX} CACHE FILEPATH
        "flatc 2.0.8 for the build machine")
  endif()

else()
  message(FATAL_ERROR "EDGELM_DEPS must be prebuilt or fetch, not '${EDGELM_DEPS}'")
endif()

# nlohmann-json (header only): the converter's config.json / tokenizer.json / safetensors headers, and
# the benchmarks' JSON reports.
if(EDGELM_BUILD_TOOLS OR EDGELM_BUILD_BENCHMARKS)
  find_package(nlohmann_json 3 CONFIG REQUIRED)
endif()

if(EDGELM_BUILD_TESTS)
  find_package(Catch2 2 CONFIG REQUIRED)
endif()

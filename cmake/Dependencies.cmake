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

  set(EDGELM_DEPS_PREFIX "" CACHE PATH "XNNPACK, pthreadpool and cpuinfo already built (default: scripts/build-deps.sh)")
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
    # Not cached: every configure asks the script, which answers at once when the pins are built.
    set(EDGELM_DEPS_PREFIX "${deps_prefix}")
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

  # XNNPACK, pthreadpool, cpuinfo and FXdiv at the commits of third_party/pins.txt, the same sources
  # scripts/build-deps.sh builds for EDGELM_DEPS=prebuilt. Each comes from its offline archive
  # <name>-<commit>.tar.gz in EDGELM_THIRD_PARTY_DIR when that exists (FetchContent refuses one whose
  # sha256 differs from the pin), otherwise from its repository by commit (git checks the tree against
  # the commit hash). -DFETCHCONTENT_SOURCE_DIR_<NAME>=<tree> uses a local tree as it is.
  set(EDGELM_THIRD_PARTY_DIR "${PROJECT_SOURCE_DIR}/../shared/third_party" CACHE PATH
      "Offline source archives <name>-<commit>.tar.gz of third_party/pins.txt")
  set(edgelm_pins_file ${PROJECT_SOURCE_DIR}/third_party/pins.txt)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${edgelm_pins_file})
  file(STRINGS ${edgelm_pins_file} edgelm_pin_lines REGEX "^[ \t]*[^# \t]")
  set(edgelm_pinned_names "")
  foreach(line IN LISTS edgelm_pin_lines)
    string(REGEX MATCHALL "[^ \t]+" fields "${line}")
    list(LENGTH fields field_count)
    if(NOT field_count EQUAL 4)
      message(FATAL_ERROR "${edgelm_pins_file}: expected 'name url commit sha256', got '${line}'")
    endif()
    list(GET fields 0 name)
    list(GET fields 1 url)
    list(GET fields 2 commit)
    list(GET fields 3 sha256)
    if(NOT commit MATCHES "^[0-9a-f]+$" OR NOT sha256 MATCHES "^[0-9a-f]+$")
      message(FATAL_ERROR "${edgelm_pins_file}: bad commit or sha256 for ${name}")
    endif()
    set(archive "${EDGELM_THIRD_PARTY_DIR}/${name}-${commit}.tar.gz")
    # SOURCE_SUBDIR names a folder that does not exist, so FetchContent_MakeAvailable only unpacks:
    # XNNPACK adds the others itself, below.
    if(EXISTS "${archive}")
      FetchContent_Declare(${name} URL "${archive}" URL_HASH SHA256=${sha256} SOURCE_SUBDIR edgelm-unpack-only)
    else()
      message(STATUS "${name}: no ${archive}; fetching ${url} at ${commit}")
      FetchContent_Declare(${name} GIT_REPOSITORY ${url} GIT_TAG ${commit} SOURCE_SUBDIR edgelm-unpack-only)
    endif()
    list(APPEND edgelm_pinned_names ${name})
  endforeach()
  foreach(name XNNPACK pthreadpool cpuinfo FXdiv)
    if(NOT name IN_LIST edgelm_pinned_names)
      message(FATAL_ERROR "${edgelm_pins_file} pins no ${name}")
    endif()
  endforeach()
  FetchContent_MakeAvailable(${edgelm_pinned_names})
  # The one edit to the pinned sources (the workers' spin count), made to the tree this build unpacked;
  # a tree passed with FETCHCONTENT_SOURCE_DIR_PTHREADPOOL is used as it is.
  if(NOT FETCHCONTENT_SOURCE_DIR_PTHREADPOOL)
    set(PTHREADPOOL_SOURCE_DIR ${pthreadpool_SOURCE_DIR})
    include(${CMAKE_CURRENT_LIST_DIR}/pthreadpool_spin.cmake)
  endif()

  # XNNPACK's configure step generates its source lists with Python scripts; it uses Python_EXECUTABLE
  # when that is defined.
  if(NOT DEFINED Python_EXECUTABLE)
    find_package(Python3 COMPONENTS Interpreter)
    if(NOT Python3_Interpreter_FOUND)
      message(FATAL_ERROR "XNNPACK's configure step needs Python 3: install python3, or pass -DPython_EXECUTABLE=...")
    endif()
    set(Python_EXECUTABLE ${Python3_EXECUTABLE})
  endif()

  # The options both ways of building share (static, position-independent, production microkernels,
  # no tests, benchmarks or KleidiAI). Then XNNPACK alone is added: given PTHREADPOOL_SOURCE_DIR and
  # CPUINFO_SOURCE_DIR it adds pthreadpool and cpuinfo as its subprojects, and pthreadpool adds FXdiv
  # from FXDIV_SOURCE_DIR, so there is one pthreadpool and one cpuinfo, and nothing is downloaded by
  # their own scripts. XNNPACK 2026 knows CMAKE_SYSTEM_NAME iOS (one architecture per build, from
  # CMAKE_OSX_ARCHITECTURES), and cpuinfo treats it as an Apple OS.
  include(${CMAKE_CURRENT_LIST_DIR}/xnnpack_options.cmake)
  foreach(name IN LISTS edgelm_pinned_names)
    string(TOLOWER ${name} lower_name)
    string(TOUPPER ${name} upper_name)
    set(${upper_name}_SOURCE_DIR ${${lower_name}_SOURCE_DIR})
  endforeach()
  # EXCLUDE_FROM_ALL: what edgelm links is built, not every library of the three projects.
  add_subdirectory(${xnnpack_SOURCE_DIR} ${xnnpack_BINARY_DIR} EXCLUDE_FROM_ALL)

  # The flatbuffers runtime is only headers here, so it must match flatc exactly: generated code
  # asserts the version.
  FetchContent_Declare(flatbuffers
    URL https://github.com/google/flatbuffers/archive/v2.0.8.tar.gz
    URL_HASH SHA256=f97965a727d26386afaefff950badef2db3ab6af9afe23ed6d94bfb65f95f37e
    SOURCE_SUBDIR include)
  FetchContent_MakeAvailable(flatbuffers)

  add_library(flatbuffers_headers INTERFACE)
  target_include_directories(flatbuffers_headers INTERFACE ${flatbuffers_SOURCE_DIR}/include)
  add_library(flatbuffers::flatbuffers ALIAS flatbuffers_headers)
  add_library(pthreadpool::pthreadpool ALIAS pthreadpool)
  # XNNPACK's static library brings its xnnpack-microkernels-prod library into every link (a private
  # dependency of a static library is part of its link interface).
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

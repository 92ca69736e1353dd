# Installing edgelm: the C header, libedgelm.so and libedgelm.a, a CMake package (find_package(edgelm)
# gives edgelm::edgelm, the shared library, and edgelm::edgelm_static) and pkg-config's edgelm.pc.
# All of it is the install component "edgelm"; in fetch mode the dependencies add install rules of
# their own, so install with `cmake --install BUILD --component edgelm`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# libedgelm.a is self-contained: it carries the objects of the internal static libraries and, in fetch
# mode, of the dependencies built here, so that a consumer links one archive plus system libraries.
# (Only libraries compiled from their own sources can be merged this way.)
set(merged_libraries edgelm_core edgelm_kernels)
set(static_link_libraries Threads::Threads z)  # z: the system zlib (weight checksums)
if(EDGELM_DEPS STREQUAL "fetch")
  set(dependency_libraries XNNPACK xnnpack-microkernels-prod cpuinfo pthreadpool)
  list(APPEND merged_libraries ${dependency_libraries})
  # XNNPACK compiles most of its code into OBJECT libraries that its archives link directly (operators,
  # subgraph, packing, ...). Their objects are in libXNNPACK.a but not in $<TARGET_OBJECTS:XNNPACK>, so
  # they are merged by name, as CMake archives them: the OBJECT libraries in each one's LINK_LIBRARIES.
  foreach(library IN LISTS dependency_libraries)
    get_target_property(linked ${library} LINK_LIBRARIES)
    foreach(item IN LISTS linked)
      if(TARGET "${item}")
        get_target_property(item_type "${item}" TYPE)
        if(item_type STREQUAL "OBJECT_LIBRARY")
          list(APPEND merged_libraries "${item}")
        endif()
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES merged_libraries)
  if(ANDROID)
    list(APPEND static_link_libraries log)  # cpuinfo and XNNPACK write to logcat
  endif()
else()
  # The archives scripts/build-deps.sh built (absolute paths into its cache), in link order.
  list(APPEND static_link_libraries ${EDGELM_DEPS_ARCHIVES})
endif()
# The C++ runtime, so that plain C consumers link the static library too.
set(cxx_runtime_libraries ${CMAKE_CXX_IMPLICIT_LINK_LIBRARIES})
list(REMOVE_ITEM cxx_runtime_libraries ${CMAKE_C_IMPLICIT_LINK_LIBRARIES})
list(APPEND static_link_libraries ${cxx_runtime_libraries})

foreach(library IN LISTS merged_libraries)
  target_sources(edgelm_static PRIVATE $<TARGET_OBJECTS:${library}>)
endforeach()
foreach(library IN LISTS static_link_libraries)
  target_link_libraries(edgelm_static INTERFACE $<INSTALL_INTERFACE:${library}>)
endforeach()

# The same names inside this build as from an installed package.
set_target_properties(edgelm_shared PROPERTIES EXPORT_NAME edgelm)
add_library(edgelm::edgelm ALIAS edgelm_shared)
add_library(edgelm::edgelm_static ALIAS edgelm_static)

set(cmake_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/edgelm)
install(TARGETS edgelm_shared edgelm_static EXPORT edgelmTargets COMPONENT edgelm
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/edgelm/edgelm.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/edgelm
        COMPONENT edgelm)
install(EXPORT edgelmTargets NAMESPACE edgelm:: DESTINATION ${cmake_package_dir} COMPONENT edgelm)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/edgelmConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/edgelmConfig.cmake INSTALL_DESTINATION ${cmake_package_dir})
# 1.x: minor releases only add to the API (the SONAME carries the major version).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/edgelmConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/edgelmConfig.cmake ${PROJECT_BINARY_DIR}/edgelmConfigVersion.cmake
        DESTINATION ${cmake_package_dir} COMPONENT edgelm)

# edgelm.pc finds its prefix relative to itself, so the installed tree can be moved.
file(RELATIVE_PATH pc_prefix_from_pcfiledir /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" pc_prefix_from_pcfiledir ${pc_prefix_from_pcfiledir})
set(pc_libs_private "")
foreach(library IN LISTS static_link_libraries)
  if(library STREQUAL "Threads::Threads")
    set(library ${CMAKE_THREAD_LIBS_INIT})
  elseif(NOT IS_ABSOLUTE "${library}")
    set(library -l${library})
  endif()
  string(APPEND pc_libs_private " ${library}")
endforeach()
string(STRIP "${pc_libs_private}" pc_libs_private)
configure_file(${CMAKE_CURRENT_LIST_DIR}/edgelm.pc.in ${PROJECT_BINARY_DIR}/edgelm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/edgelm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT edgelm)

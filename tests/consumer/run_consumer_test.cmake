# Installs the edgelm build BUILD_DIR into a fresh prefix under WORK_DIR, builds the consumer project
# against it and runs its programs. Arguments (-D): BUILD_DIR, WORK_DIR, LIBDIR (CMAKE_INSTALL_LIBDIR),
# MODEL, GENERATOR, and TOOLCHAIN_FILE when cross-compiling (its emulator runs the programs). The
# package is named by edgelm_DIR, which a cross toolchain's find-root settings do not re-root.
set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})

execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component edgelm
                OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)

set(configure_args -S ${CMAKE_CURRENT_LIST_DIR} -B ${consumer_build} -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
                   -Dedgelm_DIR=${prefix}/${LIBDIR}/cmake/edgelm -DEDGELM_TEST_MODEL=${MODEL})
if(TOOLCHAIN_FILE)
  list(APPEND configure_args -DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE})
endif()
set(ENV{PKG_CONFIG_PATH} ${prefix}/${LIBDIR}/pkgconfig)
execute_process(COMMAND ${CMAKE_COMMAND} ${configure_args} COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${consumer_build} COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${consumer_build} --output-on-failure
                COMMAND_ERROR_IS_FATAL ANY)

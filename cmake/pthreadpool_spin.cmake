# Gives the pinned pthreadpool's workers Android's spin count on every platform. Upstream, a worker
# spins 1000 pauses (16 us on Zen 5) before it sleeps in a futex, except on Android (100000). A decode step
# runs some 300 parallel regions with serial work between them (norms, attention, sampling) that is
# often longer than that, so workers slept and had to be woken by a system call dozens of times per
# token: 2-thread decode of E2B mobile-int4 on Zen 5 made 66837 context switches in a benchmark run,
# 1190 with this count. A worker still sleeps after 1.6 ms (Zen 5) without work.
#
# Edits ${PTHREADPOOL_SOURCE_DIR}/src/threadpool-common.h in place (a tree already edited is left
# as it is); fails if the line it replaces is gone, so a new pin is checked rather than silently kept.
# scripts/build-deps.sh runs it with `cmake -DPTHREADPOOL_SOURCE_DIR=... -P`; cmake/Dependencies.cmake
# (EDGELM_DEPS=fetch) includes it.
set(edgelm_spin_header "${PTHREADPOOL_SOURCE_DIR}/src/threadpool-common.h")
file(READ "${edgelm_spin_header}" edgelm_spin_text)
set(edgelm_spin_stock "#define PTHREADPOOL_SPIN_PAUSE_ITERATIONS 1000\n")
set(edgelm_spin_android "#define PTHREADPOOL_SPIN_PAUSE_ITERATIONS 100000\n")
string(FIND "${edgelm_spin_text}" "${edgelm_spin_stock}" edgelm_spin_at)
if(edgelm_spin_at EQUAL -1)
  string(REGEX MATCHALL "${edgelm_spin_android}" edgelm_spin_done "${edgelm_spin_text}")
  list(LENGTH edgelm_spin_done edgelm_spin_count)
  if(NOT edgelm_spin_count EQUAL 2)
    message(FATAL_ERROR "${edgelm_spin_header}: no '${edgelm_spin_stock}' to raise (pthreadpool pin changed?)")
  endif()
else()
  string(REPLACE "${edgelm_spin_stock}" "${edgelm_spin_android}" edgelm_spin_text "${edgelm_spin_text}")
  file(WRITE "${edgelm_spin_header}" "${edgelm_spin_text}")
endif()

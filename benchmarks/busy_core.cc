#include "busy_core.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace edgelm_bench {

namespace {

[[noreturn]] void Spin(pid_t parent) {
  // Die with the parent even when it exits without running destructors (edgelm-bench's Die()); the
  // parent may already be gone before the request takes effect.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  setpriority(PRIO_PROCESS, 0, BusyCoreProcess::kNice);
  volatile uint64_t counter = 0;  // volatile: the loop must stay a loop
  for (;;) counter = counter + 1;
}

}  // namespace

BusyCoreProcess::BusyCoreProcess() {
  const pid_t parent = getpid();
  child_ = fork();
  if (child_ == 0) Spin(parent);
}

double BusyCoreProcess::Stop() {
  if (child_ <= 0) return 0;
  kill(child_, SIGKILL);
  struct rusage usage = {};
  while (wait4(child_, nullptr, 0, &usage) < 0 && errno == EINTR) {
  }
  child_ = -1;
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

}  // namespace edgelm_bench

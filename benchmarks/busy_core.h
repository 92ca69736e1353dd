// A competing process that keeps one core busy at the lowest priority, as another app does on a phone:
// decode with more threads than free cores must then not be slower than with fewer (issue 14, item 6).
#ifndef EDGELM_BENCHMARKS_BUSY_CORE_H_
#define EDGELM_BENCHMARKS_BUSY_CORE_H_

#include <sys/types.h>

namespace edgelm_bench {

// A forked child spinning at nice 19 on no particular core, from construction to Stop() (or this
// process's end: the child is killed when its parent dies). Construct it before this process starts
// threads (it forks).
class BusyCoreProcess {
 public:
  static constexpr int kNice = 19;

  BusyCoreProcess();
  ~BusyCoreProcess() { Stop(); }
  BusyCoreProcess(const BusyCoreProcess&) = delete;
  BusyCoreProcess& operator=(const BusyCoreProcess&) = delete;

  bool running() const { return child_ > 0; }
  // Ends and reaps the child; returns the CPU seconds it got while it ran (0 if it never ran).
  double Stop();

 private:
  pid_t child_ = -1;
};

}  // namespace edgelm_bench

#endif  // EDGELM_BENCHMARKS_BUSY_CORE_H_

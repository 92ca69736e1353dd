// A terminal progress bar with bytes and ETA (silent when stderr is not a terminal or --quiet).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace edgelm {

class ProgressBar {
 public:
  ProgressBar(std::string label, bool enabled);
  void Update(uint64_t done, uint64_t total);
  void Finish();

 private:
  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

// "1.23 GB" style (powers of 10, as model sizes are quoted).
std::string FormatBytes(double bytes);

}  // namespace edgelm

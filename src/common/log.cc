#include "common/log.h"

#include <mutex>

namespace edgelm {
namespace {

struct Installed {
  std::shared_ptr<const LogSink> sink;
  LogLevel min_level = LogLevel::kError;
};

std::mutex g_mutex;
Installed g_installed;

}  // namespace

void SetLogSink(std::shared_ptr<const LogSink> sink, LogLevel min_level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_installed = Installed{std::move(sink), min_level};
}

void Log(LogLevel level, const std::string& message) {
  Installed current;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_installed.sink || level < g_installed.min_level) return;
    current = g_installed;
  }
  (*current.sink)(level, message.c_str());  // unlocked: the sink may be slow
}

}  // namespace edgelm

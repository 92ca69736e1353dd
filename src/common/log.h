// The library's log: messages go to the sink the app installed (edgelm_set_log_callback), never to
// stdout or stderr.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace edgelm {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using LogSink = std::function<void(LogLevel level, const char* message)>;

// Process-wide; null drops everything. Thread-safe: a message in flight keeps the sink it started with.
void SetLogSink(std::shared_ptr<const LogSink> sink, LogLevel min_level);
void Log(LogLevel level, const std::string& message);

}  // namespace edgelm

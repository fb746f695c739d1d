// vrseg/log.h — one-line logging to stderr.
//
// Thread-safe: lines from different threads never interleave. The level is process-wide.
#pragma once

#include <string_view>

namespace vrseg {

enum class LogLevel : int { kDebug = 0, kInfo, kWarning, kError, kOff };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Writes "vrseg: [level] message\n" when `level` is at or above the process level.
void Log(LogLevel level, std::string_view message);

inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

}  // namespace vrseg

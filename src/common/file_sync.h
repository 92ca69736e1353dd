// Durable replacement of files: a file renamed into place survives power loss only once the directory
// entry is on disk too.
#pragma once

#include <string>

namespace edgelm {

// fsync()s the directory that holds `path` (best effort: errors are ignored, the rename already
// happened and the data itself was synced before it).
void SyncDirectoryOf(const std::string& path);

}  // namespace edgelm

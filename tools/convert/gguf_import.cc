#include "convert/importer.h"

namespace edgelm {

Status ImportGguf(const std::string& path, const ImportOptions&, ImportedModel*) { return Unsupported(path + ": GGUF import is being written"); }

}  // namespace edgelm

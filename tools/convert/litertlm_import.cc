#include "convert/importer.h"

namespace edgelm {

Status ImportLitertlm(const std::string& path, const ImportOptions&, ImportedModel*) { return Unsupported(path + ": .litertlm import is being written"); }

}  // namespace edgelm

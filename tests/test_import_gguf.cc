// Placeholder until the gguf importer lands (replaced by its tests).
#include <catch2/catch.hpp>

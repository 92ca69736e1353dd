// Placeholder until the litertlm importer lands (replaced by its tests).
#include <catch2/catch.hpp>

// Placeholder until the ct importer lands (replaced by its tests).
#include <catch2/catch.hpp>

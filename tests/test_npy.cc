#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "common/npy.h"

namespace edgelm {
namespace {

namespace fs = std::filesystem;

const std::string kSharedDir = EDGELM_SHARED_DIR;

// A fresh directory under the system temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("edgelm_test_npy_" + std::to_string(getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Writes a hand-made .npy: magic, `version`, header length (2 bytes for v1, else 4), `header`
// verbatim, then `payload`.
void WriteRawNpy(const std::string& path, int version, const std::string& header,
                 const std::string& payload) {
  std::string bytes = "\x93NUMPY";
  bytes += {static_cast<char>(version), '\0'};
  for (int i = 0; i < (version == 1 ? 2 : 4); ++i) {
    bytes += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  }
  std::ofstream(path, std::ios::binary) << bytes << header << payload;
}

template <typename T>
std::string AsBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

}  // namespace

TEST_CASE("ReadNpy reads float32 logits matching the fixture's top-5") {
  NpyArray logits;
  const Status status = ReadNpy(kSharedDir + "/fixtures/gemma4-tiny-e2b/logits_seq0.npy", &logits);
  REQUIRE(status.ok());
  CHECK(logits.type == NpyArray::Type::kFloat32);
  CHECK(logits.shape == std::vector<int64_t>{1, 2048});
  REQUIRE(logits.floats.size() == 2048);
  CHECK(logits.ints.empty());

  // fixtures.json: sequences[0].top5 (ids and float32 logits, highest first).
  const std::vector<int> expected_ids = {1308, 1477, 1177, 1327, 660};
  const std::vector<double> expected_logits = {5.700283050537109, 5.634807109832764,
                                               5.491249084472656, 5.173830986022949,
                                               4.688595771789551};
  std::vector<int> order(logits.floats.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                    [&](int a, int b) { return logits.floats[a] > logits.floats[b]; });
  for (int rank = 0; rank < 5; ++rank) {
    CHECK(order[rank] == expected_ids[rank]);
    CHECK(logits.floats[order[rank]] == static_cast<float>(expected_logits[rank]));
  }
}

TEST_CASE("ReadNpy reads int32 token ids and widens them") {
  NpyArray ids128, ids256;
  const std::string dir = kSharedDir + "/models/brown-tiny/float/";
  REQUIRE(ReadNpy(dir + "ref_input_ids_test128.npy", &ids128).ok());
  REQUIRE(ReadNpy(dir + "ref_input_ids_test256.npy", &ids256).ok());
  CHECK(ids128.type == NpyArray::Type::kInt32);
  CHECK(ids128.shape == std::vector<int64_t>{128});
  REQUIRE(ids128.ints.size() == 128);
  CHECK(ids128.floats.empty());
  CHECK(ids128.ints.front() == 2);  // BOS
  CHECK(ids128.ints.back() == 283);
  for (int64_t id : ids128.ints) {
    CHECK((id >= 0 && id < 4096));  // brown-tiny vocab_size
  }
  // The 128-token reference is the prefix of the 256-token one.
  REQUIRE(ids256.ints.size() == 256);
  CHECK(std::equal(ids128.ints.begin(), ids128.ints.end(), ids256.ints.begin()));
}

TEST_CASE("WriteNpyF32 round-trips bit-exactly through ReadNpy") {
  TempDir dir;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> values(2 * 3 * 4);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = std::ldexp(-1.5f, static_cast<int>(i)) + 0.1f;
  values[5] = inf;
  values[6] = -inf;
  values[7] = std::numeric_limits<float>::quiet_NaN();
  values[8] = std::numeric_limits<float>::denorm_min();

  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 3, 4}, std::vector<int64_t>{24}, std::vector<int64_t>{}}) {
    const std::string path = dir.File("round_trip.npy");
    REQUIRE(WriteNpyF32(path, values.data(), shape).ok());
    const size_t count = shape.empty() ? 1 : values.size();
    // Header padded like numpy's so the data starts on a 64-byte boundary.
    CHECK((fs::file_size(path) - count * sizeof(float)) % 64 == 0);
    NpyArray read;
    REQUIRE(ReadNpy(path, &read).ok());
    CHECK(read.shape == shape);
    REQUIRE(read.floats.size() == count);
    CHECK(std::memcmp(read.floats.data(), values.data(), count * sizeof(float)) == 0);
  }

  const std::string empty_path = dir.File("empty.npy");
  REQUIRE(WriteNpyF32(empty_path, nullptr, {0, 5}).ok());
  NpyArray empty;
  REQUIRE(ReadNpy(empty_path, &empty).ok());
  CHECK(empty.shape == std::vector<int64_t>{0, 5});
  CHECK(empty.floats.empty());
}

TEST_CASE("ReadNpy handles v2 headers, double quotes, <f8 and <i8") {
  TempDir dir;
  const std::string path = dir.File("v2.npy");
  const std::vector<double> doubles = {0.1, -2.5, 1e300};
  WriteRawNpy(path, 2, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3,)}\n",
              AsBytes(doubles));
  NpyArray read;
  REQUIRE(ReadNpy(path, &read).ok());
  CHECK(read.type == NpyArray::Type::kFloat64);
  CHECK(read.doubles == doubles);

  const std::vector<int64_t> ints = {-1, 262143, int64_t{1} << 40, 7};
  WriteRawNpy(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': ( 2 , 2 ), }\n",
              AsBytes(ints));
  REQUIRE(ReadNpy(path, &read).ok());
  CHECK(read.type == NpyArray::Type::kInt64);
  CHECK(read.shape == std::vector<int64_t>{2, 2});
  CHECK(read.ints == ints);
  CHECK(read.doubles.empty());  // previous contents cleared
}

TEST_CASE("ReadNpy rejects what it cannot read with a clear status") {
  TempDir dir;
  const std::string path = dir.File("bad.npy");
  const std::string four_floats(16, '\0');
  const auto read_status = [&](int version, const std::string& header, const std::string& payload) {
    WriteRawNpy(path, version, header, payload);
    NpyArray unused;
    return ReadNpy(path, &unused);
  };

  NpyArray unused;
  CHECK(ReadNpy(dir.File("missing.npy"), &unused).code() == StatusCode::kNotFound);
  std::ofstream(path, std::ios::binary) << "PK\x03\x04 not numpy";
  CHECK(ReadNpy(path, &unused).code() == StatusCode::kInvalidArgument);

  const Status big_endian =
      read_status(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", four_floats);
  CHECK(big_endian.code() == StatusCode::kUnsupported);
  CHECK_THAT(big_endian.message(), Catch::Contains(">f4"));
  const Status fortran =
      read_status(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four_floats);
  CHECK(fortran.code() == StatusCode::kUnsupported);
  CHECK_THAT(fortran.message(), Catch::Contains("Fortran"));
  CHECK(read_status(4, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four_floats)
            .code() == StatusCode::kUnsupported);
  CHECK(read_status(1, "{'descr': '<u2', 'fortran_order': False, 'shape': (8,), }", four_floats)
            .code() == StatusCode::kUnsupported);

  const Status truncated =
      read_status(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", four_floats);
  CHECK(truncated.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(truncated.message(), Catch::Contains("does not match"));
  CHECK(read_status(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", four_floats)
            .code() == StatusCode::kInvalidArgument);  // trailing bytes
  CHECK(read_status(1,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999999, "
                    "999999999999999, 4), }",
                    four_floats)
            .code() == StatusCode::kInvalidArgument);  // product overflows int64
  CHECK(read_status(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,2), }", four_floats)
            .code() == StatusCode::kInvalidArgument);
  CHECK(read_status(1, "{'descr': '<f4', 'fortran_order': False}", four_floats).code() ==
        StatusCode::kInvalidArgument);
  WriteRawNpy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four_floats);
  fs::resize_file(path, 20);  // cut inside the header
  CHECK(ReadNpy(path, &unused).code() == StatusCode::kInvalidArgument);
}

}  // namespace edgelm

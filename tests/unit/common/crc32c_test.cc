#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string_view>

namespace keel {
namespace {

TEST(Crc32c, CheckValueOf123456789IsE3069283) {
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c_software(as_bytes("123456789")), 0xE3069283u);
}

TEST(Crc32c, EmptyInputIsZero) {
  EXPECT_EQ(crc32c(ByteView{}), 0u);
  EXPECT_EQ(crc32c_software(ByteView{}), 0u);
}

// RFC 3720 (iSCSI) B.4 test vector: 32 bytes of zeros.
TEST(Crc32c, ThirtyTwoZeroBytesMatchRfc3720) {
  Bytes zeros(32, 0);
  EXPECT_EQ(crc32c_software(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
}

TEST(Crc32c, HardwareAndSoftwareAgreeOnRandomInputsOfEveryAlignment) {
  std::mt19937_64 rng(42);
  Bytes buf(4096 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 500; ++i) {
    size_t start = rng() % 16;
    size_t len = rng() % 4096;
    ByteView v(buf.data() + start, len);
    uint32_t seed = (i % 3 == 0) ? 0 : static_cast<uint32_t>(rng());
    uint32_t sw = crc32c_software(v, seed);
    EXPECT_EQ(crc32c(v, seed), sw) << "len " << len;
    if (crc32c_hardware_available()) {
      EXPECT_EQ(crc32c_hardware(v, seed), sw) << "len " << len;
    }
  }
}

TEST(Crc32c, ChainingEqualsCrcOfConcatenation) {
  std::string_view a = "hello, ", b = "record batches";
  std::string ab = std::string(a) + std::string(b);
  EXPECT_EQ(crc32c(as_bytes(b), crc32c(as_bytes(a))), crc32c(as_bytes(ab)));
  EXPECT_EQ(crc32c_software(as_bytes(b), crc32c_software(as_bytes(a))), crc32c_software(as_bytes(ab)));
}

TEST(Crc32c, SingleBitFlipChangesCrc) {
  Bytes data(100, 0x5a);
  uint32_t before = crc32c(data);
  data[37] ^= 0x04;
  EXPECT_NE(crc32c(data), before);
}

}  // namespace
}  // namespace keel

#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <random>

namespace keel {
namespace {

TEST(Crc32c, StandardCheckValue) {
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c_software(as_bytes("123456789")), 0xE3069283u);
}

TEST(Crc32c, EmptyInputIsZero) {
  EXPECT_EQ(crc32c(ByteView{}), 0u);
  EXPECT_EQ(crc32c_software(ByteView{}), 0u);
}

// RFC 3720 (iSCSI) B.4 test vectors.
TEST(Crc32c, Rfc3720Vectors) {
  Bytes zeros(32, 0x00), ones(32, 0xff), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<uint8_t>(i);
    dec[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c(ByteView(zeros)), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ByteView(ones)), 0x62A8AB43u);
  EXPECT_EQ(crc32c(ByteView(inc)), 0x46DD794Eu);
  EXPECT_EQ(crc32c(ByteView(dec)), 0x113FDB5Cu);
  EXPECT_EQ(crc32c_software(ByteView(dec)), 0x113FDB5Cu);
}

TEST(Crc32c, HardwareAndSoftwareAgreeOnRandomInputs) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  std::mt19937 rng(42);
  for (int iter = 0; iter < 500; ++iter) {
    Bytes data(rng() % 3000);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    // Odd start offsets exercise the unaligned paths.
    size_t skip = data.empty() ? 0 : rng() % std::min<size_t>(data.size(), 9);
    ByteView v = ByteView(data).subspan(skip);
    uint32_t seed = iter % 3 == 0 ? 0 : static_cast<uint32_t>(rng());
    ASSERT_EQ(crc32c_hardware(v, seed), crc32c_software(v, seed)) << "size " << v.size();
  }
}

TEST(Crc32c, ChainingEqualsOneShot) {
  std::mt19937 rng(7);
  Bytes data(1000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  ByteView all(data);
  for (size_t cut : {0u, 1u, 7u, 8u, 333u, 999u, 1000u}) {
    EXPECT_EQ(crc32c(all.subspan(cut), crc32c(all.first(cut))), crc32c(all));
    EXPECT_EQ(crc32c_software(all.subspan(cut), crc32c_software(all.first(cut))), crc32c_software(all));
  }
}

TEST(Crc32c, SingleBitFlipChangesChecksum) {
  Bytes data(64, 0x5a);
  uint32_t before = crc32c(ByteView(data));
  data[40] ^= 0x01;
  EXPECT_NE(crc32c(ByteView(data)), before);
}

}  // namespace
}  // namespace keel

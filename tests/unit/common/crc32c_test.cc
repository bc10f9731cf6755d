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

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

TEST(Crc32c, HardwareCheckValue) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  EXPECT_EQ(crc32c_hardware(as_bytes("123456789")), 0xE3069283u);
}

// Every length through the single-stream and three-stream paths (three-stream
// from 192 bytes), at every start alignment mod 16 and with random seeds.
TEST(Crc32c, HardwareMatchesSoftwareForEveryLengthTo4096) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  std::mt19937 rng(1234);
  Bytes data = random_bytes(4096 + 16, 99);
  for (size_t len = 0; len <= 4096; ++len) {
    size_t offset = rng() % 16;
    ByteView v = ByteView(data).subspan(offset, len);
    uint32_t seed = len % 2 == 0 ? 0 : static_cast<uint32_t>(rng());
    ASSERT_EQ(crc32c_hardware(v, seed), crc32c_software(v, seed)) << "len " << len << " offset " << offset;
    ASSERT_EQ(crc32c(v, seed), crc32c_software(v, seed)) << "len " << len << " offset " << offset;
  }
}

// Lengths either side of each lane size's block (3 x 64, 512, 4096 bytes) and
// of sums of blocks, where one lane size hands over to the next.
TEST(Crc32c, HardwareMatchesSoftwareAtBlockBoundaries) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  Bytes data = random_bytes(4 * 12288 + 64, 5);
  for (size_t base : {192u, 1536u, 12288u, 12288u + 1536u + 192u, 2 * 12288u, 3 * 12288u + 2 * 1536u}) {
    for (size_t len = base - 9; len <= base + 9; ++len) {
      for (size_t offset : {0u, 1u, 3u, 7u, 8u}) {
        ByteView v = ByteView(data).subspan(offset, len);
        ASSERT_EQ(crc32c_hardware(v, 0xDEADBEEFu), crc32c_software(v, 0xDEADBEEFu))
            << "len " << len << " offset " << offset;
      }
    }
  }
}

TEST(Crc32c, HardwareMatchesSoftwareOnLargeBuffers) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  for (size_t len : {size_t{1} << 20, (size_t{16} << 20) + 7}) {
    Bytes data = random_bytes(len + 5, static_cast<uint32_t>(len));
    for (size_t offset : {0u, 5u}) {
      ByteView v = ByteView(data).subspan(offset, len);
      EXPECT_EQ(crc32c_hardware(v), crc32c_software(v)) << "len " << len << " offset " << offset;
      EXPECT_EQ(crc32c(v, 42), crc32c_software(v, 42)) << "len " << len << " offset " << offset;
    }
  }
  // Uniform inputs: all zeros tests the shift constants alone (only the seed is
  // non-zero), all ones the interaction with the pre/post inversion.
  for (uint8_t fill : {uint8_t{0x00}, uint8_t{0xff}}) {
    Bytes data(1 << 20, fill);
    EXPECT_EQ(crc32c_hardware(ByteView(data), 7), crc32c_software(ByteView(data), 7)) << int{fill};
  }
}

// Extending a CRC (what record batch encoding and snapshot files do) across cuts
// that fall inside and between the three-stream blocks.
TEST(Crc32c, HardwareChainingEqualsOneShotOnLargeBuffers) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  std::mt19937 rng(11);
  Bytes data = random_bytes(100000, 3);
  ByteView all(data);
  const uint32_t whole = crc32c_software(all);
  ASSERT_EQ(crc32c_hardware(all), whole);
  for (int iter = 0; iter < 200; ++iter) {
    size_t cut = rng() % (all.size() + 1);
    ASSERT_EQ(crc32c_hardware(all.subspan(cut), crc32c_hardware(all.first(cut))), whole) << "cut " << cut;
  }
  // Three pieces, through the public dispatching function.
  for (size_t a : {0u, 191u, 192u, 12289u}) {
    for (size_t b : {1u, 1536u, 40000u}) {
      uint32_t c = crc32c(all.first(a));
      c = crc32c(all.subspan(a, b), c);
      c = crc32c(all.subspan(a + b), c);
      ASSERT_EQ(c, whole) << a << "+" << b;
    }
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

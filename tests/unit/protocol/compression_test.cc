#include "protocol/compression.h"

#include <gtest/gtest.h>
#include <snappy.h>
#include <zlib.h>

#include <cstring>
#include <random>

namespace keel::protocol {
namespace {

Bytes mixed_data(size_t n, uint32_t seed) {
  // Half random, half repetitive: exercises literals and matches.
  std::mt19937 rng(seed);
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = (i / 1000) % 2 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(i % 13);
  return b;
}

const Compression kCodecs[] = {Compression::kGzip, Compression::kSnappy, Compression::kLz4, Compression::kZstd};

TEST(Compression, EveryCodecRoundTripsManySizes) {
  for (Compression c : kCodecs) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{32768}, size_t{32769}, size_t{65537}, size_t{300000}}) {
      Bytes in = mixed_data(n, static_cast<uint32_t>(n));
      auto z = compress(c, ByteView(in));
      ASSERT_TRUE(z.ok()) << compression_name(c) << " " << n;
      auto out = decompress(c, ByteView(*z), 1 << 20);
      ASSERT_TRUE(out.ok()) << compression_name(c) << " " << n << ": " << out.error().message();
      EXPECT_EQ(*out, in) << compression_name(c) << " " << n;
    }
  }
}

TEST(Compression, NoneCopiesAndHonoursTheCap) {
  Bytes in = mixed_data(100, 1);
  EXPECT_EQ(*compress(Compression::kNone, ByteView(in)), in);
  EXPECT_EQ(*decompress(Compression::kNone, ByteView(in), 100), in);
  EXPECT_EQ(decompress(Compression::kNone, ByteView(in), 99).error(), RecordsErrc::kTooLarge);
}

TEST(Compression, OutputExactlyAtTheCapIsAllowedOneByteOverIsNot) {
  Bytes in(50000, 'q');
  for (Compression c : kCodecs) {
    auto z = compress(c, ByteView(in));
    ASSERT_TRUE(z.ok());
    EXPECT_TRUE(decompress(c, ByteView(*z), 50000).ok()) << compression_name(c);
    EXPECT_EQ(decompress(c, ByteView(*z), 49999).error(), RecordsErrc::kTooLarge) << compression_name(c);
  }
}

TEST(Compression, ZipBombStopsAtTheCap) {
  Bytes zeros(64u << 20, 0);  // 64 MiB that compresses to a few KiB
  for (Compression c : kCodecs) {
    auto z = compress(c, ByteView(zeros));
    ASSERT_TRUE(z.ok());
    EXPECT_LT(z->size(), 4u << 20) << compression_name(c);
    EXPECT_EQ(decompress(c, ByteView(*z), 1u << 20).error(), RecordsErrc::kTooLarge) << compression_name(c);
  }
}

TEST(Compression, TruncatedStreamsFail) {
  Bytes in = mixed_data(100000, 5);
  for (Compression c : kCodecs) {
    auto z = compress(c, ByteView(in));
    ASSERT_TRUE(z.ok());
    for (size_t cut : {z->size() / 2, z->size() - 1}) {
      auto out = decompress(c, ByteView(*z).first(cut), 1 << 20);
      EXPECT_FALSE(out.ok()) << compression_name(c) << " cut at " << cut;
      if (!out.ok()) {
        EXPECT_EQ(out.error(), RecordsErrc::kDecompressFailed) << compression_name(c);
      }
    }
    EXPECT_EQ(decompress(c, ByteView{}, 1 << 20).error(), RecordsErrc::kDecompressFailed) << compression_name(c);
  }
}

TEST(Compression, GarbageFails) {
  Bytes junk = mixed_data(5000, 99);
  junk[0] = 0xff;  // not a valid snappy varint length start that fits, not a gzip/lz4/zstd magic
  junk[1] = 0xff;
  junk[2] = 0xff;
  junk[3] = 0xff;
  junk[4] = 0xff;
  for (Compression c : kCodecs) EXPECT_EQ(decompress(c, ByteView(junk), 1 << 20).error(), RecordsErrc::kDecompressFailed) << compression_name(c);
}

TEST(Compression, GzipWritesAGzipHeaderAndReadsConcatenatedMembers) {
  Bytes a = mixed_data(3000, 1), b = mixed_data(4000, 2);
  auto za = compress(Compression::kGzip, ByteView(a));
  auto zb = compress(Compression::kGzip, ByteView(b));
  ASSERT_TRUE(za.ok() && zb.ok());
  EXPECT_EQ((*za)[0], 0x1f);
  EXPECT_EQ((*za)[1], 0x8b);
  Bytes both = *za;
  both.insert(both.end(), zb->begin(), zb->end());
  auto out = decompress(Compression::kGzip, ByteView(both), 1 << 20);
  ASSERT_TRUE(out.ok());
  Bytes expect = a;
  expect.insert(expect.end(), b.begin(), b.end());
  EXPECT_EQ(*out, expect);
}

TEST(Compression, SnappyWritesXerialFramingWith32KiBBlocks) {
  Bytes in = mixed_data(70000, 3);
  auto z = compress(Compression::kSnappy, ByteView(in));
  ASSERT_TRUE(z.ok());
  const uint8_t magic[] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00};
  ASSERT_GT(z->size(), 16u);
  EXPECT_EQ(std::memcmp(z->data(), magic, 8), 0);
  EXPECT_EQ(load_be<int32_t>(z->data() + 8), 1);   // version
  EXPECT_EQ(load_be<int32_t>(z->data() + 12), 1);  // compatible version
  // Walk the blocks: 70000 bytes = 32768 + 32768 + 4464.
  size_t pos = 16;
  std::vector<size_t> block_sizes;
  while (pos < z->size()) {
    int32_t len = load_be<int32_t>(z->data() + pos);
    size_t n = 0;
    ASSERT_TRUE(snappy::GetUncompressedLength(reinterpret_cast<const char*>(z->data() + pos + 4), len, &n));
    block_sizes.push_back(n);
    pos += 4 + len;
  }
  EXPECT_EQ(pos, z->size());
  EXPECT_EQ(block_sizes, (std::vector<size_t>{32768, 32768, 4464}));
}

TEST(Compression, SnappyReadsRawBlocks) {
  Bytes in = mixed_data(20000, 4);
  std::string raw;
  snappy::Compress(reinterpret_cast<const char*>(in.data()), in.size(), &raw);
  auto out = decompress(Compression::kSnappy, as_bytes(raw), 1 << 20);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, in);
  EXPECT_EQ(decompress(Compression::kSnappy, as_bytes(raw), 19999).error(), RecordsErrc::kTooLarge);
}

TEST(Compression, XerialBlockLengthPastTheEndFails) {
  auto z = compress(Compression::kSnappy, ByteView(mixed_data(1000, 8)));
  ASSERT_TRUE(z.ok());
  store_be<int32_t>(z->data() + 16, static_cast<int32_t>(z->size()));  // longer than what follows
  EXPECT_EQ(decompress(Compression::kSnappy, ByteView(*z), 1 << 20).error(), RecordsErrc::kDecompressFailed);
  store_be<int32_t>(z->data() + 16, -5);
  EXPECT_EQ(decompress(Compression::kSnappy, ByteView(*z), 1 << 20).error(), RecordsErrc::kDecompressFailed);
}

TEST(Compression, Lz4WritesAFrameWith64KiBIndependentBlocks) {
  auto z = compress(Compression::kLz4, ByteView(mixed_data(1000, 9)));
  ASSERT_TRUE(z.ok());
  ASSERT_GE(z->size(), 7u);
  EXPECT_EQ((*z)[0], 0x04);  // magic 0x184D2204, little-endian
  EXPECT_EQ((*z)[1], 0x22);
  EXPECT_EQ((*z)[2], 0x4d);
  EXPECT_EQ((*z)[3], 0x18);
  EXPECT_EQ((*z)[4] & 0xc0, 0x40);  // FLG: version 01
  EXPECT_TRUE((*z)[4] & 0x20);      // block independence
  EXPECT_EQ((*z)[5], 0x40);         // BD: 64 KiB max block size
}

TEST(Compression, ZstdWritesAStandardFrame) {
  auto z = compress(Compression::kZstd, ByteView(mixed_data(1000, 10)));
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(load_be<uint32_t>(z->data()), 0x28b52ffdu);
}

TEST(Compression, UnknownCodecIsUnsupported) {
  Bytes in{1, 2, 3};
  EXPECT_EQ(decompress(static_cast<Compression>(5), ByteView(in), 100).error(), RecordsErrc::kUnsupportedCompression);
  EXPECT_EQ(compress(static_cast<Compression>(7), ByteView(in)).error(), RecordsErrc::kUnsupportedCompression);
}

TEST(Compression, ErrorsHaveReadableMessages) {
  std::error_code ec = RecordsErrc::kTooLarge;
  EXPECT_EQ(std::string(ec.category().name()), "records");
  EXPECT_NE(ec.message().find("limit"), std::string::npos);
}

}  // namespace
}  // namespace keel::protocol

#include "protocol/compression.h"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <random>
#include <string>

namespace keel::protocol {
namespace {

constexpr Compression kCodecs[] = {Compression::kGzip, Compression::kSnappy, Compression::kLz4, Compression::kZstd};

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

Bytes text_bytes(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += "record-" + std::to_string(i % 97) + " ";
  s.resize(n);
  return Bytes(s.begin(), s.end());
}

std::error_code err(RecordsErrc e) { return make_error_code(e); }

class Codec : public ::testing::TestWithParam<Compression> {};

TEST_P(Codec, RoundTripsEmptyTinyTextAndRandomInputs) {
  for (const Bytes& in : {Bytes{}, Bytes{42}, text_bytes(100000), random_bytes(200000, 3), Bytes(3 << 20, 0)}) {
    auto c = compress(GetParam(), in);
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto d = decompress(GetParam(), *c, in.size());
    ASSERT_TRUE(d.ok()) << d.error().message() << " size " << in.size();
    EXPECT_EQ(*d, in);
  }
}

TEST_P(Codec, OutputOneByteOverTheCapIsTooLarge) {
  Bytes in = text_bytes(300000);
  auto c = compress(GetParam(), in);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(decompress(GetParam(), *c, in.size()).ok());
  EXPECT_EQ(decompress(GetParam(), *c, in.size() - 1).error(), err(RecordsErrc::kTooLarge));
}

// 64 MiB of zeros compresses to a few KiB; a 1 MiB cap must stop it without
// producing (or allocating) the whole thing.
TEST_P(Codec, HighlyCompressedBombStopsAtTheCap) {
  Bytes zeros(64u << 20, 0);
  auto c = compress(GetParam(), zeros);
  ASSERT_TRUE(c.ok());
  EXPECT_LT(c->size(), 4u << 20);
  EXPECT_EQ(decompress(GetParam(), *c, 1u << 20).error(), err(RecordsErrc::kTooLarge));
}

TEST_P(Codec, GarbageInputIsDecompressFailed) {
  Bytes garbage = random_bytes(1000, 11);
  garbage[0] = 0x00;  // not gzip's 1f, not xerial's 82, not an lz4/zstd magic
  auto d = decompress(GetParam(), garbage, 1 << 20);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.error() == err(RecordsErrc::kDecompressFailed) || d.error() == err(RecordsErrc::kTooLarge))
      << d.error().message();
}

TEST_P(Codec, NoTruncationDecodesToTheWholeInput) {
  Bytes in = text_bytes(5000);
  auto c = compress(GetParam(), in);
  ASSERT_TRUE(c.ok());
  for (size_t n = 0; n < c->size(); ++n) {
    auto d = decompress(GetParam(), ByteView(*c).first(n), 1 << 20);
    EXPECT_FALSE(d.ok() && *d == in) << "prefix " << n << " of " << c->size() << " decoded to the whole input";
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, Codec, ::testing::ValuesIn(kCodecs),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST(Compression, NoneCopiesAndIsCapped) {
  Bytes in = text_bytes(10);
  EXPECT_EQ(*compress(Compression::kNone, in), in);
  EXPECT_EQ(*decompress(Compression::kNone, in, 10), in);
  EXPECT_EQ(decompress(Compression::kNone, in, 9).error(), err(RecordsErrc::kTooLarge));
}

TEST(Compression, UnknownCodecIsUnsupported) {
  Bytes in = {1, 2, 3};
  EXPECT_EQ(compress(static_cast<Compression>(5), in).error(), err(RecordsErrc::kUnsupportedCompression));
  EXPECT_EQ(decompress(static_cast<Compression>(7), in, 100).error(), err(RecordsErrc::kUnsupportedCompression));
}

TEST(Compression, NamesAreKafkasConfigValues) {
  EXPECT_STREQ(compression_name(Compression::kNone), "none");
  EXPECT_STREQ(compression_name(Compression::kGzip), "gzip");
  EXPECT_STREQ(compression_name(Compression::kSnappy), "snappy");
  EXPECT_STREQ(compression_name(Compression::kLz4), "lz4");
  EXPECT_STREQ(compression_name(Compression::kZstd), "zstd");
  EXPECT_STREQ(make_error_code(RecordsErrc::kTooLarge).category().name(), "records");
}

// ---- gzip ----

Bytes zlib_gzip(ByteView in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, in.size()) + 64);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  return out;
}

TEST(Gzip, OutputIsAGzipStreamZlibCanRead) {
  Bytes in = text_bytes(1000);
  Bytes c = *compress(Compression::kGzip, in);
  ASSERT_GE(c.size(), 10u);
  EXPECT_EQ(c[0], 0x1f);
  EXPECT_EQ(c[1], 0x8b);
  EXPECT_EQ(*decompress(Compression::kGzip, zlib_gzip(in), 1000), in);
}

TEST(Gzip, ConcatenatedMembersAreReadAsOneStream) {
  Bytes a = text_bytes(700), b = random_bytes(300, 5);
  Bytes both = zlib_gzip(a);
  Bytes second = zlib_gzip(b);
  both.insert(both.end(), second.begin(), second.end());
  Bytes expect = a;
  expect.insert(expect.end(), b.begin(), b.end());
  EXPECT_EQ(*decompress(Compression::kGzip, both, 1000), expect);
}

TEST(Gzip, CorruptedTrailerCrcIsDecompressFailed) {
  Bytes c = zlib_gzip(text_bytes(1000));
  c[c.size() - 6] ^= 0xff;  // inside the CRC-32 trailer
  EXPECT_EQ(decompress(Compression::kGzip, c, 1 << 20).error(), err(RecordsErrc::kDecompressFailed));
}

// ---- snappy ----

Bytes raw_snappy(ByteView in) {
  std::string out;
  snappy::Compress(reinterpret_cast<const char*>(in.data()), in.size(), &out);
  return Bytes(out.begin(), out.end());
}

void put_be32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

TEST(Snappy, CompressWritesXerialFramingAsJavaClientsDo) {
  Bytes in = text_bytes(100000);
  Bytes c = *compress(Compression::kSnappy, in);
  const uint8_t header[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, 0, 0, 0, 1, 0, 0, 0, 1};
  ASSERT_GT(c.size(), 20u);
  EXPECT_EQ(std::memcmp(c.data(), header, 16), 0);
  // First block: int32 length, then a raw snappy block of at most 32 KiB.
  uint32_t len = load_be<uint32_t>(c.data() + 16);
  ASSERT_LE(20 + len, c.size());
  size_t ulen = 0;
  ASSERT_TRUE(snappy::GetUncompressedLength(reinterpret_cast<const char*>(c.data() + 20), len, &ulen));
  EXPECT_EQ(ulen, 32u * 1024);
}

TEST(Snappy, ReadsHandFramedXerialStreamOfTwoBlocks) {
  Bytes a = text_bytes(5000), b = random_bytes(777, 9);
  Bytes framed = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00};
  put_be32(framed, 1);
  put_be32(framed, 1);
  for (const Bytes* part : {&a, &b}) {
    Bytes block = raw_snappy(*part);
    put_be32(framed, static_cast<uint32_t>(block.size()));
    framed.insert(framed.end(), block.begin(), block.end());
  }
  Bytes expect = a;
  expect.insert(expect.end(), b.begin(), b.end());
  EXPECT_EQ(*decompress(Compression::kSnappy, framed, 1 << 20), expect);
  EXPECT_EQ(decompress(Compression::kSnappy, framed, expect.size() - 1).error(), err(RecordsErrc::kTooLarge));
}

TEST(Snappy, ReadsRawSnappyBlock) {
  Bytes in = text_bytes(20000);
  EXPECT_EQ(*decompress(Compression::kSnappy, raw_snappy(in), 20000), in);
}

TEST(Snappy, XerialBlockLengthOverrunningOrNegativeIsDecompressFailed) {
  Bytes framed = *compress(Compression::kSnappy, text_bytes(100));
  Bytes over = framed;
  store_be<int32_t>(over.data() + 16, 100000);
  EXPECT_EQ(decompress(Compression::kSnappy, over, 1 << 20).error(), err(RecordsErrc::kDecompressFailed));
  Bytes negative = framed;
  store_be<int32_t>(negative.data() + 16, -1);
  EXPECT_EQ(decompress(Compression::kSnappy, negative, 1 << 20).error(), err(RecordsErrc::kDecompressFailed));
  Bytes short_header(framed.begin(), framed.begin() + 12);
  EXPECT_EQ(decompress(Compression::kSnappy, short_header, 1 << 20).error(), err(RecordsErrc::kDecompressFailed));
}

TEST(Snappy, HugeDeclaredLengthIsRefusedBeforeAllocating) {
  // Raw snappy whose varint preamble claims 4 GiB - 1.
  Bytes lying = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
  EXPECT_EQ(decompress(Compression::kSnappy, lying, 1 << 20).error(), err(RecordsErrc::kTooLarge));
}

// ---- lz4 ----

TEST(Lz4, CompressWritesAFrameWith64KiBIndependentBlocks) {
  Bytes c = *compress(Compression::kLz4, text_bytes(1000));
  ASSERT_GE(c.size(), 7u);
  EXPECT_EQ(load_be<uint32_t>(c.data()), 0x04224D18u);  // frame magic 0x184D2204, little-endian
  EXPECT_EQ(c[4] & 0xc0, 0x40);                         // FLG: version 01
  EXPECT_TRUE(c[4] & 0x20);                             // block independence
  EXPECT_EQ((c[5] >> 4) & 0x07, 4);                     // BD: max block size 64 KiB
}

TEST(Lz4, ReadsFramesWithChecksumsAndLargerBlocksWrittenByLiblz4) {
  Bytes in = random_bytes(300000, 4);
  for (size_t i = 0; i < in.size(); i += 3) in[i] = 'a';
  LZ4F_preferences_t prefs;
  std::memset(&prefs, 0, sizeof(prefs));
  prefs.frameInfo.blockSizeID = LZ4F_max4MB;
  prefs.frameInfo.blockMode = LZ4F_blockLinked;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
  prefs.frameInfo.contentSize = in.size();
  Bytes c(LZ4F_compressFrameBound(in.size(), &prefs));
  size_t n = LZ4F_compressFrame(c.data(), c.size(), in.data(), in.size(), &prefs);
  ASSERT_FALSE(LZ4F_isError(n));
  c.resize(n);
  EXPECT_EQ(*decompress(Compression::kLz4, c, in.size()), in);
  c[c.size() - 2] ^= 0x01;  // content checksum
  EXPECT_EQ(decompress(Compression::kLz4, c, in.size()).error(), err(RecordsErrc::kDecompressFailed));
}

// ---- zstd ----

TEST(Zstd, CompressWritesAStandardFrame) {
  Bytes in = text_bytes(1000);
  Bytes c = *compress(Compression::kZstd, in);
  EXPECT_EQ(load_be<uint32_t>(c.data()), 0x28B52FFDu);
  Bytes back(1000);
  EXPECT_EQ(ZSTD_decompress(back.data(), back.size(), c.data(), c.size()), 1000u);
  EXPECT_EQ(back, in);
}

TEST(Zstd, CapAppliesAlthoughTheFrameHeaderDeclaresTheContentSize) {
  // ZSTD_compress writes the content size (200000) into the frame header; the
  // cap, not that declaration, decides.
  Bytes in = text_bytes(200000);
  Bytes c = *compress(Compression::kZstd, in);
  EXPECT_EQ(decompress(Compression::kZstd, c, 1000).error(), err(RecordsErrc::kTooLarge));
}

TEST(Zstd, ConcatenatedFramesAreReadAsOneStream) {
  Bytes a = text_bytes(3000), b = random_bytes(100, 2);
  Bytes both = *compress(Compression::kZstd, a);
  Bytes second = *compress(Compression::kZstd, b);
  both.insert(both.end(), second.begin(), second.end());
  Bytes expect = a;
  expect.insert(expect.end(), b.begin(), b.end());
  EXPECT_EQ(*decompress(Compression::kZstd, both, 1 << 20), expect);
}

}  // namespace
}  // namespace keel::protocol

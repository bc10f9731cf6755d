#include "common/bytes.h"

#include <gtest/gtest.h>

#include <limits>

namespace keel {
namespace {

TEST(ByteReader, ReadsBigEndianIntegers) {
  const uint8_t raw[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xff, 0xff, 0xff};
  ByteReader r{ByteView(raw)};
  EXPECT_EQ(r.read_i16(), 0x0102);
  EXPECT_EQ(r.read_i32(), 0x03040506);
  EXPECT_EQ(r.read_u8(), 0x07);
  EXPECT_EQ(r.read_i16(), -1);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 1u);
}

TEST(ByteReader, TruncationIsStickyAndNeverReadsPastTheEnd) {
  const uint8_t raw[] = {0x00, 0x01, 0x02};
  ByteReader r{ByteView(raw)};
  EXPECT_EQ(r.read_i32(), 0);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), WireErrc::kTruncated);
  EXPECT_EQ(r.read_i8(), 0);  // still failed, still zero
  EXPECT_TRUE(r.read_view(1).empty());
}

TEST(ByteReader, ReadViewRejectsALengthLargerThanTheBuffer) {
  const uint8_t raw[] = {1, 2, 3};
  ByteReader r{ByteView(raw)};
  EXPECT_TRUE(r.read_view(size_t{1} << 40).empty());
  EXPECT_EQ(r.error(), WireErrc::kTruncated);
}

TEST(Varint, UnsignedMatchesKafkaVectors) {
  // Values and encodings from the protobuf/Kafka varint definition.
  struct Case { uint32_t v; std::vector<uint8_t> enc; };
  const Case cases[] = {{0, {0x00}}, {1, {0x01}}, {127, {0x7f}}, {128, {0x80, 0x01}},
                        {300, {0xac, 0x02}}, {0xffffffffu, {0xff, 0xff, 0xff, 0xff, 0x0f}}};
  for (const auto& c : cases) {
    ByteWriter w;
    w.write_uvarint(c.v);
    EXPECT_EQ(w.buffer(), c.enc) << c.v;
    EXPECT_EQ(uvarint_size(c.v), c.enc.size());
    ByteReader r{ByteView(c.enc)};
    EXPECT_EQ(r.read_uvarint(), c.v);
    EXPECT_TRUE(r.ok() && r.at_end());
  }
}

TEST(Varint, ZigZagRoundTripsExtremes) {
  for (int32_t v : {0, -1, 1, -64, 63, -65, std::numeric_limits<int32_t>::min(),
                    std::numeric_limits<int32_t>::max()}) {
    ByteWriter w;
    w.write_varint(v);
    EXPECT_EQ(w.size(), varint_size(v));
    ByteReader r{ByteView(w.buffer())};
    EXPECT_EQ(r.read_varint(), v);
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    ByteWriter w;
    w.write_varlong(v);
    EXPECT_EQ(w.size(), varlong_size(v));
    ByteReader r{ByteView(w.buffer())};
    EXPECT_EQ(r.read_varlong(), v);
  }
  // -1 zig-zags to 1: one byte.
  ByteWriter w;
  w.write_varint(-1);
  EXPECT_EQ(w.buffer(), Bytes{0x01});
}

TEST(Varint, OverlongEncodingIsAnError) {
  const uint8_t raw[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  ByteReader r{ByteView(raw)};
  EXPECT_EQ(r.read_uvarint(), 0u);
  EXPECT_EQ(r.error(), WireErrc::kMalformedVarint);
}

TEST(ByteWriter, PatchesAReservedLengthPrefix) {
  ByteWriter w;
  size_t at = w.reserve_bytes(4);
  w.write_bytes(std::string_view("abc"));
  w.patch_be<int32_t>(at, 3);
  EXPECT_EQ(w.buffer(), (Bytes{0, 0, 0, 3, 'a', 'b', 'c'}));
}

}  // namespace
}  // namespace keel

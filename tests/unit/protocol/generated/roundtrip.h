#pragma once
// The check every generated round-trip test applies to one filled message.
// Hand-written; the generator writes the tests that call it.

#include <gtest/gtest.h>

#include "common/bytes.h"

namespace keel::protocol {

template <typename T>
void check_roundtrip(const T& msg, int16_t version) {
  ByteWriter w;
  msg.encode(w, version);
  ASSERT_TRUE(w.ok()) << w.error().message();
  ASSERT_EQ(w.size(), msg.encoded_size(version));

  const Bytes encoded = w.take();
  ByteReader r{ByteView(encoded)};
  T decoded;
  auto res = decoded.decode(r, version);
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_TRUE(r.at_end()) << r.remaining() << " bytes left";
  EXPECT_TRUE(decoded == msg);

  // Encoding the decoded message gives the same bytes.
  ByteWriter again;
  decoded.encode(again, version);
  EXPECT_EQ(again.buffer(), encoded);

  // Every strict prefix is a clean error, never a read past the end.
  for (size_t len = 0; len < encoded.size(); ++len) {
    ByteReader pr{ByteView(encoded.data(), len)};
    T partial;
    EXPECT_FALSE(partial.decode(pr, version).ok()) << "a prefix of " << len << " bytes decoded";
  }
}

}  // namespace keel::protocol

// The JSON module: what it accepts, what it refuses (with the offset), and
// that writing and parsing agree.

#include "common/json.h"

#include <gtest/gtest.h>

#include <random>

namespace keel::json {
namespace {

TEST(Json, ParsesEveryKindOfValue) {
  std::string err;
  auto v = parse(R"( {"a":1,"b":-9223372036854775808,"c":"x\"y\\z\u00e9\ud83d\ude00","d":[true,false,null],"e":1.5e3,"f":{}} )", &err);
  ASSERT_TRUE(v) << err;
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(v->find("a")->as_int(), 1);
  EXPECT_EQ(v->find("b")->as_int(), INT64_MIN) << "int64 kept exact";
  EXPECT_EQ(v->find("c")->as_string(), "x\"y\\z\xc3\xa9\xf0\x9f\x98\x80") << "escapes and a surrogate pair";
  ASSERT_EQ(v->find("d")->as_array().size(), 3u);
  EXPECT_TRUE(v->find("d")->as_array()[2].is_null());
  EXPECT_DOUBLE_EQ(v->find("e")->as_double(), 1500.0);
  EXPECT_TRUE(v->find("f")->is_object());
  EXPECT_EQ(v->find("missing"), nullptr);
}

TEST(Json, WriteKeepsMemberOrderAndRoundTrips) {
  Value o = Value::object();
  o.set("version", Value::integer(5));
  o.set("host", Value::string("h\n1"));
  o.set("list", Value::array({Value::integer(1), Value()}));
  const std::string text = write(o);
  EXPECT_EQ(text, R"({"version":5,"host":"h\n1","list":[1,null]})");
  auto back = parse(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(write(*back), text);
}

TEST(Json, MalformedInputIsAnErrorWithItsOffset) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"abc",
                          "{\"a\":1} x", "tru", "[1 2]", "\"\\ud800\"", "\"\\udc00\"", "\"a\x01\"", "{1:2}"}) {
    std::string err;
    auto v = parse(bad, &err);
    EXPECT_FALSE(v) << "accepted: " << bad;
    EXPECT_NE(err.find("at byte"), std::string::npos) << bad << ": " << err;
  }
}

TEST(Json, DeepNestingIsRefusedNotACrash) {
  std::string deep(100000, '[');
  auto v = parse(deep);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), make_error_code(JsonErrc::kTooDeep));
  std::string ok = std::string(60, '[') + std::string(60, ']');
  EXPECT_TRUE(parse(ok));
}

TEST(Json, DoublesStayDoublesThroughAWriteAndParse) {
  for (const char* text : {"-0E9", "1e16", "2.0", "-0.0"}) {
    auto v = parse(text);
    ASSERT_TRUE(v) << text;
    const std::string once = write(*v);
    auto again = parse(once);
    ASSERT_TRUE(again) << once;
    EXPECT_FALSE(again->is_int()) << text << " -> " << once;
    EXPECT_EQ(write(*again), once);
  }
}

TEST(Json, HugeNumbersBecomeDoublesNotGarbage) {
  auto v = parse("123456789012345678901234567890");
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->is_int());
  EXPECT_NEAR(v->as_double(), 1.2345678901234568e29, 1e15);
}

TEST(Json, EveryTruncationOfAValidDocumentIsRefused) {
  const std::string doc =
      R"({"version":5,"host":"h\u00e9","ids":[1,-2,3.5e1],"rack":null,"ok":true,"m":{"k":"v"}})";
  ASSERT_TRUE(parse(doc));
  for (size_t n = 0; n < doc.size(); ++n) {
    std::string err;
    EXPECT_FALSE(parse(doc.substr(0, n), &err)) << "prefix of " << n << " bytes accepted";
    EXPECT_NE(err.find("at byte"), std::string::npos) << n;
  }
}

TEST(Json, Int64LimitsAreExactAndOneBeyondIsADouble) {
  auto max = parse("9223372036854775807");
  ASSERT_TRUE(max);
  ASSERT_TRUE(max->is_int());
  EXPECT_EQ(max->as_int(), INT64_MAX);
  auto beyond = parse("9223372036854775808");
  ASSERT_TRUE(beyond);
  EXPECT_FALSE(beyond->is_int()) << "not wrapped to a negative int64";
  EXPECT_GT(beyond->as_double(), 9.2e18);
  auto below = parse("-9223372036854775809");
  ASSERT_TRUE(below);
  EXPECT_FALSE(below->is_int());
  EXPECT_LT(below->as_double(), -9.2e18);
}

TEST(Json, RawUtf8IsKeptAndMalformedUtf8IsRefused) {
  auto ok = parse("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->as_string(), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(write(*ok), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"") << "written back unchanged";
  for (const char* bad : {"\"\x80\"", "\"\xc3\"", "\"\xc3\x28\"", "\"\xc0\xaf\"",
                          "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                          "\"\xff\"", "\"\xf0\x9f\x98"}) {
    std::string err;
    EXPECT_FALSE(parse(bad, &err)) << "accepted malformed UTF-8";
    EXPECT_NE(err.find("UTF-8"), std::string::npos) << err;
  }
}

TEST(Json, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,0123456789.eE+-truefalsnl\\u \t\n";
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t j = 0; j < n; ++j) s.push_back(alphabet[rng() % alphabet.size()]);
    auto v = parse(s);
    if (v) {
      EXPECT_TRUE(parse(write(*v))) << s;
    }
  }
}

}  // namespace
}  // namespace keel::json

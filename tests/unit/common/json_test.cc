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

TEST(Json, HugeNumbersBecomeDoublesNotGarbage) {
  auto v = parse("123456789012345678901234567890");
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->is_int());
  EXPECT_NEAR(v->as_double(), 1.2345678901234568e29, 1e15);
}

TEST(Json, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,0123456789.eE+-truefalsnl\\u \t\n";
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t j = 0; j < n; ++j) s.push_back(alphabet[rng() % alphabet.size()]);
    auto v = parse(s);
    if (v) EXPECT_TRUE(parse(write(*v))) << s;
  }
}

}  // namespace
}  // namespace keel::json

// Keel's contract over Boost.JSON (common/json_util.h): strict parsing with a
// depth limit and the byte offset of an error, exact integers, compact writing
// in member order, and the lookups that never throw.

#include "common/json_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include <boost/json.hpp>

namespace keel::json {
namespace {

TEST(JsonUtil, ParsesEveryKindOfValue) {
  std::string err;
  auto v = parse(R"( {"a":1,"b":-9223372036854775808,"c":"x\"y\\z\u00e9\ud83d\ude00","d":[true,false,null],"e":1.5e3,"f":{}} )", &err);
  ASSERT_TRUE(v) << err;
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(to_int64(*find(*v, "a")), 1);
  EXPECT_EQ(find(*v, "b")->as_int64(), INT64_MIN) << "int64 kept exact";
  EXPECT_EQ(find(*v, "c")->as_string(), "x\"y\\z\xc3\xa9\xf0\x9f\x98\x80") << "escapes and a surrogate pair";
  ASSERT_EQ(find(*v, "d")->as_array().size(), 3u);
  EXPECT_TRUE(find(*v, "d")->as_array()[2].is_null());
  EXPECT_DOUBLE_EQ(find(*v, "e")->as_double(), 1500.0);
  EXPECT_TRUE(find(*v, "f")->is_object());
  EXPECT_EQ(find(*v, "missing"), nullptr);
  EXPECT_EQ(find(find(*v, "d")->as_array()[0], "a"), nullptr) << "find on a non-object is nullptr, not a throw";
}

TEST(JsonUtil, RepeatedMemberNameKeepsTheLast) {
  auto v = parse(R"({"a":1,"a":2})");
  ASSERT_TRUE(v);
  EXPECT_EQ(to_int64(*find(*v, "a")), 2);
}

TEST(JsonUtil, WriteKeepsMemberOrderAndRoundTrips) {
  boost::json::object o;
  o["version"] = 5;
  o["host"] = "h\n1";
  o["list"] = boost::json::array{1, nullptr};
  o["ctl"] = std::string("\x01", 1);
  const std::string text = write(o);
  EXPECT_EQ(text, R"({"version":5,"host":"h\n1","list":[1,null],"ctl":"\u0001"})");
  auto back = parse(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(write(*back), text);
}

TEST(JsonUtil, NonFiniteDoublesAreWrittenAsNull) {
  boost::json::object o;
  o["inf"] = std::numeric_limits<double>::infinity();
  o["list"] = boost::json::array{std::nan(""), 1.5};
  EXPECT_EQ(write(o), R"({"inf":null,"list":[null,1.5E0]})");
  auto huge = parse("1e400");
  ASSERT_TRUE(huge);
  EXPECT_TRUE(parse(write(*huge))) << "what we write parses again";
}

TEST(JsonUtil, MalformedInputIsAnErrorWithItsOffset) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"abc",
                          "{\"a\":1} x", "tru", "[1 2]", "\"\\ud800\"", "\"\\udc00\"", "\"a\x01\"", "{1:2}",
                          "// c\n1", "[1,2,]", "NaN"}) {
    std::string err;
    auto v = parse(bad, &err);
    EXPECT_FALSE(v) << "accepted: " << bad;
    EXPECT_EQ(v.error(), make_error_code(JsonErrc::kSyntax)) << bad;
    EXPECT_NE(err.find("at byte"), std::string::npos) << bad << ": " << err;
  }
  std::string err;
  EXPECT_FALSE(parse("[1,]", &err));
  EXPECT_NE(err.find("at byte 3"), std::string::npos) << err;
}

TEST(JsonUtil, DeepNestingIsRefusedNotACrash) {
  std::string deep(100000, '[');
  auto v = parse(deep);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), make_error_code(JsonErrc::kTooDeep));
  std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  EXPECT_TRUE(parse(ok));
  std::string over = std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']');
  EXPECT_FALSE(parse(over));
}

TEST(JsonUtil, DoublesStayDoublesThroughAWriteAndParse) {
  for (const char* text : {"-0E9", "1e16", "2.0", "-0.0"}) {
    auto v = parse(text);
    ASSERT_TRUE(v) << text;
    const std::string once = write(*v);
    auto again = parse(once);
    ASSERT_TRUE(again) << once;
    EXPECT_TRUE(again->is_double()) << text << " -> " << once;
    EXPECT_FALSE(to_int64(*again)) << "a double is not an integer";
    EXPECT_EQ(write(*again), once);
  }
}

TEST(JsonUtil, Int64LimitsAreExactAndBeyondIsNoInt64) {
  auto max = parse("9223372036854775807");
  ASSERT_TRUE(max);
  EXPECT_EQ(to_int64(*max), INT64_MAX);
  auto beyond = parse("9223372036854775808");
  ASSERT_TRUE(beyond);
  EXPECT_FALSE(to_int64(*beyond)) << "not wrapped to a negative int64";
  EXPECT_EQ(kind_name(beyond->kind()), "a number");
  EXPECT_EQ(write(*beyond), "9223372036854775808") << "exact when written back";
  auto below = parse("-9223372036854775809");
  ASSERT_TRUE(below);
  EXPECT_FALSE(to_int64(*below));
  auto huge = parse("123456789012345678901234567890");
  ASSERT_TRUE(huge);
  ASSERT_TRUE(huge->is_double());
  EXPECT_NEAR(huge->as_double(), 1.2345678901234568e29, 1e15);
}

TEST(JsonUtil, KindNamesForErrors) {
  EXPECT_EQ(kind_name(boost::json::kind::string), "a string");
  EXPECT_EQ(kind_name(boost::json::kind::int64), "an integer");
  EXPECT_EQ(kind_name(boost::json::kind::double_), "a number");
  EXPECT_EQ(kind_name(boost::json::kind::object), "an object");
  EXPECT_EQ(kind_name(boost::json::kind::null), "null");
}

TEST(JsonUtil, EveryTruncationOfAValidDocumentIsRefused) {
  const std::string doc =
      R"({"version":5,"host":"h\u00e9","ids":[1,-2,3.5e1],"rack":null,"ok":true,"m":{"k":"v"}})";
  ASSERT_TRUE(parse(doc));
  for (size_t n = 0; n < doc.size(); ++n) {
    std::string err;
    EXPECT_FALSE(parse(doc.substr(0, n), &err)) << "prefix of " << n << " bytes accepted";
    EXPECT_NE(err.find("at byte"), std::string::npos) << n;
  }
}

TEST(JsonUtil, RawUtf8IsKeptAndMalformedUtf8IsRefused) {
  auto ok = parse("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->as_string(), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(write(*ok), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"") << "written back unchanged";
  for (const char* bad : {"\"\x80\"", "\"\xc3\"", "\"\xc3\x28\"", "\"\xc0\xaf\"",
                          "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                          "\"\xff\"", "\"\xf0\x9f\x98"}) {
    std::string err;
    EXPECT_FALSE(parse(bad, &err)) << "accepted malformed UTF-8";
    EXPECT_NE(err.find("at byte"), std::string::npos) << err;
  }
}

TEST(JsonUtil, RandomBytesNeverCrashAndWhatParsesRoundTrips) {
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,0123456789.eE+-truefalsnl\\u \t\n";
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t j = 0; j < n; ++j) s.push_back(alphabet[rng() % alphabet.size()]);
    auto v = parse(s);
    if (v) {
      const std::string once = write(*v);
      auto again = parse(once);
      ASSERT_TRUE(again) << s;
      EXPECT_EQ(write(*again), once) << s;
    }
  }
}

}  // namespace
}  // namespace keel::json

// The REST API's request parsing: the strict JSON body reading (the
// create-topic and configs:alter schemas, nested elements), the query string,
// percent-decoding and the route matching with "{name}" segments. Whatever
// the input, it must end in a value or a 4xx refusal, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "http/server.h"
#include "server/rest/rest_util.h"

using Kind = boost::json::kind;
using keel::server::rest::Field;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  keel::http::Response refusal;
  switch (data[0] % 3) {
    case 0: {
      const std::vector<Field> topic = {{"topic_name", Kind::string, true},
                                        {"partitions_count", Kind::int64},
                                        {"configs", Kind::array},
                                        {"validate_only", Kind::bool_}};
      auto body = keel::server::rest::parse_body(input, topic, &refusal);
      if (!body) {
        if (refusal.status != 400) __builtin_trap();
        break;
      }
      if (const boost::json::value* configs = keel::json::find(*body, "configs"); configs && configs->is_array()) {
        for (const auto& c : configs->as_array()) {
          if (!keel::server::rest::check_object(c, {{"name", Kind::string, true}, {"value", Kind::string}},
                                                "configs", &refusal) &&
              refusal.status != 400)
            __builtin_trap();
        }
      }
      break;
    }
    case 1: {
      keel::http::Request req;
      req.query = std::string(input);
      for (const auto& [k, v] : req.query_params()) (void)(k.size() + v.size());
      (void)keel::http::url_decode(input, true);
      break;
    }
    default: {
      static const keel::http::Routes routes = [] {
        keel::http::Routes r;
        for (const char* path : {"/v3/clusters/{cluster_id}/topics/{topic_name}",
                                 "/v3/clusters/{cluster_id}/topics/{topic_name}/configs:alter",
                                 "/v3/clusters/{cluster_id}/acls", "/metrics/*"}) {
          r.add("GET", path, [](const keel::http::Request& q) {
            keel::http::Response out;
            out.body = q.param("topic_name");
            return out;
          });
        }
        return r;
      }();
      keel::http::Request req;
      req.method = "GET";
      req.path = std::string(input);
      const keel::http::Response out = routes.dispatch(req);
      if (out.status != 200 && out.status != 404) __builtin_trap();
      break;
    }
  }
  return 0;
}

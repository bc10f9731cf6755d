// The route table and the listener addresses: no Beast here.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "http/server.h"

namespace keel::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

Response error_response(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = "{\"error_code\":" + std::to_string(status) + ",\"message\":\"" + json_escape(message) + "\"}\n";
  return r;
}

void Routes::add(std::string method, std::string path, Handler handler) {
  Route r;
  r.method = std::move(method);
  if (path.size() >= 2 && path.compare(path.size() - 2, 2, "/*") == 0) {
    r.prefix = true;
    path.pop_back();  // keep the '/'
  }
  r.path = std::move(path);
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

Response Routes::dispatch(const Request& request) const {
  std::string allow;
  for (const Route& r : routes_) {
    const bool match = r.prefix ? request.path.compare(0, r.path.size(), r.path) == 0 : request.path == r.path;
    if (!match) continue;
    if (r.method == request.method) return r.handler(request);
    allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (allow.empty()) return error_response(404, "no such resource: " + request.path);
  Response res = error_response(405, request.method + " is not allowed on " + request.path);
  res.headers.emplace_back("Allow", allow);
  return res;
}

std::string Endpoint::to_string() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "https://" : "http://") + h + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error) {
  Endpoint ep;
  std::string_view rest;
  if (text.substr(0, 7) == "http://") {
    rest = text.substr(7);
  } else if (text.substr(0, 8) == "https://") {
    ep.tls = true;
    rest = text.substr(8);
  } else {
    *error = "must start with http:// or https://";
    return std::nullopt;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      *error = "an IPv6 host is written [addr]:port";
      return std::nullopt;
    }
    ep.host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      *error = "has no port (host:port)";
      return std::nullopt;
    }
    ep.host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
  }
  if (ep.host.find('/') != std::string::npos || port_text.find('/') != std::string_view::npos) {
    *error = "must be scheme://host:port, without a path";
    return std::nullopt;
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    *error = "port '" + std::string(port_text) + "' is not a number from 0 to 65535";
    return std::nullopt;
  }
  ep.port = static_cast<uint16_t>(port);
  return ep;
}

}  // namespace keel::http

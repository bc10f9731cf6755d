// The route table and the listener addresses: no Beast here.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <mutex>

#include <boost/json.hpp>

#include "common/json_util.h"
#include "common/log.h"
#include "http/server.h"

namespace keel::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t from = path.empty() || path[0] != '/' ? 0 : 1;
  while (from <= path.size()) {
    const size_t slash = path.find('/', from);
    const size_t end = slash == std::string_view::npos ? path.size() : slash;
    out.emplace_back(path.substr(from, end - from));
    if (slash == std::string_view::npos) break;
    from = slash + 1;
  }
  return out;
}

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

const std::string& Request::param(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return kEmpty;
}

std::vector<std::pair<std::string, std::string>> Request::query_params() const {
  std::vector<std::pair<std::string, std::string>> out;
  std::string_view q(query);
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    auto key = url_decode(part.substr(0, eq), true);
    auto value = url_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
    // A malformed escape keeps the text as sent: the handler then refuses the value.
    out.emplace_back(key ? *key : std::string(part.substr(0, eq)),
                     value ? *value : std::string(eq == std::string_view::npos ? "" : part.substr(eq + 1)));
  }
  return out;
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

bool Request::accepts_encoding(std::string_view coding) const {
  auto value = header("Accept-Encoding");
  if (!value) return false;
  auto trim = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    return t;
  };
  // "gzip;q=0" (any zeros after the point) refuses it; other weights accept.
  auto weighted = [&](std::string_view params) {
    params = trim(params);
    if (params.size() < 2 || (params[0] != 'q' && params[0] != 'Q') || params[1] != '=') return true;
    return params.substr(2).find_first_not_of("0.") != std::string_view::npos;
  };
  bool any = false;  // what "*" says, if the coding is not named
  std::string_view rest = *value;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t semi = item.find(';');
    const std::string_view name = trim(item.substr(0, semi));
    const std::string_view params = semi == std::string_view::npos ? std::string_view() : item.substr(semi + 1);
    if (iequals(name, coding)) return weighted(params);
    if (name == "*") any = weighted(params);
  }
  return any;
}

Response error_response(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  boost::json::object body;
  body["error_code"] = status;
  body["message"] = message;
  r.body = json::write(body) + "\n";
  return r;
}

void Routes::add(std::string method, std::string path, Handler handler) {
  add_async(std::move(method), std::move(path),
            [h = std::move(handler)](const Request& request, Reply reply) { reply(h(request)); });
}

void Routes::add_async(std::string method, std::string path, AsyncHandler handler) {
  Route r;
  r.method = std::move(method);
  if (path.size() >= 2 && path.compare(path.size() - 2, 2, "/*") == 0) {
    r.prefix = true;
    path.pop_back();  // keep the '/'
  } else {
    r.segments = split_path(path);
  }
  r.path = std::move(path);
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

void Routes::add_background(std::string method, std::string path, Handler handler,
                            std::function<void(const Request&)> prepare) {
  add_async(std::move(method), std::move(path), {});
  routes_.back().background = std::move(handler);
  routes_.back().prepare = std::move(prepare);
}

void Routes::dispatch(Request& request, Reply reply, const Defer& defer) const {
  std::string allow;
  const std::vector<std::string> segments = split_path(request.path);
  for (const Route& r : routes_) {
    std::vector<std::pair<std::string, std::string>> params;
    bool match = true;
    if (r.prefix) {
      match = request.path.compare(0, r.path.size(), r.path) == 0;
    } else if (r.segments.size() != segments.size()) {
      match = false;
    } else {
      for (size_t i = 0; i < segments.size() && match; ++i) {
        if (is_param(r.segments[i])) {
          auto value = url_decode(segments[i]);
          if (segments[i].empty() || !value) match = false;
          else params.emplace_back(r.segments[i].substr(1, r.segments[i].size() - 2), std::move(*value));
        } else {
          match = r.segments[i] == segments[i];
        }
      }
    }
    if (!match) continue;
    if (r.method == request.method) {
      request.params = std::move(params);
      if (!r.background) return r.handler(request, std::move(reply));
      if (r.prepare) r.prepare(request);
      if (!defer) return reply(r.background(request));
      // The reply keeps the request alive (see dispatch's contract); a
      // throw on the background thread is answered there, as here.
      return defer([&request, handler = r.background, reply = std::move(reply)] {
        try {
          reply(handler(request));
        } catch (const std::exception& e) {
          keel::logger("http")->error("HTTP {} {} failed: {}", request.method, request.path, e.what());
          reply(error_response(500, "internal error"));
        }
      });
    }
    if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (allow.empty()) return reply(error_response(404, "no such resource: " + request.path));
  Response res = error_response(405, request.method + " is not allowed on " + request.path);
  res.headers.emplace_back("Allow", allow);
  reply(std::move(res));
}

Response Routes::dispatch(Request& request) const {
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Response> response;
  };
  auto slot = std::make_shared<Slot>();
  dispatch(request, [slot](Response r) {
    std::lock_guard lock(slot->mu);
    if (!slot->response) slot->response = std::move(r);
    slot->cv.notify_all();
  });
  std::unique_lock lock(slot->mu);
  slot->cv.wait(lock, [&] { return slot->response.has_value(); });
  return std::move(*slot->response);
}

std::vector<std::pair<std::string, std::string>> Routes::list() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : routes_) out.emplace_back(r.method, r.prefix ? r.path + "*" : r.path);
  return out;
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

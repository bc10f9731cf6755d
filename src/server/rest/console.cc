// Serves the web console's files (console.h). Each file's gzip form and ETag
// are computed once, on first use, and kept for the life of the process.
#include "server/rest/console.h"

#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include "common/crc32c.h"
#include "protocol/compression.h"

namespace keel::server::rest {
namespace {

std::string_view content_type(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

struct Prepared {
  std::string body;
  std::string gzipped;  // empty: not worth it (or gzip failed)
  std::string etag;
  std::string_view type;
};

const std::map<std::string, Prepared, std::less<>>& prepared() {
  static const auto files = [] {
    std::map<std::string, Prepared, std::less<>> out;
    for (const ConsoleAsset& a : console_assets()) {
      Prepared p;
      p.body.assign(reinterpret_cast<const char*>(a.data), a.size);
      p.type = content_type(a.name);
      const ByteView bytes(a.data, a.size);
      char tag[32];
      std::snprintf(tag, sizeof tag, "\"%08x-%zx\"", crc32c(bytes), a.size);
      p.etag = tag;
      if (a.size > 512 && p.type.substr(0, 5) != "image") {
        if (auto z = protocol::compress(protocol::Compression::kGzip, bytes); z && z->size() < a.size) {
          p.gzipped.assign(reinterpret_cast<const char*>(z->data()), z->size());
        }
      }
      out.emplace(std::string(a.name), std::move(p));
    }
    return out;
  }();
  return files;
}

http::Response redirect(std::string location) {
  http::Response r;
  r.status = 302;
  r.headers.emplace_back("Location", std::move(location));
  r.body = "see /console/\n";
  return r;
}

http::Response serve(const http::Request& req) {
  constexpr std::string_view kPrefix = "/console/";
  std::string_view name = std::string_view(req.path).substr(kPrefix.size());
  // Paths the single-page app handles itself (#/topics/x) never reach here;
  // an unknown file is a 404, and "" is the page.
  if (name.empty()) name = "index.html";
  const auto& files = prepared();
  auto it = files.find(name);
  if (it == files.end()) return http::error_response(404, "no console file " + std::string(name));
  const Prepared& p = it->second;
  http::Response r;
  r.headers.emplace_back("ETag", p.etag);
  // Revalidate each time: the ETag makes that a 304 without a body.
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (name == "index.html") {
    // The page loads nothing from elsewhere; keep it that way.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'");
  }
  if (auto inm = req.header("If-None-Match"); inm && *inm == p.etag) {
    r.status = 304;
    r.content_type = std::string(p.type);
    return r;
  }
  r.content_type = std::string(p.type);
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (!p.gzipped.empty() && req.accepts_encoding("gzip")) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body = p.gzipped;
  } else {
    r.body = p.body;
  }
  return r;
}

}  // namespace

void add_console_assets(http::Routes& routes) {
  routes.add("GET", "/", [](const http::Request&) { return redirect("/console/"); });
  routes.add("GET", "/console", [](const http::Request&) { return redirect("/console/"); });
  routes.add("GET", "/console/*", serve);
}

}  // namespace keel::server::rest

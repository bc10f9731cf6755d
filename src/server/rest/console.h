#pragma once
// The web console (docs/console.md): its HTML, CSS and JavaScript, built into
// the binary from web/console/ (console_embed.cmake writes console_assets.cc),
// served at /console/ by the broker's HTTP listener; "/" and "/console"
// redirect there. The console itself calls the REST API from the browser as
// the logged-in user; serving these files needs no authentication.

#include <cstddef>
#include <span>
#include <string_view>

#include "http/server.h"

namespace keel::server::rest {

struct ConsoleAsset {
  std::string_view name;  // "index.html", "js/app.js"
  const unsigned char* data;
  size_t size;
};
// Every file of web/console/ (generated at build time).
std::span<const ConsoleAsset> console_assets();

// GET /, /console, /console/ and /console/<file>: the files with their
// Content-Type, an ETag (304 on If-None-Match), Cache-Control: no-cache, and
// gzip when the client accepts it.
void add_console_assets(http::Routes& routes);

}  // namespace keel::server::rest

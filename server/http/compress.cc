#include "server/http/compress.h"

#include <zlib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace ablate::http {

bool AcceptsGzip(std::string_view accept_encoding) {
  const absl::string_view text(accept_encoding.data(), accept_encoding.size());
  for (absl::string_view coding : absl::StrSplit(text, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(coding, ';');
    const absl::string_view name = absl::StripAsciiWhitespace(parts[0]);
    if (!absl::EqualsIgnoreCase(name, "gzip") && name != "*") continue;
    double q = 1;
    for (size_t i = 1; i < parts.size(); ++i) {
      absl::string_view param = absl::StripAsciiWhitespace(parts[i]);
      if (absl::ConsumePrefix(&param, "q=") && !absl::SimpleAtod(param, &q)) q = 0;
    }
    if (q > 0) return true;
  }
  return false;
}

bool Compressible(std::string_view content_type) {
  return content_type.starts_with("text/") || content_type.starts_with("application/json") ||
         content_type.starts_with("application/javascript") ||
         content_type.starts_with("image/svg+xml");
}

std::string Gzip(std::string_view data, int level) {
  z_stream z{};
  // 15 + 16: the largest window, with a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return "";
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  // deflateBound leaves room for everything, so one call finishes.
  const int result = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return result == Z_STREAM_END ? out : "";
}

std::string GzipETag(std::string_view etag) {
  if (etag.size() < 2 || etag.back() != '"') return std::string(etag);
  std::string tagged(etag.substr(0, etag.size() - 1));
  tagged += "-gzip\"";
  return tagged;
}

bool WillGzip(const Request& request, const Response& response) {
  return Compressible(response.content_type) && response.Header("Content-Encoding").empty() &&
         !response.body.empty() && AcceptsGzip(request.Header("Accept-Encoding"));
}

void CompressFor(const Request& request, Response& response) {
  if (!Compressible(response.content_type) || !response.Header("Content-Encoding").empty()) {
    return;
  }
  response.SetHeader("Vary", "Accept-Encoding");
  if (!WillGzip(request, response)) return;
  std::string compressed = Gzip(response.body);
  if (compressed.empty()) return;  // zlib failed: the body goes as it is
  response.body = std::move(compressed);
  response.SetHeader("Content-Encoding", "gzip");
  if (const std::string etag = response.Header("ETag"); !etag.empty()) {
    response.SetHeader("ETag", GzipETag(etag));
  }
}

}  // namespace ablate::http

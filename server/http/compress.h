// gzip for responses: what the client accepts, what is worth compressing, and the compression.
#ifndef ABLATE_SERVER_HTTP_COMPRESS_H_
#define ABLATE_SERVER_HTTP_COMPRESS_H_

#include <string>
#include <string_view>

#include "server/http/message.h"

namespace ablate::http {

// True when an Accept-Encoding value allows gzip (listed, or "*", with a q-value above 0).
bool AcceptsGzip(std::string_view accept_encoding);

// Text types (JSON, HTML, JavaScript, CSS, SVG, plain text) shrink several times under gzip;
// images and archives are compressed already.
bool Compressible(std::string_view content_type);

// `data` in the gzip format (RFC 1952) at zlib's `level` (1-9).
std::string Gzip(std::string_view data, int level = 6);

// The entity tag of the gzip form of a body tagged `etag`: "-gzip" added inside the quotes
// (a W/ prefix kept). A strong ETag names one representation's bytes (RFC 9110, 8.8.3), and
// the gzip form is other bytes than the body it packs.
std::string GzipETag(std::string_view etag);

// Whether CompressFor will compress `response` for `request`: the request accepts gzip, the
// type is Compressible, the body is not empty and not encoded already.
bool WillGzip(const Request& request, const Response& response);

// Compresses `response`'s body in place when WillGzip, setting Content-Encoding and giving an
// ETag its GzipETag; adds Vary: Accept-Encoding to every Compressible response (caches must
// keep the two forms apart). Does nothing to a response already encoded.
void CompressFor(const Request& request, Response& response);

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_COMPRESS_H_

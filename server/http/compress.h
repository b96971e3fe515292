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

// Compresses `response`'s body in place, setting Content-Encoding, when the request accepts
// gzip and the type is Compressible; adds Vary: Accept-Encoding to every Compressible response
// (caches must keep the two forms apart). Does nothing to a response already encoded.
void CompressFor(const Request& request, Response& response);

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_COMPRESS_H_

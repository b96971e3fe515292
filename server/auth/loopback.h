// Whether an address to listen on is reachable only from this machine.
#ifndef ABLATE_SERVER_AUTH_LOOPBACK_H_
#define ABLATE_SERVER_AUTH_LOOPBACK_H_

#include <string>

namespace ablate::auth {

// True for a loopback host: "localhost", 127.0.0.0/8 in dotted quads, "::1" (bracketed or
// not), and gRPC's "unix:" socket addresses. Anything else, including "0.0.0.0", "::" and
// host names, may be reachable from other machines.
bool IsLoopbackHost(const std::string& host);

// The host of a "HOST:PORT" address or of an HTTP Host header (a bracketed IPv6 host loses its
// brackets, with or without a port), or the whole address when it has no port, as for
// "unix:/path".
std::string HostOf(const std::string& address);

// True for an IPv4 address in dotted quads or an IPv6 address (without brackets).
bool IsIpLiteral(const std::string& host);

}  // namespace ablate::auth

#endif  // ABLATE_SERVER_AUTH_LOOPBACK_H_

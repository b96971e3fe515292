// `ablate-server admin ...`: setting up classes, users and tokens on the server's host, on the
// database file itself. SQLite's WAL mode lets it run while the server serves, and the server
// sees every change on its next call (it caches nothing about users or tokens).
#ifndef ABLATE_SERVER_ADMIN_H_
#define ABLATE_SERVER_ADMIN_H_

namespace ablate::admin {

// Runs one admin command; argv[0] is "admin". Tokens go to stdout (one "name<TAB>token" line
// per new token), everything else to stderr. Returns the process's exit code.
int Main(int argc, char** argv);

}  // namespace ablate::admin

#endif  // ABLATE_SERVER_ADMIN_H_

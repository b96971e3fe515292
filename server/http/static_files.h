// The web page's files, served from one directory.
#ifndef ABLATE_SERVER_HTTP_STATIC_FILES_H_
#define ABLATE_SERVER_HTTP_STATIC_FILES_H_

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/http/message.h"

namespace ablate::http {

// Thread-safe. Each file is read once and kept, with its gzip form, until it changes on disk
// (its size or time differs): the page's largest script is 145 KB, and compressing it for
// every visitor would cost milliseconds of an I/O thread each time.
class StaticFiles {
 public:
  // `root` must be a directory; `headers` go on every file served.
  StaticFiles(std::filesystem::path root, Headers headers);

  // The file that a GET of `request.path` names ("/" and directories: their index.html), with
  // its Content-Type, an ETag, and gzip when the request allows it; 304 when If-None-Match
  // matches the ETag (MatchesIfNoneMatch). nullopt when there is no such file (or the path
  // leaves the directory).
  std::optional<Response> Serve(const Request& request);

  // True when `path` names a file Serve would serve (for a 405's Allow on other methods).
  bool Has(const std::string& path) const;

 private:
  // The file a request's (decoded) path names, whether or not it exists; nullopt when the path
  // would leave the directory or names a hidden file.
  std::optional<std::filesystem::path> Resolve(const std::string& path) const;
  struct File {
    std::filesystem::file_time_type time;
    uintmax_t size = 0;
    std::string content_type;
    std::string etag;
    std::string data;
    std::string gzip;  // empty when not Compressible
  };
  std::shared_ptr<const File> Load(const std::filesystem::path& path);

  const std::filesystem::path root_;
  const Headers headers_;
  absl::Mutex mutex_;
  std::map<std::string, std::shared_ptr<const File>> files_ ABSL_GUARDED_BY(mutex_);
};

// The Content-Type for a file name's extension.
std::string ContentTypeFor(const std::filesystem::path& path);

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_STATIC_FILES_H_

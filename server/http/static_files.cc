#include "server/http/static_files.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/http/compress.h"

namespace ablate::http {

namespace fs = std::filesystem;

std::string ContentTypeFor(const fs::path& path) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html"},        {".js", "text/javascript"},
      {".mjs", "text/javascript"},   {".css", "text/css"},
      {".json", "application/json"}, {".map", "application/json"},
      {".svg", "image/svg+xml"},     {".png", "image/png"},
      {".ico", "image/x-icon"},      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},      {".md", "text/markdown; charset=utf-8"}};
  const auto type = kTypes.find(absl::AsciiStrToLower(path.extension().string()));
  return type == kTypes.end() ? "application/octet-stream" : type->second;
}

StaticFiles::StaticFiles(fs::path root, Headers headers)
    : root_(std::move(root)), headers_(std::move(headers)) {}

std::shared_ptr<const StaticFiles::File> StaticFiles::Load(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return nullptr;
  const auto time = fs::last_write_time(path, error);
  const uintmax_t size = fs::file_size(path, error);
  if (error) return nullptr;
  {
    absl::MutexLock lock(&mutex_);
    auto cached = files_.find(path.string());
    if (cached != files_.end() && cached->second->time == time && cached->second->size == size) {
      return cached->second;
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return nullptr;
  std::stringstream text;
  text << in.rdbuf();
  auto file = std::make_shared<File>();
  file->time = time;
  file->size = size;
  file->content_type = ContentTypeFor(path);
  file->data = text.str();
  file->etag =
      absl::StrCat("\"", absl::Hex(size), "-",
                   absl::Hex(static_cast<uint64_t>(time.time_since_epoch().count())), "\"");
  if (Compressible(file->content_type)) file->gzip = Gzip(file->data, 9);
  absl::MutexLock lock(&mutex_);
  files_[path.string()] = file;
  return file;
}

std::optional<fs::path> StaticFiles::Resolve(const std::string& request_path) const {
  fs::path path = root_;
  for (const absl::string_view part : absl::StrSplit(request_path, '/', absl::SkipEmpty())) {
    // No way out of the directory, and no hidden files.
    if (part.empty() || part[0] == '.' || part.find('\\') != absl::string_view::npos ||
        part.find('\0') != absl::string_view::npos) {
      return std::nullopt;
    }
    path /= std::string(part);
  }
  std::error_code error;
  if (fs::is_directory(path, error)) path /= "index.html";
  return path;
}

bool StaticFiles::Has(const std::string& path) const {
  const std::optional<fs::path> file = Resolve(path);
  std::error_code error;
  return file.has_value() && fs::is_regular_file(*file, error);
}

std::optional<Response> StaticFiles::Serve(const Request& request) {
  const std::optional<fs::path> path = Resolve(request.path);
  if (!path.has_value()) return std::nullopt;
  std::shared_ptr<const File> file = Load(*path);
  if (file == nullptr) return std::nullopt;

  Response response;
  response.headers = headers_;
  const bool gzip = !file->gzip.empty() && AcceptsGzip(request.Header("Accept-Encoding"));
  // The gzip form is other bytes, so it has an ETag of its own (GzipETag).
  const std::string etag = gzip ? GzipETag(file->etag) : file->etag;
  response.SetHeader("ETag", etag);
  if (!file->gzip.empty()) response.SetHeader("Vary", "Accept-Encoding");
  if (MatchesIfNoneMatch(request, etag)) {
    response.status = 304;
    return response;
  }
  response.content_type = file->content_type;
  if (gzip) {
    response.SetHeader("Content-Encoding", "gzip");
    response.body = file->gzip;
    return response;
  }
  response.body = file->data;
  return response;
}

}  // namespace ablate::http

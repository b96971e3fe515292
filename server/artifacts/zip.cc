#include "server/artifacts/zip.h"

#include <sys/stat.h>
#include <zip.h>

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ablate::artifacts {
namespace {

absl::Status ZipError(const std::string& what, zip_error_t* error) {
  return absl::InternalError(
      absl::StrCat("cannot build bundle.zip: ", what, ": ", zip_error_strerror(error)));
}

}  // namespace

absl::StatusOr<std::string> MakeZip(const std::string& folder, const std::vector<ZipEntry>& entries,
                                    absl::Time modified) {
  zip_error_t error;
  zip_error_init(&error);
  // The archive is written into a growable in-memory source; kept alive past zip_close so its
  // bytes can be read back.
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (buffer == nullptr) return ZipError("no memory buffer", &error);
  std::unique_ptr<zip_source_t, decltype(&zip_source_free)> buffer_owner(buffer, zip_source_free);
  zip_t* archive = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  if (archive == nullptr) {
    absl::Status status = ZipError("cannot open the archive", &error);
    zip_error_fini(&error);
    return status;
  }
  zip_source_keep(buffer);  // zip_close would free it otherwise

  const time_t mtime = absl::ToTimeT(modified);
  for (const ZipEntry& entry : entries) {
    // Borrows entry.data (freep = 0), which outlives zip_close below.
    zip_source_t* source = zip_source_buffer(archive, entry.data.data(), entry.data.size(), 0);
    const std::string path = folder.empty() ? entry.name : absl::StrCat(folder, "/", entry.name);
    const zip_int64_t index =
        source == nullptr ? -1 : zip_file_add(archive, path.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      if (source != nullptr) zip_source_free(source);
      absl::Status status =
          ZipError(absl::StrCat("cannot add ", entry.name), zip_get_error(archive));
      zip_discard(archive);
      return status;
    }
    // Figures are compressed already. The rest at zlib's default level, not its highest: on a
    // 16-run sweep's 10 MB losses.json, level 9 took 731 ms of the job's end for a file 3 %
    // smaller than level 6's, which took 187 ms.
    const bool stored = absl::EndsWith(entry.name, ".png") || absl::EndsWith(entry.name, ".zip");
    zip_set_file_compression(archive, static_cast<zip_uint64_t>(index),
                             stored ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 6);
    zip_file_set_mtime(archive, static_cast<zip_uint64_t>(index), mtime, 0);
    // Read-only for others once unzipped (libzip's default, 0666, left them writable by all).
    zip_file_set_external_attributes(archive, static_cast<zip_uint64_t>(index), 0, ZIP_OPSYS_UNIX,
                                     static_cast<zip_uint32_t>(S_IFREG | 0644) << 16);
  }
  if (zip_close(archive) != 0) {
    absl::Status status = ZipError("cannot write the archive", zip_get_error(archive));
    zip_discard(archive);
    return status;
  }

  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_source_stat(buffer, &stat) != 0 || zip_source_open(buffer) != 0) {
    return ZipError("cannot read the archive back", zip_source_error(buffer));
  }
  std::string bytes(static_cast<size_t>(stat.size), '\0');
  const zip_int64_t read = zip_source_read(buffer, bytes.data(), stat.size);
  zip_source_close(buffer);
  if (read != static_cast<zip_int64_t>(stat.size)) {
    return ZipError("short read of the archive", zip_source_error(buffer));
  }
  return bytes;
}

}  // namespace ablate::artifacts

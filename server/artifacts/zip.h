// bundle.zip: a job's files in one archive, for the web page's single download.
#ifndef ABLATE_SERVER_ARTIFACTS_ZIP_H_
#define ABLATE_SERVER_ARTIFACTS_ZIP_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ablate::artifacts {

struct ZipEntry {
  std::string name;       // a plain file name, "losses.json"
  std::string_view data;  // borrowed: the files are already in memory, some of them large
};

// A zip archive (built in memory with libzip) holding every entry as `folder`/name, in order,
// each stamped with `modified` (so the same files give the same bytes). PNGs are stored as they
// are (already compressed); the rest deflated. Internal when libzip fails.
absl::StatusOr<std::string> MakeZip(const std::string& folder, const std::vector<ZipEntry>& entries,
                                    absl::Time modified);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_ZIP_H_

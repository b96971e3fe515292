#include "server/artifacts/build_info.h"

#include <zip.h>

#include <Eigen/Core>

#include "absl/strings/str_cat.h"
#include "core/blas.h"
#include "google/protobuf/stubs/common.h"
#include "openssl/opensslv.h"
#include "plplot/plplot.h"
#include "server/artifacts/build_config.h"

namespace ablate::artifacts {
namespace {

constexpr char kGitCommit[] =
#include "server/artifacts/git_commit.inc"
    ;

}  // namespace

BuildInfo ThisBuild() {
  BuildInfo build;
  build.version = ABLATE_BUILD_VERSION;
  build.git_commit = kGitCommit;
  build.compiler = ABLATE_BUILD_COMPILER;
  build.flags = ABLATE_BUILD_CXX_FLAGS;
  build.build_type = ABLATE_BUILD_TYPE;
  build.eigen_version =
      absl::StrCat(EIGEN_WORLD_VERSION, ".", EIGEN_MAJOR_VERSION, ".", EIGEN_MINOR_VERSION);
  build.matrix_products = core::BlasDescription();
  char plplot_version[80] = {};
  plgver(plplot_version);
  build.libraries =
      absl::StrCat("PLplot ", plplot_version, ", libzip ", zip_libzip_version(), ", protobuf ",
                   google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION), ", ",
                   OPENSSL_VERSION_TEXT);
  return build;
}

}  // namespace ablate::artifacts

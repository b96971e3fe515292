// Tests of server/artifacts/zip.h and of bundle.zip: the archive opens with libzip and holds
// every file with the same bytes.
#include "server/artifacts/zip.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <map>

#include "server/artifacts/artifacts.h"
#include "tests/server/artifacts/test_jobs.h"

namespace ablate::artifacts {
namespace {

struct Entry {
  std::string data;
  zip_int32_t compression = 0;
  time_t mtime = 0;
};

// The archive's entries by path, read with libzip; nothing when it does not open.
std::optional<std::map<std::string, Entry>> ReadZip(const std::string& bytes) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (source == nullptr) return std::nullopt;
  zip_t* archive = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (archive == nullptr) {
    zip_source_free(source);
    return std::nullopt;
  }
  std::map<std::string, Entry> entries;
  for (zip_int64_t i = 0; i < zip_get_num_entries(archive, 0); ++i) {
    zip_stat_t stat;
    zip_stat_index(archive, static_cast<zip_uint64_t>(i), 0, &stat);
    Entry entry;
    entry.compression = stat.comp_method;
    entry.mtime = stat.mtime;
    entry.data.resize(stat.size);
    zip_file_t* file = zip_fopen_index(archive, static_cast<zip_uint64_t>(i), 0);
    if (file == nullptr) return std::nullopt;
    const zip_int64_t read = zip_fread(file, entry.data.data(), stat.size);
    zip_fclose(file);
    if (read != static_cast<zip_int64_t>(stat.size)) return std::nullopt;
    entries[stat.name] = std::move(entry);
  }
  zip_close(archive);  // also frees the source
  return entries;
}

TEST(ZipTest, HoldsEveryEntryUnderTheFolderWithTheSameBytes) {
  std::string binary(5000, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 131 % 251);
  const std::vector<ZipEntry> entries = {
      {"a.json", "{\"x\": 1}\n"}, {"b.png", binary}, {"empty.md", ""}};
  const absl::Time when = absl::FromUnixSeconds(1714564800);
  const absl::StatusOr<std::string> zip = MakeZip("job-3", entries, when);
  ASSERT_TRUE(zip.ok()) << zip.status();
  const auto read = ReadZip(*zip);
  ASSERT_TRUE(read.has_value()) << "libzip cannot open it";
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ(read->at("job-3/a.json").data, entries[0].data);
  EXPECT_EQ(read->at("job-3/b.png").data, binary);
  EXPECT_EQ(read->at("job-3/empty.md").data, "");
  EXPECT_EQ(read->at("job-3/b.png").compression, ZIP_CM_STORE);  // already compressed
  EXPECT_EQ(read->at("job-3/a.json").compression, ZIP_CM_DEFLATE);
  // DOS times have two-second resolution, in local time: within a day of the stamp.
  EXPECT_LT(std::abs(static_cast<double>(read->at("job-3/a.json").mtime - absl::ToTimeT(when))),
            86400);
  // The same files at the same time give the same archive.
  EXPECT_EQ(*MakeZip("job-3", entries, when), *zip);
}

TEST(ZipTest, BundleHoldsEveryOtherFile) {
  const absl::StatusOr<std::vector<store::Artifact>> files =
      RenderJobArtifacts(testing::LabLikeJob(12), ThisBuild(), HostInfo{}, absl::Now());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->back().name, "bundle.zip");
  EXPECT_EQ(files->back().content_type, "application/zip");
  const auto read = ReadZip(files->back().data);
  ASSERT_TRUE(read.has_value()) << "libzip cannot open bundle.zip";
  EXPECT_EQ(read->size(), files->size() - 1);
  for (size_t i = 0; i + 1 < files->size(); ++i) {
    const store::Artifact& f = (*files)[i];
    const auto it = read->find("ablate-job-12/" + f.name);
    ASSERT_NE(it, read->end()) << f.name;
    EXPECT_TRUE(it->second.data == f.data) << f.name;
  }
}

}  // namespace
}  // namespace ablate::artifacts

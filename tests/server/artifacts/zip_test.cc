// Tests of server/artifacts/zip.h and of bundle.zip (bundle.h): the archive opens with libzip
// and holds every file with the same bytes; bundle.zip is made from the stored files when it is
// asked for, and a stored one is served as it is.
#include "server/artifacts/zip.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "proto/sha256.h"
#include "server/artifacts/artifacts.h"
#include "server/artifacts/bundle.h"
#include "tests/server/artifacts/fake_store.h"
#include "tests/server/artifacts/test_jobs.h"

namespace ablate::artifacts {
namespace {

struct Entry {
  zip_int64_t index = 0;  // its place in the archive
  std::string data;
  zip_int32_t compression = 0;
  time_t mtime = 0;
  zip_uint8_t opsys = 0;
  zip_uint32_t attributes = 0;  // external: the Unix mode in the high 16 bits
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
    entry.index = i;
    entry.compression = stat.comp_method;
    entry.mtime = stat.mtime;
    zip_file_get_external_attributes(archive, static_cast<zip_uint64_t>(i), 0, &entry.opsys,
                                     &entry.attributes);
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
  // Unzipped, every file is a regular file its owner may write and others only read.
  for (const auto& [path, entry] : *read) {
    EXPECT_EQ(entry.opsys, ZIP_OPSYS_UNIX) << path;
    EXPECT_EQ(entry.attributes >> 16, static_cast<zip_uint32_t>(S_IFREG | 0644)) << path;
  }
  // The same files at the same time give the same archive.
  EXPECT_EQ(*MakeZip("job-3", entries, when), *zip);
}

// `bundle` holds `files` under ablate-job-<job_id>, in their order, with the same bytes.
void ExpectBundleOf(const store::Artifact& bundle, int64_t job_id,
                    const std::vector<store::Artifact>& files) {
  EXPECT_EQ(bundle.name, "bundle.zip");
  EXPECT_EQ(bundle.content_type, "application/zip");
  EXPECT_EQ(bundle.sha256, Sha256Hex(bundle.data));
  const auto read = ReadZip(bundle.data);
  ASSERT_TRUE(read.has_value()) << "libzip cannot open bundle.zip";
  EXPECT_EQ(read->size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const auto it = read->find(absl::StrCat("ablate-job-", job_id, "/", files[i].name));
    ASSERT_NE(it, read->end()) << files[i].name;
    EXPECT_EQ(it->second.index, static_cast<zip_int64_t>(i)) << files[i].name;
    EXPECT_TRUE(it->second.data == files[i].data) << files[i].name;
  }
}

TEST(BundleTest, HoldsEveryFileInItsOrder) {
  const absl::StatusOr<std::vector<store::Artifact>> files =
      RenderJobArtifacts(testing::LabLikeJob(12), ThisBuild(), HostInfo{}, absl::Now());
  ASSERT_TRUE(files.ok()) << files.status();
  const absl::StatusOr<store::Artifact> bundle =
      MakeBundle(12, *files, absl::FromUnixSeconds(1714564800));
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ExpectBundleOf(*bundle, 12, *files);
}

TEST(BundleTest, IsMadeFromTheStoredFilesWhenAskedFor) {
  testing::FakeStore store;
  store.Add(testing::LabLikeJob(7));
  ASSERT_TRUE(BuildJobArtifacts(store, 7, ThisBuild()).ok());
  const std::vector<std::string> names = store.ArtifactNames(7);
  ASSERT_EQ(std::count(names.begin(), names.end(), "bundle.zip"), 0);  // not stored
  std::vector<store::Artifact> stored;
  for (const std::string& name : names) stored.push_back(*store.GetArtifact(7, name));

  BundlingArtifactStore files(store);
  const absl::StatusOr<store::Artifact> bundle = files.GetArtifact(7, "bundle.zip");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ExpectBundleOf(*bundle, 7, stored);
  // The same bytes every time; the size a download reserves is at least theirs.
  EXPECT_EQ(files.GetArtifact(7, "bundle.zip")->data, bundle->data);
  EXPECT_GE(files.ArtifactSize(7, "bundle.zip").value_or(-1),
            static_cast<int64_t>(bundle->data.size()));
  // Stamped with the job's end (DOS times: two-second resolution, in local time).
  const absl::StatusOr<store::JobRecord> job = store.GetJob(7);
  const absl::Time end = job->finished_at.value_or(job->created_at);
  const auto read = ReadZip(bundle->data);
  EXPECT_LT(std::abs(static_cast<double>(read->at("ablate-job-7/README.md").mtime -
                                         absl::ToTimeT(end))),
            86400);
  // Every other file is the store's.
  EXPECT_EQ(files.GetArtifact(7, "README.md")->data, store.GetArtifact(7, "README.md")->data);
  EXPECT_EQ(*files.ArtifactSize(7, "README.md"), *store.ArtifactSize(7, "README.md"));
}

TEST(BundleTest, AStoredBundleIsServedAsItIs) {
  // A job finished by an earlier version stored its bundle.zip.
  testing::FakeStore store;
  store.Add(testing::LabLikeJob(7));
  ASSERT_TRUE(BuildJobArtifacts(store, 7, ThisBuild()).ok());
  ASSERT_TRUE(store.PutArtifact(7, {"bundle.zip", "application/zip", "stored bytes", ""}).ok());
  BundlingArtifactStore files(store);
  EXPECT_EQ(files.GetArtifact(7, "bundle.zip")->data, "stored bytes");
  EXPECT_EQ(*files.ArtifactSize(7, "bundle.zip"), 12);
}

TEST(BundleTest, AJobWithoutFilesHasNoBundle) {
  testing::FakeStore store;
  store.Add(testing::LabLikeJob(7));
  BundlingArtifactStore files(store);
  for (const int64_t job : {7, 8}) {  // no files; no such job
    const absl::StatusOr<store::Artifact> bundle = files.GetArtifact(job, "bundle.zip");
    EXPECT_EQ(bundle.status().code(), absl::StatusCode::kNotFound) << job;
    EXPECT_THAT(bundle.status().message(), ::testing::HasSubstr("bundle.zip")) << job;
    EXPECT_EQ(files.ArtifactSize(job, "bundle.zip").status().code(),
              absl::StatusCode::kNotFound)
        << job;
  }
}

}  // namespace
}  // namespace ablate::artifacts

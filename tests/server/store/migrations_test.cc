// The schema's versioning: what Open does to new, current, older, newer and foreign files, and
// the migration runner on lists of our own (the real list has one entry so far).
#include "server/store/migrations.h"

#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/store.h"
#include "tests/server/store/test_util.h"

namespace ablate::store {
namespace {

using ::ablate::store::testing::ResolvedSpec;
using ::ablate::store::testing::T;
using ::ablate::store::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

// Plain SQL on a file, outside the store.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK) << path;
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error ? error : "");
    sqlite3_free(error);
  }
  int64_t Int(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
    std::string value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(SchemaTest, NewFileGetsTheLatestVersionAndTables) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  ASSERT_TRUE(Store::Open(path).ok());
  EXPECT_EQ(Store::SchemaVersion(), static_cast<int>(Migrations().size()));
  RawDb db(path);
  EXPECT_EQ(db.Int("PRAGMA user_version"), Store::SchemaVersion());
  EXPECT_EQ(db.Int("PRAGMA application_id"), kApplicationId);
  for (const char* table : {"jobs", "runs", "steps", "evals", "artifacts"}) {
    EXPECT_EQ(db.Int(absl::StrCat("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                                  "name = '",
                                  table, "'")),
              1)
        << table;
  }
  EXPECT_EQ(db.Int("SELECT count(*) FROM sqlite_schema WHERE name = 'steps_by_seq'"), 1);
}

TEST(SchemaTest, FileDatabaseIsInWalMode) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  ASSERT_TRUE(Store::Open(path).ok());
  EXPECT_EQ(RawDb(path).Text("PRAGMA journal_mode"), "wal");  // a property of the file
}

TEST(SchemaTest, ReopeningKeepsDataAndVersion) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  int64_t job_id = 0;
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    auto job = wire::CreateJob(**store, ResolvedSpec(), "ada", T(1000));
    ASSERT_TRUE(job.ok()) << job.status();
    job_id = job->id();
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = wire::GetJob(**store, job_id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->owner(), "ada");
  RawDb db(path);
  EXPECT_EQ(db.Int("PRAGMA user_version"), Store::SchemaVersion());
}

TEST(SchemaTest, RefusesAFileFromANewerBuild) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  ASSERT_TRUE(Store::Open(path).ok());
  RawDb(path).Exec(absl::StrCat("PRAGMA user_version = ", Store::SchemaVersion() + 1));
  auto store = Store::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_THAT(store.status().message(),
              HasSubstr(absl::StrCat("schema version ", Store::SchemaVersion() + 1)));
  EXPECT_THAT(store.status().message(), HasSubstr("newer"));
  // Refusing must not have touched it.
  EXPECT_EQ(RawDb(path).Int("PRAGMA user_version"), Store::SchemaVersion() + 1);
}

TEST(SchemaTest, RefusesAnotherApplicationsDatabase) {
  TempDir dir;
  const std::string tables = dir.File("tables.db");
  RawDb(tables).Exec("CREATE TABLE notes (text TEXT)");
  auto store = Store::Open(tables);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("not an Ablate database"));
  EXPECT_THAT(store.status().message(), HasSubstr(tables));

  const std::string other_app = dir.File("other.db");
  RawDb(other_app).Exec("PRAGMA application_id = 1234");
  store = Store::Open(other_app);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("not an Ablate database"));
}

TEST(SchemaTest, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.File("notes.txt");
  std::ofstream(path) << "These are not the tables you are looking for.\n"
                      << std::string(4096, 'x');
  auto store = Store::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_THAT(store.status().message(), HasSubstr("not an Ablate database"));
}

TEST(SchemaTest, ADamagedDatabaseIsCalledDamagedWithTheWayBack) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  ASSERT_TRUE(Store::Open(path).ok());  // made, migrated and closed
  // Cut it after its first pages, as a disk that lost the rest of the file would.
  std::filesystem::resize_file(path, 2 * 4096);
  auto store = Store::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_THAT(store.status().message(), HasSubstr("is damaged"));
  EXPECT_THAT(store.status().message(), HasSubstr("restore the latest backup"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("not an Ablate database")));
}

TEST(SchemaTest, UnopenablePathIsNamed) {
  const std::string path = "/nonexistent-ablate-dir/sub/ablate.db";
  auto store = Store::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_EQ(Store::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

// Version 3 reads the spec from binary protobuf and writes non-finite statistics as null with
// a class. A file written by version 2 (spec and statistics in protobuf's JSON, -0.0 written
// "-0.0", non-finite numbers as strings) keeps every value, bit for bit.
TEST(SchemaTest, Version3KeepsEveryNumberOfAVersion2File) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  {
    auto conn = Connection::Open(path, 1000);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(Migrate(**conn, Migrations().first(2)).ok());
  }
  {
    RawDb db(path);
    ASSERT_EQ(db.Int("PRAGMA user_version"), 2);
    db.Exec(R"sql(INSERT INTO jobs (id, name, owner, state, spec, created_at) VALUES (7, 'old',
        'ada', 'succeeded', '{"name":"old","model":{"depth":3},"training":{"lr":0.30000000000000004,
        "momentum":-0.0},"runs":[{"init":"uniform","uniform_low":-0.0,"uniform_high":1e+30}]}',
        1000))sql");
    db.Exec(R"sql(INSERT INTO runs (id, job_id, idx, init, state, outcome, init_stats,
        final_stats) VALUES (70, 7, 0, 'uniform', 'completed', 'completed',
        '[{"weight_variance":-0.0,"activation_mean":"NaN","activation_std":"Infinity"}]',
        '[{"weight_variance":4.9406564584124654e-324,"activation_mean":"-Infinity",
           "activation_std":0.083333333333333329}]'))sql");
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = wire::GetJob(**store, 7);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->spec().model().depth(), 3);
  EXPECT_EQ(job->spec().training().lr(), 0.1 + 0.2);
  EXPECT_TRUE(std::signbit(job->spec().training().momentum()));
  EXPECT_TRUE(std::signbit(job->spec().runs(0).uniform_low()));
  EXPECT_EQ(job->spec().runs(0).uniform_high(), 1e+30);
  ASSERT_EQ(job->runs_size(), 1);
  const v1::Run& run = job->runs(0);
  ASSERT_EQ(run.init_stats_size(), 1);
  EXPECT_EQ(run.init_stats(0).weight_variance(), 0.0);
  EXPECT_TRUE(std::signbit(run.init_stats(0).weight_variance()));
  EXPECT_TRUE(std::isnan(run.init_stats(0).activation_mean()));
  EXPECT_EQ(run.init_stats(0).activation_std(), std::numeric_limits<double>::infinity());
  ASSERT_EQ(run.final_stats_size(), 1);
  EXPECT_EQ(run.final_stats(0).weight_variance(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(run.final_stats(0).activation_mean(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(run.final_stats(0).activation_std(), 1.0 / 12);
  RawDb db(path);
  EXPECT_EQ(db.Int("PRAGMA user_version"), Store::SchemaVersion());
  EXPECT_EQ(db.Text("SELECT json_extract(init_stats, '$[0].activation_mean_class') FROM runs"),
            "nan");
  EXPECT_EQ(db.Int("SELECT json_type(init_stats, '$[0].activation_mean') = 'null' FROM runs"), 1);
  EXPECT_EQ(db.Int("SELECT json_extract(spec, '$.model.depth') FROM jobs"), 3);  // the view
}

// --- The runner, on lists of its own --------------------------------------------------------

constexpr Migration kV1 = {1, "CREATE TABLE t (a INTEGER NOT NULL); INSERT INTO t VALUES (1);"};
constexpr Migration kV2 = {2, "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'two';"};
constexpr Migration kV3 = {3, "CREATE INDEX t_by_b ON t (b);"};

class MigrateTest : public ::testing::Test {
 protected:
  std::unique_ptr<Connection> Open() {
    auto conn = Connection::Open(path_, 1000);
    EXPECT_TRUE(conn.ok()) << conn.status();
    return std::move(conn).value();
  }
  TempDir dir_;
  const std::string path_ = dir_.File("m.db");
};

TEST_F(MigrateTest, NewFileGetsEveryMigration) {
  auto conn = Open();
  const Migration list[] = {kV1, kV2, kV3};
  ASSERT_TRUE(Migrate(*conn, list).ok());
  EXPECT_EQ(*conn->QueryInt("PRAGMA user_version"), 3);
  EXPECT_EQ(*conn->QueryInt("PRAGMA application_id"), kApplicationId);
  EXPECT_EQ(*conn->QueryInt("SELECT count(*) FROM t WHERE b = 'two'"), 1);
}

TEST_F(MigrateTest, OlderFileGetsOnlyTheNewerMigrations) {
  {
    auto conn = Open();
    const Migration v1_only[] = {kV1};
    ASSERT_TRUE(Migrate(*conn, v1_only).ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO t VALUES (2)").ok());
  }
  auto conn = Open();
  // kV1 again would fail (table t exists), so success shows it was skipped.
  const Migration list[] = {kV1, kV2, kV3};
  ASSERT_TRUE(Migrate(*conn, list).ok());
  EXPECT_EQ(*conn->QueryInt("PRAGMA user_version"), 3);
  EXPECT_EQ(*conn->QueryInt("SELECT count(*) FROM t"), 2);  // data kept
  EXPECT_EQ(*conn->QueryInt("SELECT count(*) FROM t WHERE b = 'two'"), 2);
  EXPECT_EQ(*conn->QueryInt("SELECT count(*) FROM sqlite_schema WHERE name = 't_by_b'"), 1);
  // Running it again changes nothing.
  ASSERT_TRUE(Migrate(*conn, list).ok());
  EXPECT_EQ(*conn->QueryInt("PRAGMA user_version"), 3);
}

TEST_F(MigrateTest, AFailedMigrationLeavesThePreviousVersion) {
  auto conn = Open();
  // Its first statement succeeds, its second fails: the first must be rolled back too.
  constexpr Migration kBadV3 = {3, "CREATE TABLE u (x); INSERT INTO missing VALUES (1);"};
  const Migration list[] = {kV1, kV2, kBadV3};
  absl::Status status = Migrate(*conn, list);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("schema version 3"));
  EXPECT_THAT(status.message(), HasSubstr(path_));
  EXPECT_EQ(*conn->QueryInt("PRAGMA user_version"), 2);
  EXPECT_EQ(*conn->QueryInt("SELECT count(*) FROM sqlite_schema WHERE name = 'u'"), 0);
}

TEST_F(MigrateTest, RefusesAFileNewerThanTheList) {
  auto conn = Open();
  const Migration list[] = {kV1, kV2, kV3};
  ASSERT_TRUE(Migrate(*conn, list).ok());
  const Migration shorter[] = {kV1, kV2};
  absl::Status status = Migrate(*conn, shorter);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("schema version 3, newer than version 2"));
}

TEST_F(MigrateTest, RefusesAMisnumberedList) {
  auto conn = Open();
  const Migration list[] = {kV1, kV3};
  EXPECT_EQ(Migrate(*conn, list).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(*conn->QueryInt("PRAGMA user_version"), 0);
}

}  // namespace
}  // namespace ablate::store

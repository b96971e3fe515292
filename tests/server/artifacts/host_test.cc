// Tests of server/artifacts/host.h on /proc- and /sys-like files of the test's own.
#include "server/artifacts/host.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ablate::artifacts {
namespace {

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("ablate-host-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    paths_.cpuinfo = Write("cpuinfo",
                           "processor\t: 0\nvendor_id\t: GenuineIntel\n"
                           "model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n\n"
                           "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ "
                           "2.10GHz\n\nprocessor\t: 2\n\nprocessor\t: 3\n");
    paths_.meminfo = Write("meminfo", "MemTotal:       16318156 kB\nMemFree:  1 kB\n");
    paths_.governor = (dir_ / "missing").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
  HostPaths paths_;
};

TEST_F(HostTest, ReadsCpuModelCoresAndMemory) {
  const HostInfo host = ReadHostInfo(paths_);
  EXPECT_EQ(host.cpu_model, "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz");
  EXPECT_EQ(host.logical_cpus, 4);
  EXPECT_EQ(host.memory_bytes, int64_t{16318156} * 1024);
}

TEST_F(HostTest, RecordsThatTheGovernorCannotBeReadAndWarns) {
  const HostInfo host = ReadHostInfo(paths_);
  EXPECT_FALSE(host.cpu_governor.has_value());
  EXPECT_NE(host.cpu_governor_error.find("cannot be read"), std::string::npos)
      << host.cpu_governor_error;
  EXPECT_NE(host.cpu_governor_error.find(paths_.governor), std::string::npos);
  EXPECT_NE(GovernorWarning(host).find("unknown"), std::string::npos);
}

TEST_F(HostTest, WarnsUnlessTheGovernorIsPerformance) {
  paths_.governor = Write("scaling_governor", "powersave\n");
  HostInfo host = ReadHostInfo(paths_);
  EXPECT_EQ(host.cpu_governor, "powersave");
  EXPECT_TRUE(host.cpu_governor_error.empty());
  EXPECT_NE(GovernorWarning(host).find("\"powersave\", not \"performance\""), std::string::npos);

  paths_.governor = Write("scaling_governor", "performance\n");
  host = ReadHostInfo(paths_);
  EXPECT_EQ(host.cpu_governor, "performance");
  EXPECT_EQ(GovernorWarning(host), "");
}

TEST_F(HostTest, UnreadableFilesLeaveFieldsUnknown) {
  paths_.cpuinfo = (dir_ / "no-cpuinfo").string();
  paths_.meminfo = (dir_ / "no-meminfo").string();
  const HostInfo host = ReadHostInfo(paths_);
  EXPECT_EQ(host.cpu_model, "unknown");
  EXPECT_FALSE(host.memory_bytes.has_value());
  EXPECT_GT(host.logical_cpus, 0);  // from std::thread::hardware_concurrency
}

}  // namespace
}  // namespace ablate::artifacts

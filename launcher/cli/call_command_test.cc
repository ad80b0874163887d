// `cordon call` end to end with a real sandboxed plugin (launcher/broker/testing): the plugin's
// log lines reach stderr, escaped, one line each with level and fields. Needs root, like CI.
#include "launcher/cli/call_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ipc/unique_fd.h"

namespace cordon::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `cordon call` with fd 2 pointing at `stderr_path`.
int RunWithStderr(const std::vector<std::string>& args, const std::string& stderr_path) {
  std::fflush(stderr);
  ipc::UniqueFd saved(fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
  ipc::UniqueFd file(open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  EXPECT_TRUE(saved.valid() && file.valid());
  dup2(file.get(), STDERR_FILENO);
  int rc = CallCommand::Main(args);
  std::fflush(stderr);
  dup2(saved.get(), STDERR_FILENO);
  return rc;
}

TEST(CallCommandTest, PluginLogsGoToStderrEscapedWithLevelAndFields) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to sandbox the plugin";
  char tmpl[] = "/tmp/cordon-call-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  chmod(root.c_str(), 0755);
  fs::create_directories(root + "/bundle");
  fs::copy_file(BROKER_PROBE_PLUGIN, root + "/bundle/plugin");
  std::ofstream(root + "/bundle/manifest.textproto")
      << "name: \"broker-probe\"\nversion: \"0.1.0\"\nentry: \"plugin\"\n"
      << "protocol { min: 1 max: 1 }\ncapabilities { kind: \"log\" }\n";
  const char* source = getenv("CORDON_SOURCE_DIR");
  std::string profile =
      Slurp(std::string(source ? source : ".") + "/sandbox-profiles/profiles/default.textproto");
  ASSERT_FALSE(profile.empty());
  std::ofstream(root + "/profile.textproto") << profile << "\ncapabilities { log: true }\n";
  // A newline that would forge a second line, a terminal escape, and a C1 CSI.
  std::ofstream(root + "/input.txt") << "first\ncordon call: forged \x1b[31mred\xc2\x9b";

  const std::string err = root + "/stderr.txt";
  int rc = RunWithStderr({"--profile", root + "/profile.textproto", "--input", root + "/input.txt",
                          root + "/bundle", "log"},
                         err);
  std::string text = Slurp(err);
  EXPECT_EQ(rc, 0) << text;
  EXPECT_THAT(text, HasSubstr("cordon call: plugin log: WARNING first\\ncordon call: forged "
                              "\\x1b[31mred\\u{009b} k=\"v\"\n"));
  // Exactly one line came from the plugin, and nothing raw got through.
  EXPECT_THAT(text, Not(HasSubstr("\ncordon call: forged")));
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace cordon::cli

#include "sandbox-profiles/profile_command.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox-profiles/profile_loader.h"

namespace cordon::profiles {
namespace {

using ::testing::HasSubstr;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCmd(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = RunProfileCommand(args, out, err);
  return {code, out.str(), err.str()};
}

std::string WriteTemp(const std::string& text) {
  char tmpl[] = "/tmp/cordon-profile-cmd-XXXXXX.textproto";
  int fd = mkstemps(tmpl, 10);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

TEST(ProfileCommandTest, HelpAndUsage) {
  Result help = RunCmd({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("cordon profile check FILE"));
  EXPECT_THAT(help.out, HasSubstr("CORDON_PROFILE_PATH"));
  EXPECT_EQ(RunCmd({"show", "--help"}).code, 0);
  EXPECT_EQ(RunCmd({}).code, 2);
  EXPECT_EQ(RunCmd({"frobnicate"}).code, 2);
  EXPECT_EQ(RunCmd({"check"}).code, 2);
  EXPECT_EQ(RunCmd({"show", "a", "b"}).code, 2);
}

TEST(ProfileCommandTest, CheckReportsOkOrLocatedErrors) {
  std::string good = WriteTemp("seccomp { groups: 'base' }\n");
  std::string bad = WriteTemp("seccomp { groups: 'base' }\nworkdir: 'relative'\n");
  Result ok = RunCmd({"check", good});
  EXPECT_EQ(ok.code, 0);
  EXPECT_EQ(ok.out, good + ": ok\n");
  Result both = RunCmd({"check", good, bad});
  EXPECT_EQ(both.code, 1);
  EXPECT_THAT(both.out, HasSubstr(good + ": ok"));
  EXPECT_THAT(both.err, HasSubstr(bad + ":2:1: workdir: "));
  Result missing = RunCmd({"check", "/nonexistent/x.textproto"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/x.textproto"));
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST(ProfileCommandTest, ShippedProfilesPassCheck) {
  for (const char* name : {"default", "minimal"}) {
    auto path = ProfileLoader::Resolve(name);
    ASSERT_TRUE(path.ok()) << path.status();
    Result r = RunCmd({"check", *path});
    EXPECT_EQ(r.code, 0) << r.err;
  }
}

TEST(ProfileCommandTest, ShowPrintsEffectiveProfileAllowlistAndRules) {
  Result r = RunCmd({"show", "default"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("name: \"default\""));
  EXPECT_THAT(r.out, HasSubstr("host_uid: 65534"));
  EXPECT_THAT(r.out, HasSubstr("#   group base:"));
  EXPECT_THAT(r.out, HasSubstr("#   group ipc-unix:"));
  EXPECT_THAT(r.out, HasSubstr("clone3: always fails with ENOSYS"));
  EXPECT_THAT(r.out, HasSubstr("TIOCSTI"));
  EXPECT_THAT(r.out, HasSubstr("ptrace"));
  // The output (comments included) is itself a valid profile.
  std::string copy = WriteTemp(r.out);
  EXPECT_EQ(RunCmd({"check", copy}).code, 0);
  std::filesystem::remove(copy);

  Result missing = RunCmd({"show", "no-such-profile"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/etc/cordon/profiles/no-such-profile.textproto"));
}

}  // namespace
}  // namespace cordon::profiles

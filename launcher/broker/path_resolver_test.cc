#include "launcher/broker/path_resolver.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::broker {
namespace {

namespace fs = std::filesystem;

class PathResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cordon-resolver-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    granted_ = root_ + "/granted";
    fs::create_directories(granted_ + "/sub");
    Write(granted_ + "/file.txt", "inside");
    Write(granted_ + "/sub/nested.txt", "nested");
    Write(root_ + "/outside.txt", "outside");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path) << data;
  }
  static std::string ReadFd(int fd) {
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = pread(fd, buf, sizeof(buf), static_cast<off_t>(out.size()))) > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  static std::string ReadFile(const std::string& path) {
    ipc::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return fd.valid() ? ReadFd(fd.get()) : "<unreadable>";
  }
  static std::string FdPath(int fd) {
    char buf[PATH_MAX];
    ssize_t n = readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), buf, sizeof(buf) - 1);
    return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
  }
  PathResolver Resolver(bool follow = false) {
    PathResolver::Options o;
    o.follow_symlinks = follow;
    absl::StatusOr<PathResolver> r = PathResolver::Open(granted_, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return std::move(*r);
  }
  absl::StatusOr<ipc::UniqueFd> Open(const PathResolver& r, const std::string& plugin_path,
                                     OpenIntent intent = {.read = true}) {
    absl::StatusOr<std::vector<std::string>> parts = PathResolver::SplitPluginPath(plugin_path);
    if (!parts.ok()) return parts.status();
    return r.OpenBeneath(*parts, intent);
  }

  std::string root_;
  std::string granted_;
};

TEST_F(PathResolverTest, OpensFilesBeneathTheGrant) {
  PathResolver r = Resolver();
  for (const char* p :
       {"/file.txt", "//file.txt", "/./file.txt", "/sub/nested.txt", "/sub//nested.txt"}) {
    absl::StatusOr<ipc::UniqueFd> fd = Open(r, p);
    ASSERT_TRUE(fd.ok()) << p << ": " << fd.status();
    EXPECT_TRUE(absl::StartsWith(FdPath(fd->get()), granted_ + "/")) << FdPath(fd->get());
    EXPECT_NE(fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(fcntl(fd->get(), F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_EQ(fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
  }
  EXPECT_EQ(ReadFd(Open(r, "/file.txt")->get()), "inside");
}

TEST_F(PathResolverTest, FlagsAllowlist) {
  EXPECT_EQ(*PathResolver::FlagsFor({.read = true}), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  EXPECT_EQ(*PathResolver::FlagsFor({.write = true, .truncate = true}),
            O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  EXPECT_EQ(*PathResolver::FlagsFor({.write = true, .append = true}),
            O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
  EXPECT_EQ(*PathResolver::FlagsFor({.read = true, .write = true, .create = true}),
            O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY);
  EXPECT_FALSE(PathResolver::FlagsFor({}).ok());
  EXPECT_FALSE(PathResolver::FlagsFor({.read = true, .truncate = true}).ok());
  EXPECT_FALSE(PathResolver::FlagsFor({.read = true, .create = true}).ok());
  EXPECT_FALSE(PathResolver::FlagsFor({.write = true, .truncate = true, .append = true}).ok());
}

TEST_F(PathResolverTest, WriteAppendAndCreate) {
  PathResolver r = Resolver();
  {
    absl::StatusOr<ipc::UniqueFd> fd = Open(r, "/new.txt", {.write = true, .create = true});
    ASSERT_TRUE(fd.ok()) << fd.status();
    ASSERT_EQ(write(fd->get(), "abc", 3), 3);
    struct stat st;
    ASSERT_EQ(fstat(fd->get(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  // Create is exclusive.
  EXPECT_TRUE(absl::IsAlreadyExists(Open(r, "/new.txt", {.write = true, .create = true}).status()));
  {
    absl::StatusOr<ipc::UniqueFd> fd = Open(r, "/new.txt", {.write = true, .append = true});
    ASSERT_TRUE(fd.ok());
    ASSERT_EQ(write(fd->get(), "d", 1), 1);
  }
  EXPECT_EQ(ReadFd(Open(r, "/new.txt")->get()), "abcd");
  {
    absl::StatusOr<ipc::UniqueFd> fd = Open(r, "/new.txt", {.write = true, .truncate = true});
    ASSERT_TRUE(fd.ok());
  }
  EXPECT_EQ(ReadFd(Open(r, "/new.txt")->get()), "");
  EXPECT_TRUE(absl::IsNotFound(Open(r, "/missing.txt").status()));
}

TEST_F(PathResolverTest, HostilePathsAreRefused) {
  PathResolver r = Resolver();
  // Every name below that the filesystem can hold exists as a real file, so each refusal is
  // the named check's doing, not ENOENT.
  for (const char* name : {"\xff\xfe.txt", "\xc0\xaf", "\xed\xa0\x80", "bad\x01name"}) {
    Write(granted_ + "/" + name, "x");
  }
  std::string long_path = "/" + std::string(PATH_MAX, 'a');  // PATH_MAX+1 bytes
  const std::pair<std::string, const char*> cases[] = {
      {"/../outside.txt", ".."},
      {"/sub/../../outside.txt", ".."},
      {"/sub/../file.txt", ".."},
      {"/..", ".."},
      {"relative.txt", "not absolute"},
      {"", "not absolute"},
      {long_path, "longer than PATH_MAX"},
      {std::string("/file.txt\0/../x", 15), "NUL byte"},
      {"/\xff\xfe.txt", "not valid UTF-8"},
      {"/\xc0\xaf", "not valid UTF-8"},      // overlong '/'
      {"/\xed\xa0\x80", "not valid UTF-8"},  // a surrogate
      {"/bad\x01name", "control character"},
      {"/" + std::string(NAME_MAX + 1, 'n'), "longer than NAME_MAX"},
  };
  for (const auto& [path, why] : cases) {
    absl::StatusOr<ipc::UniqueFd> fd = Open(r, path);
    ASSERT_FALSE(fd.ok()) << absl::CHexEscape(path.substr(0, 40));
    EXPECT_THAT(std::string(fd.status().message()), ::testing::HasSubstr(why))
        << absl::CHexEscape(path.substr(0, 40));
  }
  // The directory itself and subdirectories are never handed out (a dir fd could openat out).
  EXPECT_TRUE(absl::IsPermissionDenied(Open(r, "/").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(Open(r, "/sub").status()));
  // Valid multi-byte UTF-8 is fine.
  Write(granted_ + "/caf\xc3\xa9.txt", "x");
  EXPECT_TRUE(Open(r, "/caf\xc3\xa9.txt").ok());
}

TEST_F(PathResolverTest, RandomPathsNeverOpenOutside) {
  fs::create_symlink("/", granted_ + "/to_root");
  fs::create_symlink("..", granted_ + "/up");
  PathResolver r = Resolver(/*follow=*/true);
  std::mt19937 rng(7);
  const char* parts[] = {"..",  ".",           "",     "to_root", "up",   "sub",  "file.txt",
                         "etc", "outside.txt", "proc", "self",    "root", "\xff", "nested.txt"};
  int opened = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string p;
    size_t n = rng() % 6;
    for (size_t k = 0; k < n; ++k) absl::StrAppend(&p, "/", parts[rng() % std::size(parts)]);
    absl::StatusOr<ipc::UniqueFd> fd = Open(r, p);
    if (!fd.ok()) continue;
    ++opened;
    ASSERT_TRUE(absl::StartsWith(FdPath(fd->get()), granted_ + "/")) << p;
  }
  EXPECT_GT(opened, 0);
}

TEST_F(PathResolverTest, SymlinksAndMagicLinks) {
  fs::create_symlink("/", granted_ + "/to_root");
  fs::create_symlink(root_ + "/outside.txt", granted_ + "/abs_out");
  fs::create_symlink("../outside.txt", granted_ + "/rel_out");
  fs::create_symlink("/proc/self/root/etc/hostname", granted_ + "/magic");
  fs::create_symlink("file.txt", granted_ + "/rel_in");
  fs::create_symlink("sub", granted_ + "/subdir_link");
  for (bool follow : {false, true}) {
    PathResolver r = Resolver(follow);
    for (const char* p : {"/to_root/etc/hostname", "/abs_out", "/rel_out", "/magic",
                          "/to_root/proc/self/root/etc/hostname"}) {
      absl::StatusOr<ipc::UniqueFd> fd = Open(r, p);
      EXPECT_FALSE(fd.ok()) << p << " follow=" << follow;
      EXPECT_TRUE(absl::IsPermissionDenied(fd.status())) << p << ": " << fd.status();
    }
    // Symlinks that stay inside work only when the grant follows symlinks.
    EXPECT_EQ(Open(r, "/rel_in").ok(), follow);
    EXPECT_EQ(Open(r, "/subdir_link/nested.txt").ok(), follow);
  }
}

TEST_F(PathResolverTest, ProcSelfRootGrantCannotEscape) {
  // Even a grant on a /proc directory refuses magic links.
  PathResolver::Options o;
  o.follow_symlinks = true;
  absl::StatusOr<PathResolver> proc = PathResolver::Open("/proc/self", o);
  ASSERT_TRUE(proc.ok());
  absl::StatusOr<ipc::UniqueFd> fd = proc->OpenBeneath({"root", "etc", "hostname"}, {.read = true});
  EXPECT_FALSE(fd.ok());
  fd = proc->OpenBeneath({"cwd", "x"}, {.read = true});
  EXPECT_FALSE(fd.ok());
}

TEST_F(PathResolverTest, FifosAndDevicesAreNotOpened) {
  ASSERT_EQ(mkfifo((granted_ + "/fifo").c_str(), 0600), 0);
  PathResolver r = Resolver();
  // Would block forever without O_NONBLOCK; must be refused, not hang.
  absl::StatusOr<ipc::UniqueFd> fd = Open(r, "/fifo");
  EXPECT_TRUE(absl::IsPermissionDenied(fd.status())) << fd.status();
  fd = Open(r, "/fifo", {.write = true});
  EXPECT_FALSE(fd.ok());
}

TEST_F(PathResolverTest, SubdirGrantResolvedBeneathItsBound) {
  PathResolver r = Resolver();
  PathResolver::Options o;
  absl::StatusOr<PathResolver> sub = r.OpenSubdir({"sub"}, o);
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ(sub->host_dir(), granted_ + "/sub");
  EXPECT_TRUE(sub->OpenBeneath({"nested.txt"}, {.read = true}).ok());
  fs::create_symlink("/", granted_ + "/escape");
  EXPECT_FALSE(r.OpenSubdir({"escape"}, o).ok());
  EXPECT_FALSE(r.OpenSubdir({"missing"}, o).ok());
}

TEST_F(PathResolverTest, MountCrossingIsRefused) {
  // In a child with its own mount namespace, so nothing leaks into the host's mounts.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0) _exit(10);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(11);
    if (mount("tmpfs", (granted_ + "/sub").c_str(), "tmpfs", 0, "size=64k") != 0) _exit(12);
    Write(granted_ + "/sub/on_tmpfs.txt", "x");
    absl::StatusOr<PathResolver> r = PathResolver::Open(granted_, {});
    if (!r.ok()) _exit(13);
    absl::StatusOr<ipc::UniqueFd> fd = r->OpenBeneath({"sub", "on_tmpfs.txt"}, {.read = true});
    if (fd.ok()) _exit(1);
    if (!absl::IsPermissionDenied(fd.status())) _exit(2);
    // Same-filesystem files still open.
    if (!r->OpenBeneath({"file.txt"}, {.read = true}).ok()) _exit(3);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Prepare() resolves and checks but changes nothing on disk; the create or truncation is
// Finish()'s, so the broker can record the request in between.
TEST_F(PathResolverTest, PrepareChangesNothingFinishDoes) {
  PathResolver r = Resolver();
  Write(granted_ + "/keep.txt", "content");
  absl::StatusOr<PathResolver::PendingOpen> trunc =
      r.Prepare({"keep.txt"}, {.write = true, .truncate = true});
  ASSERT_TRUE(trunc.ok()) << trunc.status();
  EXPECT_STREQ(trunc->EffectName(), "truncate");
  EXPECT_EQ(ReadFile(granted_ + "/keep.txt"), "content");
  ASSERT_TRUE(r.Finish(std::move(*trunc)).ok());
  EXPECT_EQ(ReadFile(granted_ + "/keep.txt"), "");

  absl::StatusOr<PathResolver::PendingOpen> create =
      r.Prepare({"sub", "made.txt"}, {.write = true, .create = true});
  ASSERT_TRUE(create.ok()) << create.status();
  EXPECT_STREQ(create->EffectName(), "create");
  EXPECT_FALSE(fs::exists(granted_ + "/sub/made.txt"));
  absl::StatusOr<ipc::UniqueFd> made = r.Finish(std::move(*create));
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_TRUE(fs::is_regular_file(granted_ + "/sub/made.txt"));
  struct stat st;
  ASSERT_EQ(fstat(made->get(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  absl::StatusOr<PathResolver::PendingOpen> plain = r.Prepare({"keep.txt"}, {.read = true});
  ASSERT_TRUE(plain.ok());
  EXPECT_STREQ(plain->EffectName(), "");
  // Taken names are refused when decided: files, dangling symlinks, directories.
  fs::create_symlink(root_ + "/nowhere", granted_ + "/dangling");
  for (const char* name : {"keep.txt", "dangling", "sub"}) {
    absl::Status s = r.Prepare({name}, {.write = true, .create = true}).status();
    EXPECT_TRUE(absl::IsAlreadyExists(s)) << name << ": " << s;
  }
  EXPECT_FALSE(fs::exists(root_ + "/nowhere"));
  // A create whose directory is reached through a symlink out of the grant is refused, and
  // so is one through any symlink when the grant does not follow them.
  fs::create_symlink(root_, granted_ + "/out_link");
  absl::Status out = r.Prepare({"out_link", "x.txt"}, {.write = true, .create = true}).status();
  EXPECT_TRUE(absl::IsPermissionDenied(out)) << out;
  PathResolver following = Resolver(/*follow_symlinks=*/true);
  out = following.Prepare({"out_link", "x.txt"}, {.write = true, .create = true}).status();
  EXPECT_TRUE(absl::IsPermissionDenied(out)) << out;
  EXPECT_FALSE(fs::exists(root_ + "/x.txt"));
}

// Whoever can rename directories on the grant's filesystem swaps the directory a create was
// checked in for one outside the grant, or a symlink out, between Prepare() and Finish() (in the
// broker: while the record is written and synced). The create must be contained at the moment
// it happens: it walks the whole path again beneath the grant and never writes through the
// directory it checked, wherever that has gone since.
TEST_F(PathResolverTest, CreateIsContainedWhenItsDirectoryIsSwappedAfterPrepare) {
  const std::string inside = granted_ + "/sub";
  const std::string other = root_ + "/other";
  fs::create_directories(other + "/sub");
  fs::create_symlink(other, root_ + "/link_out");
  auto exchange = [](const std::string& a, const std::string& b) {
    return syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE);
  };
  for (bool follow : {false, true}) {
    SCOPED_TRACE(follow ? "follow" : "nofollow");
    PathResolver r = Resolver(follow);
    // Fresh names each round: the files of the previous one stay.
    auto name = [&](const char* base) { return absl::StrCat(follow ? "f-" : "n-", base); };
    // 1. The checked directory and an outside one trade places: the file goes into the one
    // inside the grant at the create, never into the checked one, which is outside now.
    absl::StatusOr<PathResolver::PendingOpen> p =
        r.Prepare({"sub", name("x.txt")}, {.write = true, .create = true});
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(exchange(inside, other + "/sub"), 0);
    std::string drift;
    absl::StatusOr<ipc::UniqueFd> fd = r.Finish(std::move(*p), &drift);
    ASSERT_TRUE(fd.ok()) << fd.status();
    EXPECT_FALSE(fs::exists(other + "/sub/" + name("x.txt"))) << "created outside the grant";
    EXPECT_TRUE(fs::is_regular_file(inside + "/" + name("x.txt")));
    EXPECT_TRUE(absl::StartsWith(FdPath(fd->get()), granted_ + "/")) << FdPath(fd->get());
    // The caller learns that the directory is not the one checked (the broker records it).
    EXPECT_THAT(drift, ::testing::HasSubstr("replaced"));
    ASSERT_EQ(exchange(inside, other + "/sub"), 0);
    // No swap, no drift.
    p = r.Prepare({"sub", name("y.txt")}, {.write = true, .create = true});
    ASSERT_TRUE(p.ok()) << p.status();
    drift = "unset";
    ASSERT_TRUE(r.Finish(std::move(*p), &drift).ok());
    EXPECT_EQ(drift, "");

    // 2. The checked directory trades places with a symlink out: refused at the create.
    p = r.Prepare({"sub", name("z.txt")}, {.write = true, .create = true});
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(exchange(inside, root_ + "/link_out"), 0);
    fd = r.Finish(std::move(*p));
    EXPECT_TRUE(absl::IsPermissionDenied(fd.status())) << fd.status();
    EXPECT_FALSE(fs::exists(root_ + "/link_out/" + name("z.txt")))
        << "created in the moved-out directory";
    EXPECT_FALSE(fs::exists(other + "/" + name("z.txt"))) << "created through the symlink";
    ASSERT_EQ(exchange(inside, root_ + "/link_out"), 0);

    // 3. The checked directory is moved out and nothing takes its place.
    p = r.Prepare({"sub", name("w.txt")}, {.write = true, .create = true});
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(rename(inside.c_str(), (root_ + "/moved").c_str()), 0);
    fd = r.Finish(std::move(*p));
    EXPECT_TRUE(absl::IsNotFound(fd.status())) << fd.status();
    EXPECT_FALSE(fs::exists(root_ + "/moved/" + name("w.txt")))
        << "created in the moved-out directory";
    ASSERT_EQ(rename((root_ + "/moved").c_str(), inside.c_str()), 0);
  }
}

// A truncation applies to the very file opened beneath the grant when it was decided, never to
// whatever the path names by then: the inode opened is the inode truncated and handed out.
TEST_F(PathResolverTest, TruncationAppliesToTheFilePreparedNotThePathAgain) {
  Write(granted_ + "/t.txt", "decided");
  Write(root_ + "/t.txt", "outsider");
  PathResolver r = Resolver();
  absl::StatusOr<PathResolver::PendingOpen> p =
      r.Prepare({"t.txt"}, {.write = true, .truncate = true});
  ASSERT_TRUE(p.ok()) << p.status();
  struct stat decided;
  ASSERT_EQ(fstat(p->fd.get(), &decided), 0);
  ASSERT_EQ(syscall(SYS_renameat2, AT_FDCWD, (granted_ + "/t.txt").c_str(), AT_FDCWD,
                    (root_ + "/t.txt").c_str(), RENAME_EXCHANGE),
            0);
  absl::StatusOr<ipc::UniqueFd> fd = r.Finish(std::move(*p));
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct stat handed;
  ASSERT_EQ(fstat(fd->get(), &handed), 0);
  EXPECT_EQ(handed.st_ino, decided.st_ino);
  EXPECT_EQ(handed.st_size, 0);
  // The file now at the granted path came from outside and is untouched.
  EXPECT_EQ(ReadFile(granted_ + "/t.txt"), "outsider");
}

// A plugin that can rename inside the granted directory swaps a real directory with a symlink
// to / in a loop (renameat2 RENAME_EXCHANGE) while the broker opens "dir/secret" and creates
// files in "dir". Whatever interleaving the kernel sees, every fd returned must be a file
// inside the grant, and no create ever lands where a symlink points.
//
// The race must really be run, not just started: each round goes on until the opener has both
// been refused (it met the swapped state) and succeeded kWant times with at least one swap
// since its previous success (it met the real directory again and again while the swapper
// ran). Bounded by time, never by sleeping; a round that cannot get there fails, which on a
// loaded machine only takes longer.
TEST_F(PathResolverTest, RenameExchangeRaceNeverEscapes) {
  fs::create_directories(granted_ + "/dir");
  Write(granted_ + "/dir/secret", "inside-secret");
  // Outside targets with the same relative name, reachable by absolute and relative links.
  fs::create_directories(root_ + "/outdir");
  Write(root_ + "/outdir/secret", "outside-secret");
  fs::create_symlink("/", granted_ + "/link_root");
  fs::create_symlink(root_ + "/outdir", granted_ + "/link_abs");
  fs::create_symlink("../outdir", granted_ + "/link_rel");
  constexpr int kWant = 20;
  // Per round; normally a few milliseconds are enough.
  constexpr absl::Duration kRoundBound = absl::Seconds(8);

  for (const char* link : {"link_root", "link_abs", "link_rel"}) {
    for (bool follow : {false, true}) {
      PathResolver r = Resolver(follow);
      std::atomic<bool> stop{false};
      std::atomic<uint64_t> swaps{0};
      std::string a = granted_ + "/dir";
      std::string b = granted_ + "/" + link;
      std::thread swapper([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          if (syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) ==
              0) {
            swaps.fetch_add(1, std::memory_order_relaxed);
          }
          // Give the opener a chance at both states on a loaded machine; not synchronisation.
          sched_yield();
        }
      });
      int raced_opens = 0;  // successes with a swap since the previous counted one
      int refused = 0;
      int created = 0;
      int create_refused = 0;
      std::vector<std::string> names;  // every create attempted
      uint64_t last = swaps.load();
      const absl::Time bound = absl::Now() + kRoundBound;
      while ((raced_opens < kWant || refused < kWant || created < kWant / 4 ||
              create_refused < kWant / 4) &&
             absl::Now() < bound) {
        names.push_back(absl::StrCat("cordon-race-", link, follow ? "-f-" : "-n-", names.size()));
        absl::StatusOr<ipc::UniqueFd> made =
            r.OpenBeneath({"dir", names.back()}, {.write = true, .create = true});
        if (made.ok()) {
          ++created;
          std::string where = FdPath(made->get());
          ASSERT_TRUE(absl::StartsWith(where, granted_ + "/")) << where << " via " << link;
        } else {
          ASSERT_TRUE(absl::IsPermissionDenied(made.status())) << made.status() << " via " << link;
          ++create_refused;
        }
        absl::StatusOr<ipc::UniqueFd> fd = r.OpenBeneath({"dir", "secret"}, {.read = true});
        if (!fd.ok()) {
          // Meeting the symlink is a refusal, never anything else.
          ASSERT_TRUE(absl::IsPermissionDenied(fd.status())) << fd.status() << " via " << link;
          ++refused;
          continue;
        }
        std::string where = FdPath(fd->get());
        ASSERT_TRUE(absl::StartsWith(where, granted_ + "/")) << where << " via " << link;
        ASSERT_EQ(ReadFd(fd->get()), "inside-secret");
        uint64_t now = swaps.load();
        if (now != last) {
          ++raced_opens;
          last = now;
        }
      }
      stop = true;
      swapper.join();
      EXPECT_GE(raced_opens, kWant) << "opens that succeeded while the swapper ran, via " << link
                                    << (follow ? " (follow)" : "");
      EXPECT_GE(refused, kWant) << "opens that met the swapped state, via " << link;
      EXPECT_GE(created, kWant / 4) << "creates while the swapper ran, via " << link;
      EXPECT_GE(create_refused, kWant / 4) << "creates that met the swapped state, via " << link;
      for (const std::string& name : names) {
        ASSERT_FALSE(fs::exists(root_ + "/outdir/" + name)) << name;
        ASSERT_FALSE(fs::exists("/" + name)) << name;
      }
      RecordProperty(absl::StrCat("raced_opens_", link, follow ? "_follow" : ""), raced_opens);
      // Put things back for the next round (an odd number of swaps leaves them exchanged).
      struct stat st;
      if (lstat(a.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
        ASSERT_EQ(syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE),
                  0);
      }
      // The race must not leave the resolver useless either.
      absl::StatusOr<ipc::UniqueFd> after = r.OpenBeneath({"dir", "secret"}, {.read = true});
      ASSERT_TRUE(after.ok()) << after.status() << " via " << link;
      EXPECT_EQ(ReadFd(after->get()), "inside-secret");
    }
  }
}

}  // namespace
}  // namespace cordon::broker

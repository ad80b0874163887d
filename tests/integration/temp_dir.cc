#include "tests/integration/temp_dir.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cordon::integration {
namespace {

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  remove(path);
  return 0;
}

}  // namespace

TempDir::TempDir() {
  char pattern[] = "/tmp/cordon-integ.XXXXXX";
  if (mkdtemp(pattern) != nullptr) {
    path_ = pattern;
    chmod(path_.c_str(), 0755);
  }
}

TempDir::~TempDir() {
  if (!path_.empty()) RemoveTree(path_);
}

std::string TempDir::File(const std::string& name) const { return path_ + "/" + name; }

std::string TempDir::Write(const std::string& name, const std::string& content, mode_t mode) const {
  std::string path = File(name);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return "";
  ssize_t n = write(fd, content.data(), content.size());
  fchmod(fd, mode);
  close(fd);
  return n == static_cast<ssize_t>(content.size()) ? path : "";
}

std::string TempDir::Copy(const std::string& source, const std::string& name, mode_t mode) const {
  std::ifstream in(source, std::ios::binary);
  if (!in) return "";
  std::stringstream content;
  content << in.rdbuf();
  return Write(name, content.str(), mode);
}

void RemoveTree(const std::string& path) {
  nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace cordon::integration

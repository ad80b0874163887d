#ifndef CORDON_TESTS_INTEGRATION_TEMP_DIR_H_
#define CORDON_TESTS_INTEGRATION_TEMP_DIR_H_

#include <sys/types.h>

#include <string>

namespace cordon::integration {

// A directory under /tmp removed with everything in it when the object goes away. Mode 0755
// so an unprivileged user (rootless runs) can reach files the test puts there.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(const std::string& name) const;
  // Writes `content` to File(name) with `mode`; returns the path ("" on failure).
  std::string Write(const std::string& name, const std::string& content, mode_t mode = 0644) const;
  // Copies a host file into the directory keeping it executable; returns the new path.
  std::string Copy(const std::string& source, const std::string& name, mode_t mode = 0755) const;

 private:
  std::string path_;
};

// Removes a directory tree (best effort, no symlink following).
void RemoveTree(const std::string& path);

}  // namespace cordon::integration

#endif  // CORDON_TESTS_INTEGRATION_TEMP_DIR_H_

#include "launcher/broker/net_connector.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace cordon::broker {
namespace {

// Waits for a non-blocking connect to finish; returns 0 or the errno it failed with.
int FinishConnect(int fd, absl::Time deadline) {
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return ETIMEDOUT;
    pollfd pfd{fd, POLLOUT, 0};
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    int rc = poll(&pfd, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return errno;
    if (rc == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }
}

// Returns 0 or an errno. On success *out holds a blocking connected socket.
int Dial(int family, const sockaddr* addr, socklen_t len, absl::Time deadline, ipc::UniqueFd* out) {
  ipc::UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return errno;
  int rc;
  do {
    rc = connect(fd.get(), addr, len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) return errno;
    if (int err = FinishConnect(fd.get(), deadline); err != 0) return err;
  }
  // The plugin gets an ordinary blocking socket, as connect(2) would have given it.
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return errno;
  *out = std::move(fd);
  return 0;
}

}  // namespace

absl::StatusOr<Connection> NetConnector::Connect(const ConnectTarget& target,
                                                 absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  Connection conn;
  if (target.is_unix) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (target.unix_path.size() >= sizeof(sun.sun_path)) {
      return absl::InvalidArgumentError("unix socket path too long");
    }
    std::memcpy(sun.sun_path, target.unix_path.data(), target.unix_path.size());
    conn.address = absl::StrCat("unix:", target.unix_path);
    int err = Dial(AF_UNIX, reinterpret_cast<sockaddr*>(&sun), sizeof(sun), deadline, &conn.fd);
    if (err != 0) {
      return absl::ErrnoToStatus(err, absl::StrCat("connect to ", conn.address));
    }
    return conn;
  }
  std::string failures;
  for (const IpAddress& address : target.addresses) {
    sockaddr_storage ss;
    socklen_t len = address.ToSockaddr(target.port, &ss);
    std::string text = address.ToStringWithPort(target.port);
    int err = Dial(address.family(), reinterpret_cast<sockaddr*>(&ss), len, deadline, &conn.fd);
    if (err == 0) {
      conn.address = text;
      return conn;
    }
    absl::StrAppend(&failures, failures.empty() ? "" : "; ", text, ": ", strerror(err));
    if (err == ETIMEDOUT && absl::Now() >= deadline) break;
  }
  return absl::UnavailableError(
      absl::StrCat("connect", target.name.empty() ? "" : absl::StrCat(" to '", target.name, "'"),
                   " failed: ", failures.empty() ? "no address to try" : failures));
}

}  // namespace cordon::broker

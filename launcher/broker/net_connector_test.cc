#include "launcher/broker/net_connector.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::broker {
namespace {

// A listening loopback socket on an ephemeral port (127.0.0.1 or ::1 only).
struct Listener {
  ipc::UniqueFd fd;
  uint16_t port = 0;
};

Listener Listen(const char* address) {
  IpAddress a = *IpAddress::Parse(address);
  Listener l;
  l.fd.reset(socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(l.fd.valid());
  sockaddr_storage ss;
  socklen_t len = a.ToSockaddr(0, &ss);
  EXPECT_EQ(bind(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
  EXPECT_EQ(listen(l.fd.get(), 8), 0);
  EXPECT_EQ(getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
  l.port = ntohs(a.is_v4() ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                           : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return l;
}

// Proves the fd is connected to `l`: a byte written shows up on the accepted side.
void ExpectConnectedTo(const Connection& c, const Listener& l) {
  ipc::UniqueFd peer(accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());
  ASSERT_EQ(write(c.fd.get(), "x", 1), 1);
  char b = 0;
  ASSERT_EQ(read(peer.get(), &b, 1), 1);
  EXPECT_EQ(b, 'x');
  EXPECT_NE(fcntl(c.fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(fcntl(c.fd.get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(NetConnectorTest, ConnectsToLoopbackV4AndV6) {
  for (const char* address : {"127.0.0.1", "::1"}) {
    Listener l = Listen(address);
    ConnectTarget t;
    t.addresses.push_back(*IpAddress::Parse(address));
    t.port = l.port;
    absl::StatusOr<Connection> c = NetConnector::Connect(t, absl::Seconds(5));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->address, IpAddress::Parse(address)->ToStringWithPort(l.port));
    ExpectConnectedTo(*c, l);
  }
}

TEST(NetConnectorTest, FallsBackToTheNextAddress) {
  Listener l = Listen("127.0.0.1");
  // Nothing listens on ::1 at this port (a v4 listener does not take v6 connections).
  ConnectTarget t;
  t.addresses = {*IpAddress::Parse("::1"), *IpAddress::Parse("127.0.0.1")};
  t.port = l.port;
  absl::StatusOr<Connection> c = NetConnector::Connect(t, absl::Seconds(5));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address, absl::StrCat("127.0.0.1:", l.port));
}

TEST(NetConnectorTest, RefusedIsAnError) {
  uint16_t port;
  {
    Listener l = Listen("127.0.0.1");
    port = l.port;
  }  // closed: the port now refuses
  ConnectTarget t;
  t.addresses.push_back(*IpAddress::Parse("127.0.0.1"));
  t.port = port;
  absl::StatusOr<Connection> c = NetConnector::Connect(t, absl::Seconds(5));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), ::testing::HasSubstr("refused"));
}

TEST(NetConnectorTest, UnixSocket) {
  std::string path = absl::StrCat("/tmp/cordon-netconn-", getpid(), ".sock");
  unlink(path.c_str());
  ipc::UniqueFd srv(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  ASSERT_EQ(bind(srv.get(), reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
  ASSERT_EQ(listen(srv.get(), 4), 0);
  ConnectTarget t;
  t.is_unix = true;
  t.unix_path = path;
  absl::StatusOr<Connection> c = NetConnector::Connect(t, absl::Seconds(5));
  unlink(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address, "unix:" + path);
  Listener l{std::move(srv), 0};
  ExpectConnectedTo(*c, l);
}

}  // namespace
}  // namespace cordon::broker

#ifndef CORDON_LAUNCHER_BROKER_TESTING_LOOPBACK_LISTENER_H_
#define CORDON_LAUNCHER_BROKER_TESTING_LOOPBACK_LISTENER_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "gtest/gtest.h"
#include "ipc/unique_fd.h"

namespace cordon::broker {

// A TCP listener on 127.0.0.1 at a port the kernel picks, for the broker tests to grant and
// connect to. Call with ASSERT_NO_FATAL_FAILURE.
inline void ListenOnLoopback(int backlog, ipc::UniqueFd* listener, uint16_t* port) {
  listener->reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  ASSERT_EQ(bind(listener->get(), reinterpret_cast<sockaddr*>(&sin), len), 0);
  ASSERT_EQ(listen(listener->get(), backlog), 0);
  ASSERT_EQ(getsockname(listener->get(), reinterpret_cast<sockaddr*>(&sin), &len), 0);
  *port = ntohs(sin.sin_port);
}

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_TESTING_LOOPBACK_LISTENER_H_

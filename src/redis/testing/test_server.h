// Where the unit tests find the private redis-server that tests/redis starts
// as the ctest fixture `redis`, and helpers to keep parallel tests apart.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core/ids.h"
#include "redis/client.h"

namespace aureo::redis::testing {

inline ClientOptions testServer() {
  ClientOptions o;
  o.endpoint.host = "127.0.0.1";
  o.endpoint.port = AUREO_TEST_REDIS_PORT;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.command_timeout = std::chrono::milliseconds(2000);
  return o;
}

// A loopback port nothing listens on (bound, then closed again).
inline uint16_t closedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline ClientOptions deadServer() {
  ClientOptions o = testServer();
  o.endpoint.port = closedPort();
  return o;
}

// Keys and channels under a fresh prefix, so parallel tests never meet.
inline std::string uniquePrefix() {
  return "test:" + core::newUuid() + ":";
}

}  // namespace aureo::redis::testing

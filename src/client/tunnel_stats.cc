#include "client/tunnel_stats.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "wireguard/uapi.h"

namespace aureo::client {

core::Result<TunnelStats> queryTunnel(const std::string& uapi_socket) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (uapi_socket.empty() || uapi_socket.size() >= sizeof(sa.sun_path)) {
    return core::notFound("no UAPI socket");
  }
  std::memcpy(sa.sun_path, uapi_socket.c_str(), uapi_socket.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return core::internalError(fmt::format("socket: {}", std::system_category().message(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    return core::unavailable(
        fmt::format("connect {}: {}", uapi_socket, std::system_category().message(errno)));
  }
  constexpr std::string_view kGet = "get=1\n\n";
  if (::send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(kGet.size())) {
    return core::unavailable(
        fmt::format("send to {}: {}", uapi_socket, std::system_category().message(errno)));
  }
  std::string reply;
  char buf[4096];
  while (reply.find("errno=") == std::string::npos || !reply.ends_with("\n\n")) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return core::unavailable(fmt::format("{} closed early", uapi_socket));
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > (1u << 20)) return core::resourceExhausted("UAPI reply too large");
  }
  AUREO_ASSIGN_OR_RETURN(auto device, wireguard::parseGetResponse(reply));
  TunnelStats out;
  if (device.peers.empty()) return out;
  const auto& peer = device.peers.front();
  if (peer.last_handshake_time_sec > 0) out.last_handshake_unix = peer.last_handshake_time_sec;
  out.rx_bytes = peer.rx_bytes;
  out.tx_bytes = peer.tx_bytes;
  if (peer.endpoint) out.endpoint = peer.endpoint->toString();
  return out;
}

}  // namespace aureo::client

// The OpenVPN management interface (doc/management-notes.txt in OpenVPN):
// an incremental parser for what the daemon writes, and a client over the
// unix socket that sends commands and pairs them with their replies.
//
// The protocol is line-based. Lines starting with '>' are real-time
// notifications and may arrive at any moment, even between a command and its
// reply. Everything else is a reply: one "SUCCESS: ..." / "ERROR: ..." line,
// or several lines closed by "END". Replies come in command order, which is
// the only way to pair them with commands.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/log.h"
#include "core/result.h"

namespace aureo::openvpn {

enum class ClientEventKind { kConnect, kReauth, kEstablished, kDisconnect, kCrResponse };

// >CLIENT:CONNECT|REAUTH|ESTABLISHED|DISCONNECT|CR_RESPONSE and the
// >CLIENT:ENV,name=value lines up to >CLIENT:ENV,END.
struct ClientEvent {
  ClientEventKind kind = ClientEventKind::kConnect;
  uint64_t cid = 0;
  std::optional<uint32_t> kid;  // CONNECT, REAUTH and CR_RESPONSE carry one
  std::string cr_response;      // CR_RESPONSE only
  std::vector<std::pair<std::string, std::string>> env;
  // The block had more ENV lines than allowed, or was cut short by another
  // client block: what is in `env` is incomplete. Treat a CONNECT like this
  // as untrustworthy and deny it.
  bool env_truncated = false;

  // First value of the named variable, or nullptr.
  [[nodiscard]] const std::string* findEnv(std::string_view name) const;
};

// >CLIENT:ADDRESS,{CID},{ADDR},{PRI}
struct ClientAddressEvent {
  uint64_t cid = 0;
  std::string address;
  bool primary = false;
};

// >BYTECOUNT_CLI:{CID},{BYTES_IN},{BYTES_OUT}, from the server's point of view.
struct ClientBytecountEvent {
  uint64_t cid = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
};

struct InfoEvent {  // >INFO:
  std::string message;
};
struct HoldEvent {  // >HOLD:
  std::string message;
};
struct StateEvent {  // >STATE:time,name,description,... split at commas
  std::vector<std::string> fields;
};
// Any other notification: >LOG:, >FATAL:, >ECHO:, >NOTIFY:, ...
struct NotificationEvent {
  std::string type;
  std::string payload;
};

// A reply to a command.
struct Reply {
  enum class Kind { kSuccess, kError, kMultiLine };
  Kind kind = Kind::kSuccess;
  std::string message;             // text after "SUCCESS: " / "ERROR: "
  std::vector<std::string> lines;  // kMultiLine: the lines before END
  bool truncated = false;          // kMultiLine: lines beyond the limit were dropped
  [[nodiscard]] bool ok() const { return kind != Kind::kError; }
};

// Input the parser could not make sense of; it has resynchronised at the
// next line and goes on.
struct ProtocolErrorEvent {
  std::string reason;
};

// Emitted only by ManagementClient, once, when the socket closes.
struct ConnectionClosedEvent {
  std::string reason;
};

using ManagementEvent =
    std::variant<ClientEvent, ClientAddressEvent, ClientBytecountEvent, InfoEvent, HoldEvent,
                 StateEvent, NotificationEvent, Reply, ProtocolErrorEvent, ConnectionClosedEvent>;

struct ParserLimits {
  size_t max_line = size_t{16} * 1024;  // bytes, without the line ending
  size_t max_env_lines = 256;           // per client block
  size_t max_reply_lines = 100'000;     // per multi-line reply
  size_t max_reply_bytes = 16u << 20;   // per multi-line reply
};

// Incremental: feed it whatever read() returned. Not thread-safe.
class ManagementParser {
 public:
  explicit ManagementParser(ParserLimits limits = {});

  // Appends the events completed by `bytes` to `out`.
  void feed(std::string_view bytes, std::vector<ManagementEvent>& out);

 private:
  void onLine(std::string_view line, std::vector<ManagementEvent>& out);
  void onNotification(std::string_view type, std::string_view payload,
                      std::vector<ManagementEvent>& out);
  void onClient(std::string_view payload, std::vector<ManagementEvent>& out);
  void onReplyLine(std::string_view line, std::vector<ManagementEvent>& out);

  ParserLimits limits_;
  std::string partial_;
  bool discarding_ = false;            // skipping the rest of an overlong line
  std::optional<ClientEvent> client_;  // open client block awaiting ENV,END
  std::optional<Reply> multi_;         // open multi-line reply awaiting END
  size_t multi_bytes_ = 0;
};

// One row of `status 3` (the CLIENT_LIST lines).
struct StatusClient {
  std::string common_name;
  std::string real_address;
  std::string virtual_address;
  std::string virtual_ipv6_address;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  int64_t connected_since = 0;  // unix seconds
  std::string username;
  uint64_t cid = 0;
  uint64_t peer_id = 0;
  std::string cipher;
};

// Parses the lines of a `status 3` reply. Rows it cannot read are skipped.
std::vector<StatusClient> parseStatus3(const std::vector<std::string>& lines);

struct ManagementClientOptions {
  std::chrono::milliseconds command_timeout{5000};
  ParserLimits limits;
};

// A connection to the daemon's management socket. A reader thread parses what
// the daemon writes: replies complete the commands waiting for them, and every
// other event goes to the handler, on the reader thread, in order.
class ManagementClient {
 public:
  using EventHandler = std::function<void(const ManagementEvent&)>;

  // Connects once (no retry). kUnavailable when nothing listens there.
  static core::Result<std::unique_ptr<ManagementClient>> connect(const std::string& socket_path,
                                                                 EventHandler handler,
                                                                 ManagementClientOptions options,
                                                                 core::Logger& logger);
  // Closes the socket and joins the reader; waiting commands fail. Must not
  // run on the event handler's thread (it would join itself).
  ~ManagementClient();
  ManagementClient(const ManagementClient&) = delete;
  ManagementClient& operator=(const ManagementClient&) = delete;

  // Sends one command line and waits for its reply. An ERROR reply is
  // returned as a Reply (kind kError), not as a failure. Fails with
  // kUnavailable when the connection is or goes away, kDeadlineExceeded
  // after `timeout`, kInvalidArgument for a line with a line break, and
  // kFailedPrecondition when called from the event handler (whose thread
  // must stay free to read the reply). Safe from any other thread.
  core::Result<Reply> command(std::string_view line);
  core::Result<Reply> command(std::string_view line, std::chrono::milliseconds timeout);

  // The commands the supervisor uses. Each fails with kAborted when the
  // daemon answers ERROR, and validates its arguments first.
  core::Status holdRelease();
  core::Status setBytecountInterval(int seconds);
  core::Status clientAuthNt(uint64_t cid, uint32_t kid);
  // client-auth with per-client config lines (e.g. "ifconfig-push ...").
  core::Status clientAuth(uint64_t cid, uint32_t kid, const std::vector<std::string>& config);
  // `reason` goes to the server log, `client_reason` (optional) to the client.
  core::Status clientDeny(uint64_t cid, uint32_t kid, std::string_view reason,
                          std::string_view client_reason = {});
  // `message` "HALT" makes the client exit; empty sends the default RESTART.
  core::Status clientKill(uint64_t cid, std::string_view message = {});
  core::Result<std::vector<StatusClient>> status();

  // False once the socket has closed. Safe from any thread.
  [[nodiscard]] bool connected() const;

 private:
  struct Impl;
  explicit ManagementClient(std::unique_ptr<Impl> impl);
  core::Status sendAndCheck(std::string_view text, std::string_view what);
  core::Result<Reply> roundTrip(std::string text, std::chrono::milliseconds timeout);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::openvpn

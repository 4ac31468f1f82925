// The client's Beast side; one io_context per request keeps it synchronous
// for callers while every step still honours the deadline.
#include "http/client.h"

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stop_token>
#include <type_traits>

namespace aureo::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool hasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  core::Status parsed;
  bool tls = false;
  std::string host;         // for resolving, SNI and certificate checks
  bool host_is_ip = false;  // no SNI for IP literals
  std::string port;
  std::string host_header;
  std::string prefix;  // path of the base URL, without trailing '/'
  // Mutable: Beast wants a non-const context; SSL_CTX is safe to share.
  mutable std::optional<ssl::context> ssl_ctx;

  struct Exchange {
    std::string method;
    std::string target;
    std::string body;
    ClientHeaders headers;
    std::optional<core::Result<ClientResponse>> result;
  };

  template <typename Stream>
  asio::awaitable<void> converse(Stream& stream, const tcp::resolver::results_type& endpoints,
                                 std::chrono::steady_clock::time_point deadline,
                                 Exchange& ex) const {
    constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_at(deadline);
    auto [cec, endpoint] = co_await lowest.async_connect(endpoints, kTuple);
    if (cec) {
      ex.result = core::unavailable("cannot connect to " + host + ":" + port + ": " +
                                    (cec == beast::error::timeout ? "timed out" : cec.message()));
      co_return;
    }
    if constexpr (kTls) {
      if (!host_is_ip) {
        // SSL_set_tlsext_host_name is a macro with an old-style cast.
        SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host.c_str()));
      }
      if (options.insecure_skip_verify) {
        stream.set_verify_mode(ssl::verify_none);
      } else {
        stream.set_verify_mode(ssl::verify_peer);
        stream.set_verify_callback(ssl::host_name_verification(host));
      }
      auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, kTuple);
      if (hec) {
        ex.result = core::unavailable("TLS handshake with " + host + " failed: " +
                                      (hec == beast::error::timeout ? "timed out" : hec.message()));
        co_return;
      }
    }

    bhttp::request<bhttp::string_body> req;
    req.method_string(ex.method);
    req.target(ex.target);
    req.version(11);
    req.set(bhttp::field::host, host_header);
    req.set(bhttp::field::user_agent, "aureo-vpn");
    req.set(bhttp::field::accept, "application/json");
    bool has_content_type = false;
    for (const auto& [name, value] : ex.headers) {
      if (beast::iequals(name, "content-type")) has_content_type = true;
      req.set(name, value);
    }
    if (!ex.body.empty() && !has_content_type) {
      req.set(bhttp::field::content_type, "application/json");
    }
    req.keep_alive(false);
    req.body() = std::move(ex.body);
    req.prepare_payload();
    auto [wec, wn] = co_await bhttp::async_write(stream, req, kTuple);
    if (wec) {
      ex.result = core::unavailable("sending the request to " + host + " failed: " +
                                    (wec == beast::error::timeout ? "timed out" : wec.message()));
      co_return;
    }

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxResponseHeaderBytes);
    parser.body_limit(options.max_response_bytes);
    if (ex.method == "HEAD") parser.skip(true);
    auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
    if (rec == bhttp::error::body_limit) {
      ex.result = core::resourceExhausted("response from " + host + " is larger than " +
                                          std::to_string(options.max_response_bytes) + " bytes");
      co_return;
    }
    if (rec) {
      ex.result = core::unavailable("reading the response from " + host + " failed: " +
                                    (rec == beast::error::timeout ? "timed out" : rec.message()));
      co_return;
    }
    auto msg = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      });
      out.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    out.body = std::move(msg.body());
    ex.result = std::move(out);

    if constexpr (kTls) {
      // Best effort close_notify; the answer is already complete.
      lowest.expires_after(std::chrono::milliseconds(200));
      co_await stream.async_shutdown(kTuple);
    }
  }

  asio::awaitable<void> run(std::chrono::steady_clock::time_point deadline, Exchange& ex) const {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    const bool pinned = !options.connect_to.empty();
    auto [rec, endpoints] = co_await resolver.async_resolve(
        pinned ? options.connect_to : host, port,
        pinned ? tcp::resolver::numeric_host : tcp::resolver::flags{}, kTuple);
    if (rec) {
      ex.result = core::unavailable("cannot resolve " + host + ": " + rec.message());
      co_return;
    }
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> stream(executor, *ssl_ctx);
      co_await converse(stream, endpoints, deadline, ex);
    } else {
      beast::tcp_stream stream(executor);
      co_await converse(stream, endpoints, deadline, ex);
    }
  }
};

std::string_view ClientResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return {};
}

Client::Client(const std::string& base_url, ClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.options = std::move(options);
  auto url = boost::urls::parse_absolute_uri(base_url);
  if (!url || !url->has_authority() || url->encoded_host().empty() || url->has_query() ||
      url->has_userinfo()) {
    impl.parsed = core::invalidArgument("bad base URL '" + base_url + "'", "base_url");
    return;
  }
  if (url->scheme() == "https") {
    impl.tls = true;
  } else if (url->scheme() != "http") {
    impl.parsed = core::invalidArgument("base URL must be http:// or https://", "base_url");
    return;
  }
  const auto host_type = url->host_type();
  impl.host_is_ip =
      host_type == boost::urls::host_type::ipv4 || host_type == boost::urls::host_type::ipv6;
  impl.host = url->host_address();
  impl.port = url->has_port() ? std::string(url->port()) : (impl.tls ? "443" : "80");
  impl.host_header = std::string(url->encoded_host_and_port());
  impl.prefix = std::string(url->encoded_path());
  while (!impl.prefix.empty() && impl.prefix.back() == '/') impl.prefix.pop_back();

  if (impl.tls) {
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    if (!impl.options.ca_file.empty()) {
      ctx.load_verify_file(impl.options.ca_file, ec);
    } else {
      ctx.set_default_verify_paths(ec);
    }
    if (ec) {
      impl.parsed = core::invalidArgument(
          "cannot load CA file '" + impl.options.ca_file + "': " + ec.message(), "ca_file");
      return;
    }
    impl.ssl_ctx.emplace(std::move(ctx));
  }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

core::Result<ClientResponse> Client::request(std::string_view method, std::string_view path,
                                             std::string_view body, const ClientHeaders& headers,
                                             std::stop_token stop) const {
  const Impl& impl = *impl_;
  if (!impl.parsed.ok()) return impl.parsed.error();
  if (!isToken(method)) return core::invalidArgument("bad HTTP method", "method");
  if (path.empty() || path.front() != '/' || hasControlChars(path) ||
      path.find(' ') != std::string_view::npos) {
    return core::invalidArgument("path must start with '/' and contain no spaces", "path");
  }
  for (const auto& [name, value] : headers) {
    if (!isToken(name) || hasControlChars(value)) {
      return core::invalidArgument("bad header '" + name + "'", "headers");
    }
  }

  Impl::Exchange ex;
  ex.method = std::string(method);
  ex.target = impl.prefix + std::string(path);
  ex.body = std::string(body);
  ex.headers = headers;
  const auto deadline = std::chrono::steady_clock::now() + impl.options.timeout;

  asio::io_context ioc;
  asio::co_spawn(ioc, impl.run(deadline, ex), [&ex](const std::exception_ptr& e) {
    if (e && !ex.result) ex.result = core::unavailable("request failed");
  });
  // io_context::stop() is safe from any thread; the callback runs on the
  // thread requesting the stop (or here, if the stop came first).
  std::stop_callback on_stop(stop, [&ioc] { ioc.stop(); });
  // The stream deadline covers connect to read; this also bounds name
  // resolution, which has no timeout of its own.
  ioc.run_for(impl.options.timeout + std::chrono::milliseconds(100));
  if (!ex.result && stop.stop_requested()) {
    return core::Error{core::Code::kCancelled, "request cancelled", {}};
  }
  if (!ex.result) {
    return core::unavailable("request to " + impl.host + " timed out");
  }
  return std::move(*ex.result);
}

}  // namespace aureo::http

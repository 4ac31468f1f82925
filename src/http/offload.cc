#include "http/offload.h"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace aureo::http::detail {

namespace asio = boost::asio;

boost::asio::awaitable<bool> offload(core::WorkerPool& pool, std::function<void()> job) {
  auto initiate = [&pool](auto handler, std::function<void()> work) {
    using Handler = decltype(handler);
    auto executor = asio::get_associated_executor(handler);
    // std::function needs a copyable callable; the handler is move-only.
    auto shared = std::make_shared<std::optional<Handler>>(std::move(handler));
    // Keeps io_context::run() from returning while the job is out.
    auto tracked = asio::prefer(executor, asio::execution::outstanding_work.tracked);
    const bool accepted = pool.submit([shared, tracked, work = std::move(work)] {
      work();
      asio::post(tracked, [shared] { std::move (**shared)(true); });
    });
    if (!accepted) {
      // Never complete inside the initiating function: post like any async op.
      asio::post(executor, [shared] { std::move (**shared)(false); });
    }
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(bool)>(
      initiate, asio::use_awaitable, std::move(job));
}

}  // namespace aureo::http::detail

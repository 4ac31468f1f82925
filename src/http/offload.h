// Running CPU-heavy work (Argon2id, key generation) off the io threads.
//
//   auto hash = co_await runOn<std::string>(pool, [&] { return hashPassword(pw); });
//   if (!hash.ok()) co_return Response::error(hash.error());  // pool full -> 429
//
// Lifetime: a job still queued when the io_context is destroyed would post
// into freed memory, so destroy the WorkerPool (which drains its queue) before
// the Server that runs the coroutines, i.e. declare the pool after the server.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/result.h"
#include "core/worker_pool.h"

namespace aureo::http {
namespace detail {

// Submits `job` to `pool` and completes on the calling coroutine's executor
// once it has run: true, or false at once if the pool refused it.
boost::asio::awaitable<bool> offload(core::WorkerPool& pool, std::function<void()> job);

}  // namespace detail

// Runs `fn` on `pool` and resumes on the calling coroutine's executor with its
// value. kResourceExhausted without running it when the pool's queue is full;
// kInternal if `fn` throws. `fn` runs on a pool thread: whatever it captures by
// reference must stay alive until the co_await returns.
template <typename T>
boost::asio::awaitable<core::Result<T>> runOn(core::WorkerPool& pool, std::function<T()> fn) {
  // Shared, not on the coroutine frame: the frame may be destroyed (server
  // shutdown) while the job is still running.
  auto out = std::make_shared<std::optional<core::Result<T>>>();
  // A named local, not a temporary in the co_await expression: GCC 12
  // destroys such temporaries twice (the captured shared_ptr was released
  // one time too many).
  std::function<void()> job = [out, fn = std::move(fn)] {
    try {
      if constexpr (std::is_void_v<T>) {
        fn();
        out->emplace(core::okStatus());
      } else {
        out->emplace(fn());
      }
    } catch (...) {
      out->emplace(core::internalError("offloaded job failed"));
    }
  };
  const bool accepted = co_await detail::offload(pool, std::move(job));
  if (!accepted) co_return core::resourceExhausted("server busy, try again");
  co_return std::move(**out);
}

}  // namespace aureo::http

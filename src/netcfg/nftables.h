// libnftables (the library behind `nft`) behind a small RAII type.
//
// Every command runs through nft_run_cmd_from_buffer(), which sends the whole
// script to the kernel as one netlink batch: it applies completely or not at
// all. Output and errors are buffered, so a failure comes back as Status text
// rather than on stderr.
//
// An Nftables object talks to the network namespace of the thread that
// opened it. Not thread-safe: use one object per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

struct nft_ctx;

namespace aureo::netcfg {

enum class TableFamily : uint8_t { kInet, kIp, kIp6, kArp, kBridge, kNetdev };
std::string_view tableFamilyName(TableFamily family);

enum class ListFormat : uint8_t { kText, kJson };

class Nftables {
 public:
  static core::Result<Nftables> open();

  Nftables(Nftables&&) noexcept;
  Nftables& operator=(Nftables&&) noexcept;
  ~Nftables();

  // Runs a script (any nft commands) as one atomic batch. A ruleset rendered
  // by rulesets.h replaces its table in one step.
  core::Status applyRuleset(std::string_view text);
  // Parses and evaluates the script against the kernel without committing it
  // (`nft -c`).
  core::Status checkRuleset(std::string_view text);

  // Removes a table; not an error if it does not exist.
  core::Status deleteTable(TableFamily family, std::string_view name);
  core::Result<bool> tableExists(TableFamily family, std::string_view name);
  // `nft list table`: NotFound if the table does not exist.
  core::Result<std::string> listTable(TableFamily family, std::string_view name,
                                      ListFormat format = ListFormat::kText);
  // `nft -s list ruleset`: stateless, so counters and quotas do not make two
  // listings of the same configuration differ.
  core::Result<std::string> listRuleset(ListFormat format = ListFormat::kText);

 private:
  struct CtxDeleter {
    void operator()(nft_ctx* ctx) const;
  };
  explicit Nftables(std::unique_ptr<nft_ctx, CtxDeleter> ctx);
  core::Result<std::string> run(std::string_view command, unsigned extra_output_flags, bool dry_run,
                                std::string_view what);

  std::unique_ptr<nft_ctx, CtxDeleter> ctx_;
};

// True if `name` is usable as a table (or chain) name here: a letter, then
// letters, digits, '_' or '-', at most 64 bytes.
bool isValidTableName(std::string_view name);

}  // namespace aureo::netcfg

#include "netcfg/nftables.h"

#include <nftables/libnftables.h>

#include <utility>

#include <fmt/format.h>

namespace aureo::netcfg {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// nft reports everything as text; the kernel's errno strings inside it are
// the only stable part.
core::Code codeForNftError(std::string_view text) {
  if (text.find("Operation not permitted") != std::string_view::npos) {
    return core::Code::kPermissionDenied;
  }
  if (text.find("No such file or directory") != std::string_view::npos) {
    return core::Code::kNotFound;
  }
  if (text.find("File exists") != std::string_view::npos) return core::Code::kAlreadyExists;
  if (text.find("Device or resource busy") != std::string_view::npos) {
    return core::Code::kUnavailable;
  }
  if (text.find("Error:") != std::string_view::npos) return core::Code::kInvalidArgument;
  return core::Code::kInternal;
}

}  // namespace

std::string_view tableFamilyName(TableFamily family) {
  switch (family) {
    case TableFamily::kInet: return "inet";
    case TableFamily::kIp: return "ip";
    case TableFamily::kIp6: return "ip6";
    case TableFamily::kArp: return "arp";
    case TableFamily::kBridge: return "bridge";
    case TableFamily::kNetdev: return "netdev";
  }
  return "inet";
}

bool isValidTableName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  const char first = name.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z'))) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void Nftables::CtxDeleter::operator()(nft_ctx* ctx) const {
  nft_ctx_free(ctx);
}

Nftables::Nftables(std::unique_ptr<nft_ctx, CtxDeleter> ctx) : ctx_(std::move(ctx)) {}
Nftables::Nftables(Nftables&&) noexcept = default;
Nftables& Nftables::operator=(Nftables&&) noexcept = default;
Nftables::~Nftables() = default;

core::Result<Nftables> Nftables::open() {
  std::unique_ptr<nft_ctx, CtxDeleter> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return core::internalError("nft_ctx_new failed");
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return core::internalError("libnftables: cannot buffer output");
  }
  // Scripts come from our own renderers; `include` has no business in them.
  nft_ctx_clear_include_paths(ctx.get());
  return Nftables(std::move(ctx));
}

core::Result<std::string> Nftables::run(std::string_view command, unsigned extra_output_flags,
                                        bool dry_run, std::string_view what) {
  nft_ctx* ctx = ctx_.get();
  const unsigned saved_flags = nft_ctx_output_get_flags(ctx);
  nft_ctx_output_set_flags(ctx, saved_flags | extra_output_flags);
  nft_ctx_set_dry_run(ctx, dry_run);
  const std::string text(command);
  const int rc = nft_run_cmd_from_buffer(ctx, text.c_str());
  nft_ctx_set_dry_run(ctx, false);
  nft_ctx_output_set_flags(ctx, saved_flags);
  // Reading a buffer also rewinds it for the next command.
  std::string output = nft_ctx_get_output_buffer(ctx);
  std::string errors = trim(nft_ctx_get_error_buffer(ctx));
  if (rc != 0) {
    if (errors.empty()) errors = "failed without a message";
    return core::Error{codeForNftError(errors), fmt::format("nft {}: {}", what, errors), {}};
  }
  return output;
}

core::Status Nftables::applyRuleset(std::string_view text) {
  AUREO_ASSIGN_OR_RETURN(auto out, run(text, 0, false, "apply"));
  (void)out;
  return {};
}

core::Status Nftables::checkRuleset(std::string_view text) {
  AUREO_ASSIGN_OR_RETURN(auto out, run(text, 0, true, "check"));
  (void)out;
  return {};
}

core::Status Nftables::deleteTable(TableFamily family, std::string_view name) {
  if (!isValidTableName(name)) {
    return core::invalidArgument(fmt::format("invalid table name '{}'", name), "table");
  }
  // Declaring the table first makes the delete succeed whether or not it
  // existed, in one batch.
  const auto fam = tableFamilyName(family);
  AUREO_ASSIGN_OR_RETURN(
      auto out, run(fmt::format("table {0} {1} {{}}\ndelete table {0} {1}\n", fam, name), 0, false,
                    fmt::format("delete table {} {}", fam, name)));
  (void)out;
  return {};
}

core::Result<bool> Nftables::tableExists(TableFamily family, std::string_view name) {
  if (!isValidTableName(name)) {
    return core::invalidArgument(fmt::format("invalid table name '{}'", name), "table");
  }
  AUREO_ASSIGN_OR_RETURN(std::string tables, run("list tables", 0, false, "list tables"));
  const std::string want = fmt::format("table {} {}", tableFamilyName(family), name);
  size_t pos = 0;
  while (pos < tables.size()) {
    size_t end = tables.find('\n', pos);
    if (end == std::string::npos) end = tables.size();
    if (std::string_view(tables).substr(pos, end - pos) == want) return true;
    pos = end + 1;
  }
  return false;
}

core::Result<std::string> Nftables::listTable(TableFamily family, std::string_view name,
                                              ListFormat format) {
  if (!isValidTableName(name)) {
    return core::invalidArgument(fmt::format("invalid table name '{}'", name), "table");
  }
  const auto fam = tableFamilyName(family);
  return run(fmt::format("list table {} {}", fam, name),
             format == ListFormat::kJson ? static_cast<unsigned>(NFT_CTX_OUTPUT_JSON) : 0u, false,
             fmt::format("list table {} {}", fam, name));
}

core::Result<std::string> Nftables::listRuleset(ListFormat format) {
  unsigned flags = static_cast<unsigned>(NFT_CTX_OUTPUT_STATELESS);
  if (format == ListFormat::kJson) flags |= static_cast<unsigned>(NFT_CTX_OUTPUT_JSON);
  return run("list ruleset", flags, false, "list ruleset");
}

}  // namespace aureo::netcfg

// A real SQLite store in a fresh temporary folder, removed afterwards, plus
// row builders the control tests share.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/ids.h"
#include "crypto/x25519.h"
#include "store/store.h"

namespace aureo::control::testing {

class TempStore {
 public:
  TempStore() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aureo_control_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    store::StoreOptions options;
    options.url = "sqlite:" + (dir_ / "aureo.db").string();
    options.busy_timeout = std::chrono::seconds(30);
    auto opened = store::openStore(options);
    if (!opened.ok()) throw std::runtime_error(opened.error().toString());
    store_ = std::move(opened).value();
  }
  ~TempStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  store::Store& operator*() { return *store_; }
  store::Store* operator->() { return store_.get(); }

  // A user with the given tier; returns its id.
  std::string addUser(const std::string& name, const std::string& tier = "free",
                      bool active = true) {
    store::User u;
    u.id = core::newUuid();
    u.email = name + "@example.test";
    u.username = name;
    u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    u.subscription_tier = tier;
    u.is_active = active;
    check(store_->users().create(u));
    return u.id;
  }

  // An online, enrolled WireGuard node; returns its id.
  std::string addNode(const std::string& name, const std::string& country = "DE",
                      const std::string& v6 = "", int64_t max_connections = 100) {
    store::VpnNode n;
    n.id = core::newUuid();
    n.name = name;
    n.hostname = name + ".vpn.example.test";
    n.public_ip = "203.0.113.7";
    n.country = country;
    n.city = "Berlin";
    n.status = "online";
    n.max_connections = max_connections;
    n.wg_public_key = crypto::generateX25519KeyPair().public_key;
    n.tunnel_ipv4_cidr = "10.8.0.0/16";
    n.tunnel_ipv6_cidr = v6;
    check(store_->nodes().create(n));
    return n.id;
  }

 private:
  static void check(const core::Status& st) {
    if (!st.ok()) throw std::runtime_error(st.error().toString());
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace aureo::control::testing

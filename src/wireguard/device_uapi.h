// The UAPI over a Device: what `wg set` / `wg show` do to the engine.
//
// applySet follows the kernel's and wireguard-go's semantics (a peer with the
// device's own public key is ignored, update_only on an unknown peer and
// remove of an unknown peer are no-ops), but is stricter about failure: the
// only step that can fail (binding the listen port) runs first, so an error
// answer means nothing changed.
#pragma once

#include "wireguard/device.h"
#include "wireguard/uapi.h"

namespace aureo::wireguard {

class DeviceUapi final : public UapiHandler {
 public:
  explicit DeviceUapi(Device& device) : device_(device) {}

  // Called from the UAPI server thread (see UapiHandler); also safe from
  // any thread, since every Device call is.
  int applySet(const DeviceChange& change) override;
  DeviceState getState() override;

 private:
  Device& device_;
};

}  // namespace aureo::wireguard

// Fixed-size key material that wipes itself on destruction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace aureo::crypto {

void secureZero(void* p, size_t n);

template <size_t N>
class Secret {
 public:
  Secret() { bytes_.fill(0); }
  Secret(const Secret& other) = default;
  Secret& operator=(const Secret& other) = default;
  ~Secret() { secureZero(bytes_.data(), N); }

  uint8_t* data() { return bytes_.data(); }
  [[nodiscard]] const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }

 private:
  std::array<uint8_t, N> bytes_;
};

}  // namespace aureo::crypto

// Every protocol constant of WireGuard, once, under the whitepaper's name.
//
// Section references are to "WireGuard: Next Generation Kernel Network Tunnel"
// (Donenfeld, 2020 revision). Code elsewhere in the engine names these and
// never repeats a literal.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace aureo::wireguard {

// --- Noise (section 5.4) -------------------------------------------------
inline constexpr std::string_view CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
inline constexpr std::string_view IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com";
inline constexpr std::string_view LABEL_MAC1 = "mac1----";
inline constexpr std::string_view LABEL_COOKIE = "cookie--";

inline constexpr size_t NOISE_PUBLIC_KEY_LEN = 32;
inline constexpr size_t NOISE_SYMMETRIC_KEY_LEN = 32;
inline constexpr size_t NOISE_HASH_LEN = 32;
inline constexpr size_t NOISE_TIMESTAMP_LEN = 12;  // TAI64N
inline constexpr size_t NOISE_AUTHTAG_LEN = 16;    // Poly1305
inline constexpr size_t COOKIE_LEN = 16;
inline constexpr size_t COOKIE_NONCE_LEN = 24;  // XChaCha20-Poly1305

// --- Messages (section 5.4.2 - 5.4.6) ------------------------------------
inline constexpr uint8_t MESSAGE_HANDSHAKE_INITIATION = 1;
inline constexpr uint8_t MESSAGE_HANDSHAKE_RESPONSE = 2;
inline constexpr uint8_t MESSAGE_HANDSHAKE_COOKIE = 3;
inline constexpr uint8_t MESSAGE_DATA = 4;

inline constexpr size_t MESSAGE_INITIATION_SIZE = 148;
inline constexpr size_t MESSAGE_RESPONSE_SIZE = 92;
inline constexpr size_t MESSAGE_COOKIE_REPLY_SIZE = 64;
inline constexpr size_t MESSAGE_TRANSPORT_HEADER_SIZE = 16;
inline constexpr size_t MESSAGE_TRANSPORT_MIN_SIZE =
    MESSAGE_TRANSPORT_HEADER_SIZE + NOISE_AUTHTAG_LEN;  // a keepalive
// Transport plaintext is zero-padded to a multiple of this (section 5.4.6).
inline constexpr size_t MESSAGE_PADDING_MULTIPLE = 16;
// The largest IP packet the engine will carry (IPv4/IPv6 total length).
inline constexpr size_t MAX_INNER_PACKET_SIZE = 65535;

// --- Limits (section 6.1) -------------------------------------------------
inline constexpr uint64_t REKEY_AFTER_MESSAGES = uint64_t{1} << 60;
inline constexpr uint64_t REJECT_AFTER_MESSAGES =
    ~uint64_t{0} - (uint64_t{1} << 13);  // 2^64 - 2^13 - 1

using Duration = std::chrono::steady_clock::duration;
inline constexpr std::chrono::seconds REKEY_AFTER_TIME{120};
inline constexpr std::chrono::seconds REJECT_AFTER_TIME{180};
inline constexpr std::chrono::seconds REKEY_ATTEMPT_TIME{90};
inline constexpr std::chrono::seconds REKEY_TIMEOUT{5};
inline constexpr std::chrono::seconds KEEPALIVE_TIMEOUT{10};
// Upper bound of the random delay added to handshake retransmissions (HZ/3).
inline constexpr std::chrono::milliseconds REKEY_TIMEOUT_JITTER_MAX{333};
// Retries before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT.
inline constexpr int MAX_TIMER_HANDSHAKES = static_cast<int>(REKEY_ATTEMPT_TIME / REKEY_TIMEOUT);

// --- Cookies (section 5.4.7) ----------------------------------------------
inline constexpr std::chrono::seconds COOKIE_SECRET_MAX_AGE{120};
inline constexpr std::chrono::seconds COOKIE_SECRET_LATENCY{5};

// --- DoS protection --------------------------------------------------------
// A peer's initiations are consumed at most this often (the kernel's
// INITIATIONS_PER_SECOND); TAI64N timestamps are rounded down to a matching
// power-of-two granularity so they leak no finer clock.
inline constexpr int INITIATIONS_PER_SECOND = 50;
inline constexpr std::chrono::nanoseconds HANDSHAKE_INITIATION_RATE{1'000'000'000 /
                                                                    INITIATIONS_PER_SECOND};
inline constexpr uint32_t TAI64N_WHITENER_MASK = (1u << 24) - 1;  // ~16.8 ms
// Handshake messages an embedder may queue for the control thread (the
// kernel's MAX_QUEUED_INCOMING_HANDSHAKES); an eighth of it means "under load".
inline constexpr size_t MAX_QUEUED_INCOMING_HANDSHAKES = 4096;
// How long the device stays "under load" after the handshake rate last exceeded
// its threshold.
inline constexpr std::chrono::seconds UNDER_LOAD_AFTER_TIME{1};
// Packets held per peer while a handshake is in flight.
inline constexpr size_t MAX_STAGED_PACKETS = 128;

}  // namespace aureo::wireguard

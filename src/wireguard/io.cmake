# The Linux I/O side of the WireGuard engine (TUN, offloads, UDP, UAPI).
# Included from this folder's CMakeLists.txt.
aureo_library(wireguard_io
  SOURCES tun.cc offload.cc udp.cc uapi.cc
  DEPS aureo::core)

aureo_test(wireguard_offload_test SOURCES offload_test.cc DEPS aureo::wireguard_io)
aureo_test(wireguard_udp_test SOURCES udp_test.cc DEPS aureo::wireguard_io)
aureo_test(wireguard_uapi_test SOURCES uapi_test.cc DEPS aureo::wireguard_io)
# These need CAP_NET_ADMIN: real TUN devices, network namespaces, and the
# stock wg(8) talking to /var/run/wireguard.
aureo_test(wireguard_tun_test SOURCES tun_test.cc DEPS aureo::wireguard_io LABELS netns)
aureo_test(wireguard_uapi_wg_test SOURCES uapi_wg_test.cc DEPS aureo::wireguard_io LABELS netns)

aureo_fuzzer(wireguard_uapi_fuzz
  SOURCES uapi_fuzz.cc
  DEPS aureo::wireguard_io
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/uapi_corpus)
aureo_fuzzer(wireguard_offload_fuzz
  SOURCES offload_fuzz.cc
  DEPS aureo::wireguard_io
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/offload_corpus)

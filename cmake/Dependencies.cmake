# Every dependency comes from a Debian 12 package (scripts/install-deps.sh).
# Targets are created once here so module CMakeLists only name them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS url)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(ZLIB REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark QUIET)
find_package(prometheus-cpp QUIET CONFIG)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(NFTABLES REQUIRED IMPORTED_TARGET libnftables)
pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)
pkg_check_modules(CLI11 REQUIRED IMPORTED_TARGET CLI11)

# Boost.Asio/Beast: header-only apart from Boost.URL; compiled with the
# coroutine support and without deprecated interfaces.
add_library(aureo_boost INTERFACE)
target_link_libraries(aureo_boost INTERFACE Boost::headers Boost::url Threads::Threads)
target_compile_definitions(aureo_boost INTERFACE BOOST_ASIO_NO_DEPRECATED)
# GCC 12 misreads the frame allocator of Asio coroutines (its operator new and
# delete are a matched pair); the warning fires on every coroutine lambda.
target_compile_options(aureo_boost INTERFACE $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)

# SOCI 4.0 ships no CMake package in Debian; define its targets by hand.
find_library(SOCI_CORE_LIB soci_core REQUIRED)
find_library(SOCI_SQLITE3_LIB soci_sqlite3 REQUIRED)
find_library(SOCI_POSTGRESQL_LIB soci_postgresql REQUIRED)
add_library(soci_core INTERFACE)
target_link_libraries(soci_core INTERFACE ${SOCI_CORE_LIB} ${CMAKE_DL_LIBS})
add_library(soci_sqlite3 INTERFACE)
target_link_libraries(soci_sqlite3 INTERFACE ${SOCI_SQLITE3_LIB} soci_core PkgConfig::SQLITE3)
add_library(soci_postgresql INTERFACE)
target_link_libraries(soci_postgresql INTERFACE ${SOCI_POSTGRESQL_LIB} soci_core PkgConfig::LIBPQ)

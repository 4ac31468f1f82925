# Helpers shared by every module: one library per folder, tests beside the code.

set(AUREO_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wconversion
    -Wsign-conversion -Wnull-dereference -Wformat=2 -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports false positives from inlined std::variant/optional code.
  list(APPEND AUREO_WARNINGS -Wno-maybe-uninitialized)
endif()
if(AUREO_WERROR)
  list(APPEND AUREO_WARNINGS -Werror)
endif()

if(AUREO_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# aureo_library(NAME SOURCES a.cc b.cc DEPS x y [PRIVATE_DEPS z])
function(aureo_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(aureo_${name} STATIC ${ARG_SOURCES})
  add_library(aureo::${name} ALIAS aureo_${name})
  target_include_directories(aureo_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(aureo_${name} PRIVATE ${AUREO_WARNINGS})
  target_link_libraries(aureo_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# aureo_test(NAME SOURCES a_test.cc DEPS aureo::x [LABELS l])
function(aureo_test name)
  if(NOT AUREO_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_compile_options(${name} PRIVATE ${AUREO_WARNINGS} -Wno-conversion -Wno-sign-conversion)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  else()
    set_tests_properties(${name} PROPERTIES LABELS unit)
  endif()
endfunction()

# aureo_app(NAME SOURCES main.cc DEPS ...)
function(aureo_app name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${AUREO_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# aureo_fuzzer(NAME SOURCES f.cc DEPS aureo::x CORPUS dir RUNS n)
# Only built with -DAUREO_FUZZ=ON (clang). Each fuzzer becomes a ctest entry
# in the fuzz tree that replays the committed corpus and then runs a fixed
# number of fresh iterations, so CI time stays bounded.
if(AUREO_FUZZ)
  add_custom_target(fuzzers)
  # Undefined behaviour stops the run like a crash does. -fsanitize=function
  # is left out: clang 14 cannot emit its prologue data for coroutine
  # functions under coverage instrumentation ("Cannot represent a difference
  # across sections"), and the server's handlers are coroutines.
  add_compile_options(-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize=function
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  enable_testing()
endif()
function(aureo_fuzzer name)
  if(NOT AUREO_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "CORPUS;RUNS" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  add_dependencies(fuzzers ${name})
  if(NOT ARG_RUNS)
    set(ARG_RUNS 20000)
  endif()
  # libFuzzer writes new inputs into its first corpus folder: give it a scratch
  # folder in the build tree and the committed corpus (read-only) second.
  set(scratch ${CMAKE_BINARY_DIR}/fuzz/${name}_corpus)
  file(MAKE_DIRECTORY ${scratch})
  add_test(NAME ${name} COMMAND ${name} -runs=${ARG_RUNS} -max_total_time=120 -seed=1 ${scratch} ${ARG_CORPUS})
  set_tests_properties(${name} PROPERTIES LABELS fuzz)
endfunction()

# PostgreSQL for tests: tests/postgres/ registers the `postgres` ctest fixture,
# a private cluster on this port (127.0.0.1 only) started before and stopped
# after every test that calls aureo_requires_postgres(<test>). The test reads
# the database URL from AUREO_TEST_POSTGRES_URL.
# Fixed test ports (this one, Redis's 2637x/26382) sit below Linux's
# ephemeral range (32768-60999): a port in it can be taken at any moment as
# the source port of some outgoing connection, and the server then fails to
# bind.
set(AUREO_TEST_POSTGRES_PORT 25432)
set(AUREO_TEST_POSTGRES_URL
    "postgres://aureo:aureo-test-password@127.0.0.1:${AUREO_TEST_POSTGRES_PORT}/aureo")
#
# They take turns on the database (RESOURCE_LOCK): tests/ops restores a
# backup over it and refuses while other sessions are connected.
function(aureo_requires_postgres test)
  set_property(TEST ${test} APPEND PROPERTY FIXTURES_REQUIRED postgres)
  set_property(TEST ${test} APPEND PROPERTY RESOURCE_LOCK aureo_postgres_database)
  set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT
               "AUREO_TEST_POSTGRES_URL=${AUREO_TEST_POSTGRES_URL}")
endfunction()

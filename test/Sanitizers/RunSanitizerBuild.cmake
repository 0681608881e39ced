# Configures, builds and runs the sanitizer build (ATTN_SANITIZER_BUILD: the
# runtime, the float64 reference and their unit tests under AddressSanitizer
# and UndefinedBehaviorSanitizer) in BUILD, from SOURCE.
#
#   cmake -DSOURCE=<attn> -DBUILD=<folder> -DGENERATOR=... -DCC=... -DCXX=...
#         -DJOBS=N -P RunSanitizerBuild.cmake
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/ScriptSupport.cmake)
attn_require_variables(RunSanitizerBuild.cmake SOURCE BUILD GENERATOR CC CXX JOBS)

run("configuring the sanitizer build" ${CMAKE_COMMAND} -S ${SOURCE} -B ${BUILD}
    -G ${GENERATOR} -DCMAKE_C_COMPILER=${CC} -DCMAKE_CXX_COMPILER=${CXX}
    -DATTN_SANITIZER_BUILD=ON)
run("building it" ${CMAKE_COMMAND} --build ${BUILD} -j ${JOBS})
# Every report is an error: halt on the first, and say where.
set(ENV{ASAN_OPTIONS} "halt_on_error=1:abort_on_error=0:detect_leaks=1")
set(ENV{UBSAN_OPTIONS} "halt_on_error=1:print_stacktrace=1")
run("running its tests" ${CMAKE_CTEST_COMMAND} --test-dir ${BUILD}
    -j ${JOBS} --output-on-failure)
string(REGEX MATCH "[0-9]+% tests passed[^\n]*" summary "${last_output}")
message(STATUS "sanitizer build: ${summary}")

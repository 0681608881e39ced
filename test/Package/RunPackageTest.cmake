# Installs the build tree into WORK/install, then configures, builds and
# runs test/Package/app against it as a user would: find_package(attn).
#
#   cmake -DBUILD=<attn build> -DWORK=<scratch folder> -DAPP=<app source>
#         -DGENERATOR=... -DCXX=... -P RunPackageTest.cmake
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/ScriptSupport.cmake)
attn_require_variables(RunPackageTest.cmake BUILD WORK APP GENERATOR CXX)

file(REMOVE_RECURSE ${WORK})
run("installing attn" ${CMAKE_COMMAND} --install ${BUILD}
    --prefix ${WORK}/install)
run("configuring the application" ${CMAKE_COMMAND} -S ${APP} -B ${WORK}/app
    -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${WORK}/install)
run("building the application" ${CMAKE_COMMAND} --build ${WORK}/app)
# The runtime finds the module by a bare name in the current folder.
execute_process(COMMAND ${WORK}/app/runtime-app WORKING_DIRECTORY ${WORK}/app
                RESULT_VARIABLE status OUTPUT_VARIABLE output
                ERROR_VARIABLE output)
message(STATUS "${output}")
if(NOT status EQUAL 0)
  message(FATAL_ERROR "runtime-app failed (${status})")
endif()
run("compiler-app" ${WORK}/app/compiler-app)
message(STATUS "${last_output}")

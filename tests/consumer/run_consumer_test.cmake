# CTest packaging/consumer: install moerb into a fresh prefix and build + run a separate project
# against it, once through find_package(moerb CONFIG REQUIRED) and once through add_subdirectory.
#
#   cmake -DMOERB_SOURCE_DIR=<moerb> -DWORK_DIR=<scratch dir> [-DCMAKE_GENERATOR=Ninja]
#         [-DCMAKE_MAKE_PROGRAM=...] [-DCMAKE_CXX_COMPILER=...] [-DCMAKE_CXX_COMPILER_LAUNCHER=ccache]
#         [-DMOERB_EXPECTED_VERSION=x.y.z] [-DMOERB_QUICK=ON] -P run_consumer_test.cmake
cmake_minimum_required(VERSION 3.25)
# MOERB_QUICK=ON: the find_package round only, without the header check.
if(MOERB_QUICK)
  set(check_headers OFF)
else()
  set(check_headers ON)
endif()

foreach(var IN ITEMS MOERB_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "packaging/consumer: pass -D${var}=...")
  endif()
endforeach()
if(NOT EXISTS "${MOERB_SOURCE_DIR}/CMakeLists.txt")
  message(FATAL_ERROR "packaging/consumer: MOERB_SOURCE_DIR=${MOERB_SOURCE_DIR} is not moerb's source tree")
endif()

set(consumer_src "${MOERB_SOURCE_DIR}/tests/consumer")
set(moerb_build "${WORK_DIR}/moerb-build")
set(prefix "${WORK_DIR}/prefix")
# Configure with one prefix and install into another: the package must be relocatable.
set(configured_prefix "${WORK_DIR}/prefix-not-used")

set(common_args)
if(CMAKE_GENERATOR)
  list(APPEND common_args -G "${CMAKE_GENERATOR}")
endif()
foreach(var IN ITEMS CMAKE_MAKE_PROGRAM CMAKE_CXX_COMPILER CMAKE_CXX_COMPILER_LAUNCHER)
  if(${var})
    list(APPEND common_args "-D${var}=${${var}}")
  endif()
endforeach()
# Never pick up a moerb from the user or system package registry.
# Release (NDEBUG) at -O1: the test checks packaging and that the headers compile cleanly, not
# speed, and -O1 compiles the consumer programs in less than half the time of -O3.
list(APPEND common_args -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG"
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)

# Runs one step; on failure prints its output and stops with a message naming the step.
function(step name)
  message(STATUS "packaging/consumer: ${name}")
  string(MAKE_C_IDENTIFIER "${name}" log_name)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  file(WRITE "${WORK_DIR}/logs/${log_name}.log" "${out}")
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "packaging/consumer: step '${name}' FAILED (exit status ${rc})\n"
                        "command: ${cmd}\n"
                        "---- output ----\n${out}\n---- end of output ----\n"
                        "log: ${WORK_DIR}/logs/${log_name}.log")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/logs")

# ---- 1. install moerb (library only) into a fresh prefix ----------------------------------------
step("configure moerb for installation"
  ${CMAKE_COMMAND} -S "${MOERB_SOURCE_DIR}" -B "${moerb_build}" ${common_args}
    "-DCMAKE_INSTALL_PREFIX=${configured_prefix}"
    -DMOERB_BUILD_TESTS=OFF -DMOERB_BUILD_EXAMPLES=OFF -DMOERB_BUILD_BENCHMARKS=OFF)
step("build moerb" ${CMAKE_COMMAND} --build "${moerb_build}")
step("install moerb into ${prefix}" ${CMAKE_COMMAND} --install "${moerb_build}" --prefix "${prefix}")

set(package_dir "${prefix}/share/cmake/moerb")
foreach(f IN ITEMS moerbConfig.cmake moerbConfigVersion.cmake moerbTargets.cmake MoerbFindXsimd.cmake)
  if(NOT EXISTS "${package_dir}/${f}")
    message(FATAL_ERROR "packaging/consumer: the install lacks ${package_dir}/${f}")
  endif()
endforeach()
# Every header of the source tree is installed, and nothing else lands under include/.
file(GLOB_RECURSE src_headers RELATIVE "${MOERB_SOURCE_DIR}/include" "${MOERB_SOURCE_DIR}/include/*.hpp")
file(GLOB_RECURSE inst_files RELATIVE "${prefix}/include" "${prefix}/include/*")
list(SORT src_headers)
list(SORT inst_files)
if(NOT src_headers STREQUAL inst_files)
  message(FATAL_ERROR "packaging/consumer: installed headers differ from include/\n"
                      "source:    ${src_headers}\ninstalled: ${inst_files}")
endif()
# The installed package must not point back into the source or build tree.
file(GLOB pkg_files "${package_dir}/*.cmake")
foreach(f IN LISTS pkg_files)
  file(READ "${f}" text)
  foreach(bad IN ITEMS "${MOERB_SOURCE_DIR}" "${WORK_DIR}")
    string(FIND "${text}" "${bad}" pos)
    if(NOT pos EQUAL -1)
      message(FATAL_ERROR "packaging/consumer: ${f} contains the absolute path ${bad}")
    endif()
  endforeach()
endforeach()

# ---- 2. consumer through find_package(moerb CONFIG REQUIRED) ------------------------------------
set(build_pkg "${WORK_DIR}/consumer-package")
step("configure consumer (find_package)"
  ${CMAKE_COMMAND} -S "${consumer_src}" -B "${build_pkg}" ${common_args}
    -DMOERB_CONSUMER_MODE=package "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DMOERB_EXPECTED_VERSION=${MOERB_EXPECTED_VERSION}"
    "-DMOERB_EXPECTED_PACKAGE_DIR=${package_dir}"
    -DMOERB_CONSUMER_CHECK_HEADERS=${check_headers})
step("build consumer (find_package), and compile every header alone unless MOERB_QUICK"
  ${CMAKE_COMMAND} --build "${build_pkg}" --parallel)
step("run consumer (find_package)" "${build_pkg}/bin/moerb_consumer")
string(STRIP "${step_output}" out)
message(STATUS "packaging/consumer: ${out}")
step("run io consumer (find_package)" "${build_pkg}/bin/moerb_consumer_io")
if(EXISTS "${build_pkg}/bin/moerb_consumer_blas")
  step("run BLAS-engine consumer (find_package COMPONENTS blas)" "${build_pkg}/bin/moerb_consumer_blas")
  string(STRIP "${step_output}" out)
  message(STATUS "packaging/consumer: ${out}")
endif()

if(MOERB_QUICK)
  message(STATUS "packaging/consumer: PASSED (install + find_package; quick: no header check, no add_subdirectory)")
  return()
endif()

# ---- 3. consumer through add_subdirectory(moerb) -------------------------------------------------
set(build_sub "${WORK_DIR}/consumer-subdirectory")
step("configure consumer (add_subdirectory)"
  ${CMAKE_COMMAND} -S "${consumer_src}" -B "${build_sub}" ${common_args}
    -DMOERB_CONSUMER_MODE=subdirectory "-DMOERB_SOURCE_DIR=${MOERB_SOURCE_DIR}")
step("build consumer (add_subdirectory)" ${CMAKE_COMMAND} --build "${build_sub}" --parallel)
step("run consumer (add_subdirectory)" "${build_sub}/bin/moerb_consumer")
string(STRIP "${step_output}" out)
message(STATUS "packaging/consumer: ${out}")
step("run io consumer (add_subdirectory)" "${build_sub}/bin/moerb_consumer_io")

message(STATUS "packaging/consumer: PASSED (install + find_package, add_subdirectory)")

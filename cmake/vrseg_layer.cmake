# vrseg_layer(NAME DEPS... PRIVATE_DEPS...): a static library from every .cc (and .cu when CUDA is
# on) in the current folder. Layers list their own dependencies; folders hold their own sources,
# so adding a file needs no CMake edit.
#
# Layers named in VRSEG_TSAN_LAYERS also get a ThreadSanitizer twin, vrseg_NAME_tsan (same
# sources, -fsanitize=thread, linked to the twins of its dependencies), so that CI builds and runs a
# TSan configuration of the threaded tests next to the normal one (see tests/pipeline).
option(VRSEG_TSAN_TESTS "Also build ThreadSanitizer twins of the threaded layers and their tests" ON)
set(VRSEG_TSAN_LAYERS core profile io imgproc model engine backend pipeline)
set(VRSEG_TSAN_FLAGS -fsanitize=thread -g -O1)

function(vrseg_tsan_deps out)
  set(result)
  foreach(d ${ARGN})
    string(REGEX REPLACE "^vrseg_" "" layer "${d}")
    if(d STREQUAL "vrseg_cuda")
      # The TSan twins are CPU-only: mixing in the plain CUDA layer would also pull the plain
      # twins of its dependencies into the same link.
      continue()
    elseif(NOT layer STREQUAL d AND layer IN_LIST VRSEG_TSAN_LAYERS)
      list(APPEND result ${d}_tsan)
    else()
      list(APPEND result ${d})
    endif()
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(vrseg_layer name)
  cmake_parse_arguments(L "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  if(VRSEG_HAVE_CUDA)
    file(GLOB cu_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cu)
  endif()
  set(variants vrseg_${name})
  if(VRSEG_TSAN_TESTS AND NOT VRSEG_TSAN AND name IN_LIST VRSEG_TSAN_LAYERS)
    list(APPEND variants vrseg_${name}_tsan)
  endif()
  foreach(target ${variants})
    set(deps ${L_DEPS})
    set(pdeps ${L_PRIVATE_DEPS})
    set(target_srcs ${srcs} ${cu_srcs})
    if(target MATCHES "_tsan$")
      vrseg_tsan_deps(deps ${L_DEPS})
      vrseg_tsan_deps(pdeps ${L_PRIVATE_DEPS})
      set(target_srcs ${srcs})
    endif()
    add_library(${target} STATIC ${target_srcs})
    target_include_directories(${target}
      PUBLIC ${VRSEG_SOURCE_DIR}/include
      PRIVATE ${VRSEG_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${deps} PRIVATE ${pdeps})
    target_compile_definitions(${target} PRIVATE VRSEG_MODEL_DIR="${VRSEG_MODEL_DIR}")
    # The TSan twins are CPU-only builds (no .cu sources, no CUDA layer), so they do not see
    # VRSEG_HAVE_CUDA either: code guarded by it compiles out there.
    if(VRSEG_HAVE_CUDA AND NOT target MATCHES "_tsan$")
      target_compile_definitions(${target} PUBLIC VRSEG_HAVE_CUDA=1)
    endif()
    if(target MATCHES "_tsan$")
      target_compile_options(${target} PRIVATE ${VRSEG_TSAN_FLAGS})
      target_link_options(${target} INTERFACE -fsanitize=thread)
      set_target_properties(${target} PROPERTIES EXCLUDE_FROM_ALL OFF)
    endif()
  endforeach()
endfunction()

# vrseg_test(NAME LIBS... [TSAN]): one GoogleTest binary per layer, tests discovered by CTest.
# With TSAN, also NAME_tsan: the same tests built with ThreadSanitizer against the layers' twins.
function(vrseg_test name)
  cmake_parse_arguments(T "TSAN" "" "LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(VRSEG_HAVE_CUDA)
    file(GLOB cu_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cu)
  endif()
  if(NOT srcs AND NOT cu_srcs)
    return()
  endif()
  set(variants ${name})
  if(T_TSAN AND VRSEG_TSAN_TESTS AND NOT VRSEG_TSAN)
    list(APPEND variants ${name}_tsan)
  endif()
  foreach(target ${variants})
    set(libs ${T_LIBS})
    set(target_srcs ${srcs} ${cu_srcs})
    if(target MATCHES "_tsan$")
      vrseg_tsan_deps(libs ${T_LIBS})
      set(target_srcs ${srcs})
    endif()
    add_executable(${target} ${target_srcs})
    target_include_directories(${target} PRIVATE ${VRSEG_SOURCE_DIR}/src ${VRSEG_SOURCE_DIR}/tests)
    target_link_libraries(${target} PRIVATE ${libs} GTest::gtest GTest::gtest_main Threads::Threads)
    target_compile_definitions(${target} PRIVATE
      VRSEG_TESTDATA_DIR="${VRSEG_TESTDATA_DIR}"
      VRSEG_MODEL_DIR="${VRSEG_MODEL_DIR}"
      VRSEG_BINARY_DIR="${CMAKE_BINARY_DIR}")
    if(target MATCHES "_tsan$")
      target_compile_options(${target} PRIVATE ${VRSEG_TSAN_FLAGS})
      target_link_options(${target} PRIVATE -fsanitize=thread)
      # halt_on_error: a race fails the test instead of only printing a report.
      gtest_discover_tests(${target} TEST_PREFIX "tsan." DISCOVERY_TIMEOUT 120
        PROPERTIES TIMEOUT 900 ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1:report_mutex_bugs=0:second_deadlock_stack=1:suppressions=${VRSEG_SOURCE_DIR}/tests/tsan.supp")
    else()
      gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600)
    endif()
  endforeach()
endfunction()

# vrseg_layer(NAME DEPS...): a static library from every .cc (and .cu when CUDA is on) in the
# current folder. Layers list their own dependencies; folders hold their own sources, so adding a
# file needs no CMake edit.
function(vrseg_layer name)
  cmake_parse_arguments(L "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  if(VRSEG_HAVE_CUDA)
    file(GLOB cu_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cu)
    list(APPEND srcs ${cu_srcs})
  endif()
  add_library(vrseg_${name} STATIC ${srcs})
  target_include_directories(vrseg_${name}
    PUBLIC ${VRSEG_SOURCE_DIR}/include
    PRIVATE ${VRSEG_SOURCE_DIR}/src)
  target_link_libraries(vrseg_${name} PUBLIC ${L_DEPS} PRIVATE ${L_PRIVATE_DEPS})
  target_compile_definitions(vrseg_${name} PRIVATE VRSEG_MODEL_DIR="${VRSEG_MODEL_DIR}")
  if(VRSEG_HAVE_CUDA)
    target_compile_definitions(vrseg_${name} PUBLIC VRSEG_HAVE_CUDA=1)
  endif()
endfunction()

# vrseg_test(NAME SOURCES... LIBS...): one GoogleTest binary per layer, tests discovered by CTest.
function(vrseg_test name)
  cmake_parse_arguments(T "" "" "LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(VRSEG_HAVE_CUDA)
    file(GLOB cu_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cu)
    list(APPEND srcs ${cu_srcs})
  endif()
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  target_include_directories(${name} PRIVATE ${VRSEG_SOURCE_DIR}/src ${VRSEG_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  target_compile_definitions(${name} PRIVATE
    VRSEG_TESTDATA_DIR="${VRSEG_TESTDATA_DIR}"
    VRSEG_MODEL_DIR="${VRSEG_MODEL_DIR}"
    VRSEG_BINARY_DIR="${CMAKE_BINARY_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600)
endfunction()

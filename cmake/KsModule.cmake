# SPDX-License-Identifier: Apache-2.0
# ks_add_module(name SOURCES ... DEPS ...): one static library per component,
# so tests, benchmarks and the binary link the same code and the module graph
# is declared in one place.
function(ks_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(ks_${name} STATIC ${M_SOURCES})
  target_include_directories(ks_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(ks_${name} PRIVATE ${KS_WARNINGS})
  target_compile_definitions(ks_${name} PUBLIC _GNU_SOURCE)
  foreach(dep ${M_DEPS})
    if(dep MATCHES "::" OR dep MATCHES "^-")
      target_link_libraries(ks_${name} PUBLIC ${dep})
    else()
      target_link_libraries(ks_${name} PUBLIC ks_${dep})
    endif()
  endforeach()
endfunction()

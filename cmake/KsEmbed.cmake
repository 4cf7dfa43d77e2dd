# SPDX-License-Identifier: Apache-2.0
# ks_embed_ui(TARGET DIR): compiles every file under DIR into TARGET as a C
# array (struct http_ui_asset, src/http/http_int.h), so the dashboard ships
# inside the binary and works offline. The generated file lives in the build
# tree and is never committed (STYLE §13). The conversion is plain CMake
# (KsEmbedGen.cmake), so no xxd is needed.
function(ks_embed_ui target dir)
  file(GLOB_RECURSE assets CONFIGURE_DEPENDS RELATIVE ${dir} ${dir}/*)
  list(SORT assets)
  set(abs "")
  foreach(a ${assets})
    list(APPEND abs ${dir}/${a})
  endforeach()
  set(out ${CMAKE_BINARY_DIR}/gen/http_ui_assets.c)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DDIR=${dir} -DOUT=${out}
            -P ${CMAKE_SOURCE_DIR}/cmake/KsEmbedGen.cmake
    DEPENDS ${abs} ${CMAKE_SOURCE_DIR}/cmake/KsEmbedGen.cmake
    COMMENT "Embedding dashboard assets"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()

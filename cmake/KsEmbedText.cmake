# SPDX-License-Identifier: Apache-2.0
# ks_embed_text(TARGET FILE SYMBOL): compiles FILE into TARGET as
#   const char SYMBOL[];  (NUL-terminated)   const size_t SYMBOL_len;
# so a command can carry a default (e.g. `keysentry demo`'s template) that is
# the very file reviewed in the tree. Generated in the build tree; no xxd.
function(ks_embed_text target file symbol)
  set(out ${CMAKE_BINARY_DIR}/gen/${symbol}.c)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DSYM=${symbol}
            -P ${CMAKE_SOURCE_DIR}/cmake/KsEmbedTextGen.cmake
    DEPENDS ${file} ${CMAKE_SOURCE_DIR}/cmake/KsEmbedTextGen.cmake
    COMMENT "Embedding ${file}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()

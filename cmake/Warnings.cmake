# SPDX-License-Identifier: Apache-2.0
# One warning set for every target (gcc 12 and clang 14 both clean).
set(KS_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
    -Wformat=2 -Wwrite-strings -Wcast-qual -Wundef -Wimplicit-fallthrough -fno-common)
if(KS_WERROR)
  list(APPEND KS_WARNINGS -Werror)
endif()
if(KS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(KS_SANITIZE=1)
endif()

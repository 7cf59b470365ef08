# Writes OUT: a C++ fragment holding the bytes of SRC as
#   k_modal_script[] / k_modal_script_size
# Usage: cmake -DSRC=... -DOUT=... -P embed_script.cmake
file(READ ${SRC} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}.tmp
  "// Generated from scripts/bundled/modal_sandbox.py by plugins/modal/embed_script.cmake. Do not edit.\n"
  "static const unsigned char k_modal_script[] = {${bytes}0x00};\n"
  "static const std::size_t k_modal_script_size = ${len};\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)

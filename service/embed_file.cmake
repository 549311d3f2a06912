# Writes OUT, a C++ source defining `const char NAME[]` with the contents of
# IN as a raw string literal (service/CMakeLists.txt embeds the status page
# so that the binary serves it with no file beside it).
#   cmake -DIN=page.html -DOUT=page.cc -DNAME=kPage -P embed_file.cmake
file(READ ${IN} content)
string(FIND "${content}" ")OVERLAPD_EMBED\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter")
endif()
file(WRITE ${OUT} "// Generated from ${IN} by service/embed_file.cmake; do not edit.\nnamespace overlapd {\nextern const char ${NAME}[];\nconst char ${NAME}[] = R\"OVERLAPD_EMBED(${content})OVERLAPD_EMBED\";\n}  // namespace overlapd\n")

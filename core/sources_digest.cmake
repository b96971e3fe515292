# Writes OUTPUT as a C++ string literal holding the SHA-256 of core/'s .h and .cc files (names
# and contents, in name order), and leaves OUTPUT untouched when it has not changed, so an
# unchanged core recompiles nothing. Part of the build fingerprint (fingerprint.h).
file(GLOB sources RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/*.h ${SOURCE_DIR}/*.cc)
list(SORT sources)
set(all "")
foreach(source IN LISTS sources)
  file(SHA256 ${SOURCE_DIR}/${source} digest)
  string(APPEND all "${source} ${digest}\n")
endforeach()
string(SHA256 digest "${all}")
set(content "\"${digest}\"\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT old STREQUAL content)
  file(WRITE ${OUTPUT} "${content}")
endif()

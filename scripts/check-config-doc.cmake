# check-config-doc.cmake - ctest doc/config: docs/CONFIG.md must equal what
# `logdistd --config-doc` prints from the option table. Run with
# -DBIN=<logdistd> -DDOC=<docs/CONFIG.md>.
execute_process(COMMAND ${BIN} --config-doc OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${BIN} --config-doc failed (${rc})")
endif()
file(READ ${DOC} committed)
if(NOT generated STREQUAL committed)
  message(FATAL_ERROR "docs/CONFIG.md is stale: the option table changed. "
                      "Regenerate it with `make config-doc` and commit it.")
endif()

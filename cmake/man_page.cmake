# man_page.cmake - one manual page from its scdoc source (man/*.scd), run at
# build time with cmake -P. Arguments: -DSCDOC=<scdoc> -DIN=<page.scd>
# -DOUT=<page, roff> and, for logdistd(8), -DBIN=<logdistd>: its line
# "@OPTIONS@" is replaced by `logdistd --config-doc=scdoc` (the option table),
# so the man page lists exactly the options --help and docs/CONFIG.md list.
# Fails on any error of logdistd or scdoc (a page is never half written).
file(READ ${IN} source)
if(BIN)
  execute_process(COMMAND ${BIN} --config-doc=scdoc OUTPUT_VARIABLE options RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR options STREQUAL "")
    message(FATAL_ERROR "${BIN} --config-doc=scdoc failed (${rc})")
  endif()
  string(FIND "${source}" "\n@OPTIONS@\n" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${IN} has no @OPTIONS@ line")
  endif()
  string(REPLACE "\n@OPTIONS@\n" "\n${options}" source "${source}")
endif()
get_filename_component(name ${OUT} NAME)
set(tmp ${OUT}.scd)
file(WRITE ${tmp} "${source}")
execute_process(COMMAND ${SCDOC} INPUT_FILE ${tmp} OUTPUT_FILE ${OUT}.tmp
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "scdoc ${IN}: ${err}")
endif()
# no hyphenation: an option name split over two lines cannot be copied (the man
# macros' .TH turns it back on after scdoc's .nh; HY is the register it reads)
file(READ ${OUT}.tmp roff)
string(REGEX REPLACE "\n\\.TH " "\n.nr HY 0\n.TH " roff "${roff}")
file(WRITE ${OUT}.tmp "${roff}")
file(RENAME ${OUT}.tmp ${OUT})

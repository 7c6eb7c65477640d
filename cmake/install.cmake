# install.cmake - `make install` (cmake --install) and the manual pages.
# Included by CMakeLists.txt after the targets. GNUInstallDirs paths, so PREFIX
# (CMAKE_INSTALL_PREFIX) and DESTDIR are respected; with PREFIX=/usr the config
# goes to /etc/logdist and the unit to systemd's unit directory, with another
# prefix both stay under it (PREFIX/etc/logdist, PREFIX/lib/systemd/system).
#
#   sbin/logdistd                      bin/logdistctl, logdist-gen, logdist-analyzer, logdist-faultproxy
#   share/man/man8/logdistd.8          share/man/man1/<tool>.1   (from man/*.scd by scdoc)
#   SYSCONFDIR/logdist/logdistd.json   (packaging/logdistd.json, the sample config)
#   <unit dir>/logdistd.service        (packaging/logdistd.service.in)
#   share/doc/logdist/                 README.md, docs/*.md
include(GNUInstallDirs)
find_program(SCDOC scdoc REQUIRED)

# --- manual pages: build/man/<name>.<section>
set(MAN_OUT ${CMAKE_BINARY_DIR}/man)
file(MAKE_DIRECTORY ${MAN_OUT})
set(MAN_PAGES "")
file(GLOB MAN_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.scd)
foreach(src ${MAN_SOURCES})
  get_filename_component(page ${src} NAME)
  string(REGEX REPLACE "\\.scd$" "" page ${page})  # logdistd.8
  set(extra "")
  set(deps ${src} ${CMAKE_SOURCE_DIR}/cmake/man_page.cmake)
  if(page STREQUAL "logdistd.8")   # its option list comes from the option table
    set(extra -DBIN=$<TARGET_FILE:logdistd>)
    list(APPEND deps logdistd)
  endif()
  add_custom_command(OUTPUT ${MAN_OUT}/${page}
    COMMAND ${CMAKE_COMMAND} -DSCDOC=${SCDOC} -DIN=${src} -DOUT=${MAN_OUT}/${page} ${extra}
            -P ${CMAKE_SOURCE_DIR}/cmake/man_page.cmake
    DEPENDS ${deps} COMMENT "man page ${page}")
  list(APPEND MAN_PAGES ${MAN_OUT}/${page})
  string(REGEX REPLACE "^.*\\." "" section ${page})
  install(FILES ${MAN_OUT}/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man ALL DEPENDS ${MAN_PAGES})

# --- binaries: the daemon in sbin (section 8), the tools in bin
install(TARGETS logdistd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS logdistctl logdist-gen logdist-analyzer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET logdist-faultproxy)
  install(TARGETS logdist-faultproxy RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# --- sample config and systemd unit
set(LOGDIST_CONFIG_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logdist)
# -DLOGDIST_SYSTEMD_UNIT_DIR=... overrides; else derived from PREFIX on every configure
if(DEFINED CACHE{LOGDIST_SYSTEMD_UNIT_DIR})
  set(unit_dir ${LOGDIST_SYSTEMD_UNIT_DIR})
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  pkg_get_variable(unit_dir systemd systemdsystemunitdir)
endif()
if(NOT unit_dir)
  set(unit_dir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(LOGDIST_SBIN ${CMAKE_INSTALL_FULL_SBINDIR})
configure_file(${CMAKE_SOURCE_DIR}/packaging/logdistd.service.in
               ${CMAKE_BINARY_DIR}/packaging/logdistd.service @ONLY)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/logdistd.json DESTINATION ${LOGDIST_CONFIG_DIR})
install(FILES ${CMAKE_BINARY_DIR}/packaging/logdistd.service DESTINATION ${unit_dir})

# --- documentation
file(GLOB DOC_FILES ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${DOC_FILES} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# tests/integration/test_packaging.py runs `make install` on this build tree:
# `ctest -L packaging`; alone, as it re-runs the build (a no-op when up to date).
if(TEST integration/test_packaging)
  set_tests_properties(integration/test_packaging PROPERTIES LABELS "integration;packaging"
                       RUN_SERIAL TRUE)
endif()

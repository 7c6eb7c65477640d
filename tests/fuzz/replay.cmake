# tests/fuzz/replay.cmake - registers every libFuzzer target's stored inputs as ctest
# replays (included from the top-level CMakeLists.txt, after the unit tests).
#
# For each tests/fuzz/fuzz_<name>.c: an executable replay_fuzz_<name> built with the
# project's compiler and flags (so `make test-asan` replays under ASan + UBSan) from
# tests/fuzz/replay_main.c + the target source, linked with logdist_core; and a test
# unit/fuzz_replay_<name> (label unit) that runs the target's LLVMFuzzerTestOneInput
# over tests/fuzz/corpus/<name>/ and tests/fuzz/regressions/<name>/. Both directories
# must exist (an empty regressions dir holds a .gitkeep) and at least one input must be
# found, or the test fails: a replay with nothing to replay is a defect.
#
# tests/fuzz/open/<name>/FILE (optional): a finding that is known and not fixed yet can be
# parked there instead of regressions/, so `make test` stays green while it is open. Each
# such file is its own test unit/fuzz_open_<name>/FILE (replay_<name> --open FILE): it
# passes while the input still breaks the target and fails once the bug is fixed, which
# is the signal to `git mv` the file to regressions/<name>/.
file(GLOB LOGDIST_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(src ${LOGDIST_FUZZ_TARGETS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(replay_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c ${src})
  target_include_directories(replay_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz)
  target_link_libraries(replay_${name} logdist_core)
  set_target_properties(replay_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME unit/fuzz_replay_${name}
           COMMAND replay_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name}
                   ${CMAKE_SOURCE_DIR}/tests/fuzz/regressions/${name})
  set_tests_properties(unit/fuzz_replay_${name} PROPERTIES TIMEOUT 600 LABELS unit)
  file(GLOB open_inputs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/open/${name}/*)
  foreach(input ${open_inputs})
    get_filename_component(input_name ${input} NAME)
    add_test(NAME unit/fuzz_open_${name}/${input_name} COMMAND replay_${name} --open ${input})
    set_tests_properties(unit/fuzz_open_${name}/${input_name} PROPERTIES TIMEOUT 120 LABELS unit)
  endforeach()
endforeach()

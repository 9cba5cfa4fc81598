# Compile-fail tests: each file must NOT compile, and the compiler output must contain the text after
# "// EXPECT:" on its first line (a regular expression): the capability and the backend. Each file also has a
# control build (-DRK_CONTROL) that must compile, so a test cannot pass because of an unrelated error.
# The compiler is invoked directly (not through the build tool), so these tests may run in parallel.
file(GLOB _rk_cf_sources CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/ir/compile_fail/*.cpp")
foreach(_rk_cf IN LISTS _rk_cf_sources)
  get_filename_component(_rk_cf_name "${_rk_cf}" NAME_WE)
  file(STRINGS "${_rk_cf}" _rk_cf_expect LIMIT_COUNT 1 REGEX "^// EXPECT: ")
  string(REGEX REPLACE "^// EXPECT: " "" _rk_cf_expect "${_rk_cf_expect}")
  if(NOT _rk_cf_expect)
    message(FATAL_ERROR "${_rk_cf}: first line must be '// EXPECT: <regex>'")
  endif()
  set(_rk_cf_cmd "${CMAKE_CXX_COMPILER}" -std=c++20 -fsyntax-only "-I${PROJECT_SOURCE_DIR}/include" "${_rk_cf}")
  add_test(NAME ir.compile_fail.${_rk_cf_name} COMMAND ${_rk_cf_cmd})
  set_tests_properties(ir.compile_fail.${_rk_cf_name} PROPERTIES
    LABELS ir
    PASS_REGULAR_EXPRESSION "${_rk_cf_expect}"
    TIMEOUT 120)
  add_test(NAME ir.compile_fail.${_rk_cf_name}.control COMMAND ${_rk_cf_cmd} -DRK_CONTROL)
  set_tests_properties(ir.compile_fail.${_rk_cf_name}.control PROPERTIES LABELS ir TIMEOUT 120)
endforeach()

# What the test scripts run with `cmake -P` share: the variables they need,
# and running a step that must succeed.

# Stops with an error naming the first of ARGN that `script` was not given.
function(attn_require_variables script)
  foreach(variable ${ARGN})
    if(NOT DEFINED ${variable})
      message(FATAL_ERROR "${script} needs -D${variable}=...")
    endif()
  endforeach()
endfunction()

# Runs ARGN; stops with its output unless it succeeds. Its output is left in
# `last_output`.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status
                  OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${what} failed (${status}):\n${output}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${output}" PARENT_SCOPE)
endfunction()

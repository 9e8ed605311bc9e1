# SPDX-License-Identifier: Apache-2.0
# agent_runner_add_plugin(<target> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [INSTALL_DESTINATION <dir>] [COMPONENT <c>])
#
# Builds a sandbox plugin as a MODULE library named <target>.so with hidden visibility, exporting
# only `agent_runner_plugin_entry` (a linker version script), with no undefined symbols left.
# Used in-tree and shipped to operators by the agent-runner-dev package.


function(agent_runner_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY;INSTALL_DESTINATION;COMPONENT" "SOURCES" ${ARGN})
  # The version script sits beside this file, in-tree and installed alike.
  set(_AGENT_RUNNER_PLUGIN_MAP ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/plugin.map)
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "agent_runner_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE AgentRunner::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LINK_DEPENDS ${_AGENT_RUNNER_PLUGIN_MAP})
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${_AGENT_RUNNER_PLUGIN_MAP}" "LINKER:-z,defs" "LINKER:--as-needed")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
    # The host refuses plugins writable by group or others; keep build outputs safe whatever
    # the umask was.
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND chmod go-w $<TARGET_FILE:${target}> ${ARG_OUTPUT_DIRECTORY} VERBATIM)
  endif()
  if(ARG_INSTALL_DESTINATION)
    if(NOT ARG_COMPONENT)
      set(ARG_COMPONENT ${target})
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${ARG_INSTALL_DESTINATION} COMPONENT ${ARG_COMPONENT})
  endif()
endfunction()

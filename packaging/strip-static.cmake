# CPack pre-build script (CPACK_PRE_BUILD_SCRIPTS, packaging/CPackConfig.cmake): strips debug
# information from the staged static archives (libcordon-host.a: ~89 MB with it, what
# dh_strip and rpmbuild's brp-strip-static-archive would do). Symbols stay, so the archive
# still links.
file(GLOB_RECURSE archives "${CPACK_TEMPORARY_DIRECTORY}/*.a")
foreach(archive ${archives})
  execute_process(COMMAND strip --strip-debug --remove-section=.comment "${archive}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "strip-static: strip --strip-debug ${archive} failed")
  endif()
endforeach()

# CPack pre-build script (CPACK_PRE_BUILD_SCRIPTS, packaging/CPackConfig.cmake): removes the
# Debian-only files from the staged tree before the RPM generator lists it. The install rules
# are shared by both generators, but lintian's overrides (/usr/share/lintian) and Debian's
# changelog.Debian.gz mean nothing on an rpm system; rpm keeps its own changelog in the header.
if(NOT CPACK_GENERATOR STREQUAL "RPM")
  return()
endif()
file(GLOB_RECURSE debian_only LIST_DIRECTORIES true "${CPACK_TEMPORARY_DIRECTORY}/*")
foreach(path ${debian_only})
  if(path MATCHES "/usr/share/lintian$" OR path MATCHES "/changelog\\.Debian\\.gz$")
    file(REMOVE_RECURSE "${path}")
  endif()
endforeach()

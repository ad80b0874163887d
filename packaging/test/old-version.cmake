# CPack pre-build script for the older-version packages that packaging/test/upgrade.sh builds
# (release 1, i.e. 0.1.0-1, from the same tree): makes the staged files what an upgrade test
# needs to differ.
# - .deb: adds /etc/cordon/cordon.conf, the conffile 0.1.0-1 shipped and 0.1.0-2 replaced by
#   serve.env (debian/preinst, postinst and postrm remove it with dpkg-maintscript-helper);
#   serve.env is left as the new package has it, so that dpkg keeps a local change silently.
# - .rpm: changes serve.env, so that the new package's differs and rpm has to decide between
#   the administrator's copy and the new one (%config(noreplace): keep it, new one .rpmnew).
file(GLOB_RECURSE staged "${CPACK_TEMPORARY_DIRECTORY}/*")
set(found FALSE)
foreach(path ${staged})
  if(NOT path MATCHES "/etc/cordon/serve\\.env$")
    continue()
  endif()
  set(found TRUE)
  if(CPACK_GENERATOR STREQUAL "DEB")
    get_filename_component(dir "${path}" DIRECTORY)
    file(WRITE "${dir}/cordon.conf"
         "# /etc/cordon/cordon.conf of cordon 0.1.0-1: read by nothing, removed in 0.1.0-2.\n")
  elseif(CPACK_GENERATOR STREQUAL "RPM")
    file(APPEND "${path}" "# (as shipped by cordon 0.1.0-1)\n")
  endif()
endforeach()
if(NOT found)
  message(FATAL_ERROR "old-version: no staged etc/cordon/serve.env below ${CPACK_TEMPORARY_DIRECTORY}")
endif()

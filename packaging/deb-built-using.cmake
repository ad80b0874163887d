# CPack post-build script (CPACK_POST_BUILD_SCRIPTS, packaging/CPackConfig.cmake): adds the
# Built-Using field to the cordon .deb. CPack writes the control file itself and has no
# variable for this field, so the finished package is unpacked with dpkg-deb, the field added
# after Depends, and the package rebuilt in place (before CPack copies it out and writes its
# checksum). Runs for every generator; only acts on the cordon .deb.
if(NOT CPACK_GENERATOR STREQUAL "DEB" OR NOT CPACK_CORDON_BUILT_USING)
  return()
endif()
foreach(deb ${CPACK_PACKAGE_FILES})
  get_filename_component(name "${deb}" NAME)
  if(NOT name MATCHES "^${CPACK_CORDON_MAIN_DEB_NAME}_.*\\.deb$")
    continue()
  endif()
  set(tree "${deb}.tree")
  file(REMOVE_RECURSE "${tree}")
  execute_process(COMMAND dpkg-deb -R "${deb}" "${tree}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "deb-built-using: dpkg-deb -R ${deb} failed")
  endif()
  file(READ "${tree}/DEBIAN/control" control)
  if(control MATCHES "\nBuilt-Using:")
    message(FATAL_ERROR "deb-built-using: ${name} already has Built-Using")
  endif()
  string(REGEX REPLACE "(\nDepends:[^\n]*)" "\\1\nBuilt-Using: ${CPACK_CORDON_BUILT_USING}"
         control "${control}")
  if(NOT control MATCHES "\nBuilt-Using:")
    message(FATAL_ERROR "deb-built-using: no Depends line in ${name}'s control file")
  endif()
  file(WRITE "${tree}/DEBIAN/control" "${control}")
  # Same owner (root) and file modes as CPack's; xz as dpkg-deb defaults to.
  execute_process(COMMAND dpkg-deb --root-owner-group -Zxz -b "${tree}" "${deb}"
                  OUTPUT_QUIET RESULT_VARIABLE rc)
  file(REMOVE_RECURSE "${tree}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "deb-built-using: dpkg-deb -b ${deb} failed")
  endif()
endforeach()

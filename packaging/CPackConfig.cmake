# CPack: one `cpack -G "DEB;RPM"` (scripts/package.sh) builds both packages from the install
# rules of every module. Included from packaging/CMakeLists.txt.

set(CPACK_PACKAGE_NAME "cordon")
# Debian revision / rpm release of the packaging; debian/changelog's newest entry must match.
set(CORDON_PACKAGE_RELEASE 3)
set(CPACK_PACKAGE_VENDOR "The cordon authors")
set(CPACK_PACKAGE_CONTACT "cordon maintainers <cordon@lists.example.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "sandbox launcher for untrusted plugins")
# Long description: lines under 80 columns (lintian), CPack indents them for the control file.
set(CPACK_PACKAGE_DESCRIPTION [=[cordon runs untrusted plugins and programs on Linux in a sandbox: fresh user,
pid, mount, network, IPC, UTS and cgroup namespaces, no capabilities,
no_new_privs, a seccomp system call allowlist from a profile, and memory, pids
and CPU quotas enforced with cgroups and rlimits. System calls outside the
allowlist are reported to the launcher, recorded in a hash-chained JSON Lines
audit log and refused or punished as the profile says.
.
This package contains the cordon command (cordon run, cordon call, cordon
serve, cordon profile, cordon audit), the shipped sandbox profiles, man pages,
and a systemd unit for the cordon serve daemon, which is installed but not
enabled.]=])
# The host library's development files (headers, libcordon-host.a, cordon-host.pc).
set(CORDON_DEV_DESCRIPTION [=[cordon runs untrusted plugins and programs on Linux in a sandbox (see the
cordon package). This package contains what a C++20 host application needs to
load, run and call sandboxed plugins in-process: the headers of the cordon host
library, the static archive libcordon-host.a and the pkg-config file
cordon-host.pc. The library's own dependencies (protobuf, Abseil, libseccomp,
libcap, OpenSSL) come from their -dev packages.]=])
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/cordon-sandbox/cordon")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_CURRENT_SOURCE_DIR}/copyright)
set(CPACK_PACKAGE_CHECKSUM SHA256)
set(CPACK_STRIP_FILES ON)
# CPACK_STRIP_FILES strips executables only; the static archive is stripped of debug sections.
# The rpm drops the Debian-only files (lintian overrides, changelog.Debian.gz).
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_SOURCE_DIR}/strip-static.cmake
    ${CMAKE_CURRENT_SOURCE_DIR}/rpm-prune.cmake)
# Two packages from two install components: "Unspecified" (every install rule without a
# COMPONENT: the binary, profiles, unit, man pages) becomes `cordon`; "dev" (the host library's
# archive, headers and .pc, launcher/host and packaging/CMakeLists.txt) becomes `cordon-dev`, so
# that installing the launcher does not pull in five -dev packages.
set(CPACK_COMPONENTS_ALL Unspecified dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING IGNORE)
# /etc, the systemd directories and the man pages are absolute or outside the prefix; stage
# through DESTDIR so that they land in the package, never on the build machine.
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_SET_DESTDIR OFF)

# --- Debian -----------------------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${CORDON_PACKAGE_RELEASE})
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_NAME "cordon")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME "cordon-dev")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_UNSPECIFIED_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_DEBIAN_DEV_DESCRIPTION "${CORDON_DEV_DESCRIPTION}")
# cordon: library dependencies come from dpkg-shlibdeps on the installed binary (libc6 only:
# everything else is linked statically, see Built-Using below). Nothing else: the maintainer
# scripts use systemd-sysusers/systemd-tmpfiles when present and fall back to groupadd
# (package passwd, priority required) and mkdir otherwise; dpkg-maintscript-helper is dpkg's.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
# cordon-dev: what `pkg-config --cflags --libs --static cordon-host` names (cordon-host.pc's
# Requires and Requires.private), plus cordon itself for the shipped profiles that
# LoadedPlugin::Load looks up by name. Header-only users need no more than this either: the
# installed headers include protobuf's and Abseil's.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "cordon (= ${PROJECT_VERSION}-${CORDON_PACKAGE_RELEASE}), libprotobuf-dev (>= 3.21), libabsl-dev, libseccomp-dev (>= 2.5), libcap-dev, libssl-dev")
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/preinst
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Built-Using (Debian policy 7.8): the binary contains code of these source packages, linked
# statically (CMakeLists.txt, CORDON_STATIC_DEPS): Abseil, protobuf, libseccomp, libcap,
# OpenSSL's libcrypto, and libstdc++/libgcc (-static-libstdc++ -static-libgcc). The versions
# are the ones installed on the build machine, read from the packages that own the archives.
# CPack has no variable for this field, so packaging/deb-built-using.cmake (a post-build
# script) adds it to the finished cordon .deb.
set(CORDON_BUILT_USING "")
if(CORDON_STATIC_DEPS AND NOT CORDON_SANITIZE)
  find_program(CORDON_DPKG_QUERY dpkg-query)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.a
                  OUTPUT_VARIABLE _libstdcxx OUTPUT_STRIP_TRAILING_WHITESPACE)
  get_filename_component(_libstdcxx "${_libstdcxx}" REALPATH)
  set(_archives "${_libstdcxx}")
  foreach(lib absl_base protobuf seccomp cap crypto)
    find_library(_cordon_archive_${lib} NAMES lib${lib}.a)
    if(_cordon_archive_${lib})
      get_filename_component(_real "${_cordon_archive_${lib}}" REALPATH)
      list(APPEND _archives "${_real}")
    endif()
  endforeach()
  if(CORDON_DPKG_QUERY)
    set(_sources)
    foreach(archive ${_archives})
      execute_process(COMMAND dpkg-query -S "${archive}" OUTPUT_VARIABLE _owner
                      ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
      if(NOT _rc EQUAL 0)
        continue()
      endif()
      string(REGEX REPLACE ":.*$" "" _owner "${_owner}")
      execute_process(COMMAND ${CORDON_DPKG_QUERY} -W "-f=\${source:Package} (= \${source:Version})"
                              "${_owner}"
                      OUTPUT_VARIABLE _source OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
      if(_rc EQUAL 0 AND _source)
        list(APPEND _sources "${_source}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES _sources)
    list(SORT _sources)
    list(JOIN _sources ", " CORDON_BUILT_USING)
  endif()
endif()
set(CPACK_CORDON_BUILT_USING "${CORDON_BUILT_USING}")
set(CPACK_CORDON_MAIN_DEB_NAME "cordon")
set(CPACK_POST_BUILD_SCRIPTS ${CMAKE_CURRENT_SOURCE_DIR}/deb-built-using.cmake)

# --- RPM --------------------------------------------------------------------------------------
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE ${CORDON_PACKAGE_RELEASE})
set(CPACK_RPM_MAIN_COMPONENT Unspecified)
set(CPACK_RPM_DEV_PACKAGE_NAME "cordon-dev")
set(CPACK_RPM_DEV_PACKAGE_SUMMARY "cordon host library: headers, static archive, pkg-config file")
# SPDX (Fedora's current form). cordon itself is Apache-2.0; the binary in the main package
# also contains the statically linked libraries listed in packaging/copyright. (CPack 3.25 has
# no per-component License, so cordon-dev carries the same expression.)
set(CPACK_RPM_PACKAGE_LICENSE
    "Apache-2.0 AND BSD-3-Clause AND LGPL-2.1-only AND (BSD-3-Clause OR GPL-2.0-only) AND GPL-3.0-or-later WITH GCC-exception-3.1")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Base")
set(CPACK_RPM_PACKAGE_URL ${CPACK_PACKAGE_HOMEPAGE_URL})
# rpm separates paragraphs with an empty line where Debian writes " .".
string(REPLACE "\n.\n" "\n\n" CPACK_RPM_UNSPECIFIED_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_RPM_DEV_PACKAGE_DESCRIPTION "${CORDON_DEV_DESCRIPTION}")
# rpmbuild's find-requires adds the library requirements, and for cordon-dev its pkgconfig
# generator turns cordon-host.pc's Requires and Requires.private into pkgconfig(protobuf),
# pkgconfig(libseccomp), ... (provided by the -devel packages); package-test.sh checks them.
set(CPACK_RPM_DEV_PACKAGE_REQUIRES "cordon = ${PROJECT_VERSION}-${CORDON_PACKAGE_RELEASE}")
# The scriptlets (rpm/pre.sh, rpm/post.sh) create the group with systemd-sysusers or else
# groupadd, and the directories with systemd-tmpfiles or else mkdir; rpm installs what a
# scriptlet needs before running it only when it is declared. Rich dependencies (rpm >= 4.13)
# say exactly "one of the two".
set(CPACK_RPM_UNSPECIFIED_PACKAGE_REQUIRES_PRE
    "(/usr/bin/systemd-sysusers or /usr/sbin/groupadd), /usr/bin/getent")
set(CPACK_RPM_UNSPECIFIED_PACKAGE_REQUIRES_POST
    "(/usr/bin/systemd-tmpfiles or /usr/bin/mkdir)")
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_AUTOPROV ON)
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
# Never own directories that belong to the base system (on Fedora /lib is a symlink).
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc /var /var/lib /usr/lib64/pkgconfig /usr/lib/systemd /usr/lib/systemd/system /usr/lib/sysusers.d /usr/lib/tmpfiles.d
    /usr/share/man /usr/share/man/man1 /usr/share/man/man5 /usr/share/doc)
# No /usr/lib/.build-id links: the package ships no debuginfo subpackage to match them.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")
set(CPACK_RPM_UNSPECIFIED_USER_FILELIST
    "%config(noreplace) /etc/cordon/serve.env"
    "%dir /etc/cordon/profiles"
    "%dir /var/lib/cordon"
    "%dir /var/lib/cordon/data")
set(CPACK_RPM_UNSPECIFIED_PRE_INSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/pre.sh)
set(CPACK_RPM_UNSPECIFIED_POST_INSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/post.sh)
set(CPACK_RPM_UNSPECIFIED_POST_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/postun.sh)

include(CPack)

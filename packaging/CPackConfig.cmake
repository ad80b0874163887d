# CPack: one `cpack -G "DEB;RPM"` (scripts/package.sh) builds both packages from the install
# rules of every module. Included from packaging/CMakeLists.txt.

set(CPACK_PACKAGE_NAME "cordon")
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
This package contains the cordon command (cordon run, cordon profile,
cordon audit), the shipped sandbox profiles, man pages, and a systemd unit for
the cordon daemon, which is installed but not enabled.]=])
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/cordon-sandbox/cordon")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_CURRENT_SOURCE_DIR}/copyright)
set(CPACK_PACKAGE_CHECKSUM SHA256)
set(CPACK_STRIP_FILES ON)
# Package the whole install tree as one component.
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_RPM_COMPONENT_INSTALL OFF)
# /etc, the systemd directories and the man pages are absolute or outside the prefix; stage
# through DESTDIR so that they land in the package, never on the build machine.
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_SET_DESTDIR OFF)

# --- Debian -----------------------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Library dependencies come from dpkg-shlibdeps on the installed binary.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
# Nothing else: the maintainer scripts use systemd-sysusers/systemd-tmpfiles when present and
# fall back to groupadd (package passwd, priority required) and mkdir otherwise.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# --- RPM --------------------------------------------------------------------------------------
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE "ASL 2.0")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Base")
set(CPACK_RPM_PACKAGE_URL ${CPACK_PACKAGE_HOMEPAGE_URL})
# rpm separates paragraphs with an empty line where Debian writes " .".
string(REPLACE "\n.\n" "\n\n" CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
# rpmbuild's find-requires adds the library requirements.
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_AUTOPROV ON)
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
# Never own directories that belong to the base system (on Fedora /lib is a symlink).
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc /usr/lib/systemd /usr/lib/systemd/system /usr/lib/sysusers.d /usr/lib/tmpfiles.d
    /usr/share/man /usr/share/man/man1 /usr/share/man/man5 /usr/share/doc /usr/share/lintian
    /usr/share/lintian/overrides)
# No /usr/lib/.build-id links: the package ships no debuginfo subpackage to match them.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")
set(CPACK_RPM_USER_FILELIST
    "%config(noreplace) /etc/cordon/cordon.conf"
    "%dir /etc/cordon/profiles")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/post.sh)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/postun.sh)

include(CPack)

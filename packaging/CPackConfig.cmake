# CPack: one `cpack -G "DEB;RPM"` (scripts/package.sh) builds both packages from the install
# rules of every module. Included from packaging/CMakeLists.txt.

set(CPACK_PACKAGE_NAME "cordon")
set(CPACK_PACKAGE_VENDOR "The cordon authors")
set(CPACK_PACKAGE_CONTACT "cordon maintainers <cordon@lists.example.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "sandbox launcher for untrusted plugins")
set(CPACK_PACKAGE_DESCRIPTION
    "cordon runs untrusted plugins and programs in fresh Linux namespaces with no capabilities, \
no_new_privs, a seccomp syscall allowlist and cgroup quotas, and records what they do in a \
hash-chained audit log.")
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
# The maintainer scripts use systemd-sysusers/systemd-tmpfiles when present and fall back to
# groupadd (package passwd, priority required) and mkdir otherwise.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bubblewrap")
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
# rpmbuild's find-requires adds the library requirements.
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_AUTOPROV ON)
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
# Never own directories that belong to the base system (on Fedora /lib is a symlink).
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc /lib /lib/systemd /lib/systemd/system /usr/lib/systemd /usr/lib/systemd/system
    /usr/lib/sysusers.d /usr/lib/tmpfiles.d /usr/share/man /usr/share/man/man1
    /usr/share/man/man5 /usr/share/doc)
set(CPACK_RPM_USER_FILELIST
    "%config(noreplace) /etc/cordon/cordon.conf"
    "%dir /etc/cordon/profiles")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/post.sh)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/postun.sh)

include(CPack)

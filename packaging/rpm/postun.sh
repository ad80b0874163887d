# cordon %postun: on erase (not upgrade, $1 = 0) forget the unit. Audit logs in /var/log/cordon
# are kept, as RPM does for files it did not install.
if [ "$1" = 0 ] && [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || :
fi
# The compiled cache (seccomp programs, parsed profiles) is regenerated on demand: it goes on erase.
if [ "$1" = 0 ]; then
  rm -rf /var/cache/cordon
fi

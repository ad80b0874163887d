# cordon %pre: the control-socket group, before any file is installed (Fedora's sysusers
# convention). Requires(pre) in packaging/CPackConfig.cmake declares systemd-sysusers or
# groupadd, and getent. The sysusers.d file is not installed yet, so its line is given inline.
if command -v systemd-sysusers >/dev/null 2>&1; then
  echo 'g cordon -' | systemd-sysusers --replace=/usr/lib/sysusers.d/cordon.conf - || :
elif ! getent group cordon >/dev/null; then
  groupadd --system cordon || :
fi

# cordon %post: control-socket group and audit log directory. cordon.service is installed but
# neither enabled nor started (systemctl enable --now cordon when wanted).
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers cordon.conf || :
elif ! getent group cordon >/dev/null; then
  groupadd --system cordon || :
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
  systemd-tmpfiles --create cordon.conf || :
else
  mkdir -p /var/log/cordon && chmod 0750 /var/log/cordon || :
fi
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || :
fi

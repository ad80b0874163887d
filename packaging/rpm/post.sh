# cordon %post: the audit log directory, root:adm 2750 (tmpfiles.d/cordon.conf says why;
# Requires(post) declares systemd-tmpfiles or mkdir). The group comes from %pre.
# cordon.service is installed but neither enabled nor started (systemctl enable --now cordon
# when wanted).
if command -v systemd-tmpfiles >/dev/null 2>&1; then
  systemd-tmpfiles --create cordon.conf || :
else
  mkdir -p /var/log/cordon && chown root:adm /var/log/cordon && chmod 2750 /var/log/cordon || :
fi
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || :
fi

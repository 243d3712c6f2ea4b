# dbs-gateway %postun ($1 = 0 on erase, 1 on upgrade): reload systemd; on
# upgrade restart what was running. rpm has no purge: an edited gateway.toml
# is kept as gateway.toml.rpmsave, and /var/lib/dbs-gateway and
# /var/lib/dbs-control stay; remove them by hand to drop all state.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart dbs-gateway.service dbs-control.service >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 0 ]; then
    rmdir /etc/dbs-gateway 2>/dev/null || :
fi
exit 0

# dbs-gateway %post ($1 = 1 on install, 2 on upgrade): the configuration
# directory's owner, the state directories, and systemd's view of the units.
# Neither unit is enabled here: the shipped gateway.toml is not configured.
chown root:dbs-gateway /etc/dbs-gateway && chmod 0750 /etc/dbs-gateway
# dbs-control's dir holds key secrets: owner only.
for entry in dbs-gateway:0750 dbs-control:0700; do
    user=${entry%%:*}
    [ -d "/var/lib/$user" ] || install -d -o "$user" -g "$user" -m "${entry##*:}" "/var/lib/$user"
done
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0

# dbs-gateway %pre: create the system users (and their groups) before rpm lays
# down /etc/dbs-gateway/gateway.toml, which is owned by group dbs-gateway.
# Same users as /usr/lib/sysusers.d/dbs-gateway.conf.
for user in dbs-gateway dbs-control; do
    getent group "$user" >/dev/null || groupadd -r "$user"
    getent passwd "$user" >/dev/null ||
        useradd -r -g "$user" -d "/var/lib/$user" -M -s /sbin/nologin -c "$user service" "$user"
done
exit 0

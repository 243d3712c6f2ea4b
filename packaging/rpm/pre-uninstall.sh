# dbs-gateway %preun ($1 = 0 on erase, 1 on upgrade): stop and disable the
# units when the package goes away for good.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now dbs-gateway.service dbs-control.service >/dev/null 2>&1 || :
fi
exit 0

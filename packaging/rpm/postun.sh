# chillfi %postun ($1 = 0 erase, >= 1 upgrade). An upgrade restarts a running service with the
# new binary. Erasing keeps /etc/chillfi/config.toml if changed (as .rpmsave), /var/lib/chillfi
# and the user: RPM has no purge; see /usr/share/doc/chillfi/packaging.md.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart chillfi.service >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 0 ]; then
    # The package lists files only: drop its directories once they are empty.
    for d in /usr/share/chillfi/plugins/* /usr/share/chillfi/plugins /usr/share/chillfi \
        /usr/share/doc/chillfi /etc/chillfi; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
fi
exit 0

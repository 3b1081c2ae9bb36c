# chillfi %preun ($1 = 0 erase, >= 1 upgrade): stop and disable on erase only.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now chillfi.service >/dev/null 2>&1 || :
    elif command -v systemctl >/dev/null 2>&1; then
        systemctl disable chillfi.service >/dev/null 2>&1 || :
    fi
fi
exit 0

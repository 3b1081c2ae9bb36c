# chillfi %post ($1 = 1 install, >= 2 upgrade). Generates no secrets: the server creates its
# signing secret on first start. Directories are created only when missing, so an admin's own
# ownership, mode, symlink or mount stays.
[ -e /var/lib/chillfi ] || install -d -o chillfi -g chillfi -m 0750 /var/lib/chillfi
# Group-writable and setgid: members of the group chillfi can drop files into the inbox.
# failed/ and done/ (rejected and imported files) too, so that group members can clear them.
[ -e /var/lib/chillfi/inbox ] || [ -L /var/lib/chillfi/inbox ] || \
    install -d -o chillfi -g chillfi -m 2775 /var/lib/chillfi/inbox \
        /var/lib/chillfi/inbox/failed /var/lib/chillfi/inbox/done
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl enable --now chillfi.service >/dev/null 2>&1 || :
    fi
elif [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    # No running systemd (image build, chroot): enable only, it starts on the next boot.
    systemctl enable chillfi.service >/dev/null 2>&1 || :
fi
exit 0

# chillfi %pre: the system user and group, before the files that belong to the group land.
getent group chillfi >/dev/null || groupadd --system chillfi
getent passwd chillfi >/dev/null || useradd --system --gid chillfi --home-dir /var/lib/chillfi \
    --no-create-home --shell /sbin/nologin --comment "ChillFi music server" chillfi
exit 0

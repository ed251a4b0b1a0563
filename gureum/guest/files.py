"""The guest's own files: busybox init's table, boot and shutdown scripts, hooks.

Kept as Python strings, not package data files, so they travel with the code
whatever way gureum is installed. Everything runs under busybox ash.
"""

from __future__ import annotations

# The banner tests, benchmarks and people look for on the serial console.
BANNER_PREFIX = "gureum guest"

INITTAB = """\
::sysinit:/etc/init.d/rcS
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/bin/reboot
::shutdown:/etc/init.d/rcK
"""

RC_S = r"""#!/bin/sh
# gureum guest, boot: run once by busybox init before the console shell.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# Messages carry the guest's uptime, like the kernel's, to show where boot time goes.
say() { echo "gureum guest: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir -p /run/gureum /var/log /mnt/config /root/.ssh

# Modules in dependency order (the kernel package has no modules.dep).
while read -r module; do
    insmod "/lib/modules/$module.ko" || say "could not load module $module"
done < /etc/gureum/modules

# Power button -> poweroff, so QMP system_powerdown stops the guest gracefully.
acpid -c /etc/acpi -l /var/log/acpid.log

ip link set lo up
HOST=gureum
KEYS=/run/gureum/public_keys
USER_DATA=/run/gureum/user_data
: > "$KEYS"

json_string() {  # json_string KEY FILE: the first string value of KEY
    sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1
}

read_config_drive() {
    device=$(findfs LABEL=config-2 2>/dev/null) || return 1
    mount -t iso9660 -o ro "$device" /mnt/config || return 1
    meta=/mnt/config/openstack/latest/meta_data.json
    [ -f "$meta" ] || { umount /mnt/config; return 1; }
    name=$(json_string hostname "$meta")
    [ -n "$name" ] && HOST=${name%%.*}
    # The values of the public_keys object are OpenSSH lines; JSON may end them with \n.
    sed -n 's/.*"public_keys": *{\([^}]*\)}.*/\1/p' "$meta" \
        | grep -oE '"(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [^"]+"' \
        | tr -d '"' | sed 's/\\n$//' > "$KEYS"
    # A config drive that lists no networks means there is nothing to ask DHCP.
    grep -qE '"networks": *\[\]' /mnt/config/openstack/latest/network_data.json 2>/dev/null && NO_NETWORKS=yes
    [ -f /mnt/config/openstack/latest/user_data ] && cp /mnt/config/openstack/latest/user_data "$USER_DATA"
    umount /mnt/config
    say "read config drive $device"
}

metadata_get() {  # busybox wget -T segfaults: bound it with timeout instead
    timeout 5 wget -q -O "$2" "http://169.254.169.254/$1" 2>/dev/null
}

read_metadata_service() {
    tries=0
    until metadata_get latest/meta-data/instance-id /run/gureum/instance-id; do
        tries=$((tries + 1))
        [ "$tries" -ge 5 ] && { say "no metadata service"; return 1; }
        sleep 1
    done
    metadata_get latest/meta-data/hostname /run/gureum/hostname && HOST=$(cut -d. -f1 /run/gureum/hostname)
    metadata_get latest/meta-data/public-keys/0/openssh-key "$KEYS" || : > "$KEYS"
    metadata_get latest/user-data "$USER_DATA" || rm -f "$USER_DATA"
    say "read metadata service"
}

ipv4_address() {
    ip -4 -o addr show dev eth0 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n 1
}

say "init started"
read_config_drive && HAVE_CONFIG=yes
hostname "$HOST"

for path in /sys/class/net/eth*; do
    [ -e "$path" ] && ip link set "${path##*/}" up
done
if [ -e /sys/class/net/eth0 ] && [ -z "$NO_NETWORKS" ]; then
    # -b: a guest without DHCP still boots; option 121 and MTU only when asked for.
    udhcpc -i eth0 -b -t 4 -T 1 -A 5 -O staticroutes -O mtu -x "hostname:$HOST" \
        -s /etc/udhcpc/default.script -p /run/udhcpc.eth0.pid
fi
IP=$(ipv4_address)
if [ -z "$HAVE_CONFIG" ] && [ -n "$IP" ]; then
    read_metadata_service
    hostname "$HOST"
fi
echo "127.0.0.1 localhost" > /etc/hosts
echo "127.0.1.1 $HOST" >> /etc/hosts

# One key per line, each ending in a newline (the metadata service may send none).
keys=$(cat "$KEYS")
printf '%s\n' "$keys" | grep -v '^$' > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key > /dev/null 2>&1
# -s: keys only, never passwords.
dropbear -s -r /etc/dropbear/dropbear_ed25519_host_key -P /run/dropbear.pid
echo "-----BEGIN SSH HOST KEY KEYS-----" > /dev/console
dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key | grep '^ssh-' > /dev/console
echo "-----END SSH HOST KEY KEYS-----" > /dev/console

if [ -s "$USER_DATA" ] && [ "$(head -c 2 "$USER_DATA")" = "#!" ]; then
    chmod 700 "$USER_DATA"
    ( "$USER_DATA" 2>&1 | tee /var/log/user-data.log > /dev/console
      say "user data finished" ) &
fi

if [ -n "$IP" ]; then
    reach="ssh root@$IP"
else
    reach="no IPv4 address"
fi
echo "gureum guest $HOST up, $reach (keys: $(grep -c . /root/.ssh/authorized_keys))" > /dev/console
"""

RC_K = r"""#!/bin/sh
# gureum guest, shutdown: run by busybox init before it stops everything.
echo "gureum guest: shutting down" > /dev/console
[ -f /run/dropbear.pid ] && kill "$(cat /run/dropbear.pid)"
sync
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc calls this with $1 = deconfig|bound|renew|leasefail|nak, details in env.
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    rm -f "/run/udhcpc.$interface.addr"
    ip link set dev "$interface" up
    ;;
bound|renew)
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    # Only touch the address when it changed: a flush would cut ssh sessions.
    if [ "$(cat "/run/udhcpc.$interface.addr" 2>/dev/null)" != "$ip/$mask" ]; then
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/$mask" ${broadcast:+broadcast "$broadcast"} dev "$interface"
        echo "$ip/$mask" > "/run/udhcpc.$interface.addr"
        echo "gureum guest: $interface has address $ip/$mask" > /dev/console
    fi
    if [ -n "$staticroutes" ]; then
        # RFC 3442: with classless static routes the router option is ignored.
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$2" = 0.0.0.0 ]; then
                ip route replace "$1" dev "$interface"
            else
                ip route replace "$1" via "$2" dev "$interface"
            fi
            shift 2
        done
    elif [ -n "$router" ]; then
        set -- $router
        ip route replace default via "$1" dev "$interface"
    fi
    if [ -n "$dns" ]; then
        {
            [ -n "$domain" ] && echo "search $domain"
            for server in $dns; do echo "nameserver $server"; done
        } > /etc/resolv.conf
    fi
    ;;
esac
exit 0
"""

# busybox acpid runs <confdir>/<event>; PWRF/00000080 is the power button.
ACPI_POWER_BUTTON = r"""#!/bin/sh
echo "gureum guest: power button pressed, powering off" > /dev/console
exec poweroff
"""

PROFILE = r"""export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
PS1='\u@\h:\w\$ '
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
# '*' is not a blank password: dropbear refuses keys for blank-password accounts.
SHADOW = "root:*:19000:0:99999:7:::\n"
GROUP = "root:x:0:\ntty:x:5:\n"
SHELLS = "/bin/sh\n/bin/ash\n"
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"

#!/usr/bin/env bash
# A bootable Debian qcow2 base image for the libvirt apply test (the
# `libvirt` stage of scripts/test-all.sh), built offline from Debian's
# archive and cached on the machine between runs.
#
#   scripts/vm-image.sh [RELEASE]   build or reuse; prints the image's path
#                                   (RELEASE: trixie (default) or bookworm)
#
# What is in it: Debian's cloud kernel, BIOS GRUB in the disk's MBR (one
# ext4 partition), systemd with systemd-networkd and netplan (cloud-init's
# network renderer on Debian 13's cloud images) and systemd-resolved (the
# network config's resolvers take effect; without it /etc/resolv.conf is
# the build host's, and the user-data's offline `apt-get update` waited
# 2 minutes per VM on DNS timeouts instead of failing at once), cloud-init with the NoCloud
# datasource first (libvirt_cloudinit_disk's ISO), openssh-server and sudo
# (cloud-init's default user `debian` gets the spec's ssh keys), and the
# cluster's packages preinstalled: rabbitmq-server, haproxy, keepalived,
# iproute2. The VMs reach nothing outside the libvirt network, so the
# rendered user-data's `packages:` must find them installed: cloud-init's
# `apt-get install` of an installed package is a no-op. Their services are
# disabled, as on a freshly installed package under the user-data's
# policy-rc.d: runcmd starts them once the configuration is written.
#
# The cache key is the release, the package list and the recipe version:
# /var/cache/rmqgen/images/<release>-<key>.qcow2. A cold build takes a few
# minutes (mmdebstrap into a directory, mke2fs -d into a partitioned raw
# disk, GRUB's images written in place, qemu-img convert); every step's
# time is printed.
#
#   $RMQGEN_IMAGE_CACHE    cache directory (default /var/cache/rmqgen/images)
#   $RMQGEN_DEBIAN_MIRROR  Debian archive (default http://deb.debian.org/debian)
#
# Needs root, mmdebstrap, sfdisk, mke2fs and qemu-img (qemu-utils). No loop
# device and no mount: the work directory is removed on every exit path.
set -euo pipefail

cache="${RMQGEN_IMAGE_CACHE:-/var/cache/rmqgen/images}"
mirror="${RMQGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${mirror%/debian}/debian-security"
release="${1:-trixie}"

# Changing how the image is made changes the key too.
recipe_version=3
include=(
    # boot
    systemd-sysv udev linux-image-cloud-amd64 grub-pc-bin initramfs-tools e2fsprogs
    # first boot
    cloud-init cloud-guest-utils netplan.io systemd-resolved openssh-server sudo ca-certificates
    # the cluster
    rabbitmq-server haproxy keepalived iproute2 procps util-linux
)
disk_gib=4

die() {
    printf 'vm-image: %s\n' "$*" >&2
    exit 2
}

case "$release" in
    bookworm | trixie) ;;
    *) die "unknown release '$release' (bookworm or trixie)" ;;
esac
[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap's root mode, chroot)"
for t in mmdebstrap sfdisk qemu-img mkfs.ext4; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install mmdebstrap fdisk qemu-utils e2fsprogs)"
done

key="$(printf 'recipe %s\nrelease %s\ndisk %s\n%s\n' "$recipe_version" "$release" "$disk_gib" \
    "$(printf '%s\n' "${include[@]}" | sort)" | sha256sum | cut -c1-16)"
image="$cache/$release-$key.qcow2"
mkdir -p "$cache"
# Two runs asking for the same image: one builds.
exec 9>"$cache/.$release.lock"
flock 9
if [ -s "$image" ]; then
    printf 'vm-image: %s: cached %s\n' "$release" "$image" >&2
    printf '%s\n' "$image"
    exit 0
fi

work="$(mktemp -d "$cache/.build-$release.XXXXXX")"
[ -n "$work" ] && [ -d "$work" ] || die "no work directory"
root="$work/root"
cleanup() {
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

total_start=$SECONDS
step_start=$SECONDS
step() {
    printf 'vm-image: %-30s %4d s\n' "$1" $((SECONDS - step_start)) >&2
    step_start=$SECONDS
}

# The root filesystem, as a directory.
srcs=("deb $mirror $release main" "deb $mirror $release-updates main"
    "deb $security $release-security main")
inc="$(
    IFS=,
    printf '%s' "${include[*]}"
)"
mmdebstrap --quiet --mode=root --variant=minbase --include="$inc" \
    "$release" "$root" "${srcs[@]}" >&2 || die "$release: mmdebstrap failed"
[ -x "$root/usr/bin/cloud-init" ] || die "$release: no cloud-init in $root"
step "mmdebstrap $release"

# Configuration a cloud image has.
uuid="$(cat /proc/sys/kernel/random/uuid)"
printf 'UUID=%s / ext4 defaults,errors=remount-ro 0 1\n' "$uuid" >"$root/etc/fstab"
printf 'localhost\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# NoCloud first: libvirt_cloudinit_disk's ISO (label cidata); no probing
# of cloud metadata services that are not there.
# The locale the tree has (minbase generates none): cloud-init's default,
# en_US.UTF-8, fails its locale module (update-locale exits 255).
printf '%s\n' '# rmqgen scripts/vm-image.sh: a local libvirt image seeded by a NoCloud ISO.' \
    'datasource_list: [NoCloud, None]' 'locale: C.UTF-8' >"$root/etc/cloud/cloud.cfg.d/90-rmqgen-image.cfg"
# netplan's networkd backend; the cluster's services start from runcmd,
# once the user-data has configured them.
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$root" systemctl disable rabbitmq-server.service haproxy.service keepalived.service >/dev/null 2>&1
chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' \
    rabbitmq-server erlang-base haproxy keepalived cloud-init linux-image-cloud-amd64 systemd \
    >"$work/versions"
# A clean first boot: no machine id, no apt lists, no cloud-init state.
: >"$root/etc/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/lib/cloud/*

# BIOS GRUB without grub-install (which needs partition devices; loop
# devices here get none): GRUB's boot.img in the MBR reads core.img from
# sector 1 on (its default blocklist), whose built-in prefix is the first
# partition's /boot/grub; the modules and a fixed grub.cfg live there. The
# kernel and initrd are Debian's /vmlinuz and /initrd.img links.
grub=usr/lib/grub/i386-pc
mkdir -p "$root/boot/grub/i386-pc"
cp "$root/$grub"/*.mod "$root/$grub"/*.lst "$root/boot/grub/i386-pc/"
chroot "$root" grub-mkimage -O i386-pc -o /boot/grub/i386-pc/core.img \
    -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2
cat >"$root/boot/grub/grub.cfg" <<GRUB
# rmqgen scripts/vm-image.sh
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=0
search --no-floppy --fs-uuid --set=root $uuid
linux /vmlinuz root=UUID=$uuid ro console=tty0 console=ttyS0,115200n8
initrd /initrd.img
boot
GRUB
[ -e "$root/vmlinuz" ] && [ -e "$root/initrd.img" ] || die "no /vmlinuz or /initrd.img in the tree"
step "configuration and GRUB"

# The disk: an MBR with one bootable partition from 1 MiB, its ext4
# filesystem made from the tree in place (mke2fs -d: no loop device).
raw="$work/disk.raw"
truncate -s "${disk_gib}G" "$raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$raw"
part_kib=$((disk_gib * 1024 * 1024 - 1024))
mkfs.ext4 -q -F -L rootfs -U "$uuid" -E offset=1048576 -d "$root" "$raw" "${part_kib}k"
dd if="$root/$grub/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
core="$root/boot/grub/i386-pc/core.img"
[ "$(stat -c %s "$core")" -lt $((2047 * 512)) ] || die "core.img does not fit before the partition"
dd if="$core" of="$raw" bs=512 seek=1 conv=notrunc status=none
step "disk (mke2fs -d, MBR)"

qemu-img convert -f raw -O qcow2 "$raw" "$work/image.qcow2"
mv "$work/versions" "${image%.qcow2}.versions"
mv "$work/image.qcow2" "$image"
step "qemu-img convert"
printf 'vm-image: %s: built %s in %d s (%s; %s)\n' "$release" "$image" $((SECONDS - total_start)) \
    "$(du -h "$image" | cut -f1)" "$(tr '\n' ',' <"${image%.qcow2}.versions" | sed 's/,$//; s/,/, /g')" >&2
# One image per release: the others are stale.
for old in "$cache/$release"-*.qcow2; do
    [ "$old" = "$image" ] || [ ! -e "$old" ] || {
        printf 'vm-image: %s: removing the stale %s\n' "$release" "$old" >&2
        rm -f "$old" "${old%.qcow2}.versions"
    }
done
printf '%s\n' "$image"

"""A Linux guest for the ``linux-guest`` target: an initramfs built at run time from Debian's
kernel modules and busybox-static, and QEMU booting it with our device behind vhost-user."""

"""virtio-net (spec/net.md): the data path under interleaving and its known-bad variants."""

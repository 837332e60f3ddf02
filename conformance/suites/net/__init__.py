"""Cases of the network device (spec/net.md)."""

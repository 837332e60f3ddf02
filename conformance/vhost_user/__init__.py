"""vhost-user back-ends as targets: the front-end link, the peer process, our own back-end,
verdicts."""

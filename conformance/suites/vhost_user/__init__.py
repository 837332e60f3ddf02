"""Cases against vhost-user back-ends: an honest baseline and hostile drivers."""

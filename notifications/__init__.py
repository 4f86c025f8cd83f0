"""What Certamen tells people by e-mail (and, later, webhooks): the transport here, the notices on top of it."""

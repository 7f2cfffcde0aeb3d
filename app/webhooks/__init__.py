"""Shop webhooks: a small ASGI receiver whose hooks only poke the schedule (issue 15)."""

"""Pages (connect, landing, simulator phone), static assets and the WebSocket hub."""

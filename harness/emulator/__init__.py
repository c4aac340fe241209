"""The emulated GDN / Pulsar WebSocket endpoint: a sans-I/O broker core and an aiohttp server around it."""

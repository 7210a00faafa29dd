"""HTTP and websocket API, auth, settings, error mapping and the command-line entry point."""

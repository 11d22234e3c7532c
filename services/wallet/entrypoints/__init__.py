"""The wallet's entrypoints: HTTP routes, the CLI's wallet commands, background loops."""

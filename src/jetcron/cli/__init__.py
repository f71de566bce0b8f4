"""The `jetcron` command line."""

"""`python -m jetcron` is the `jetcron` command."""

from jetcron.cli.main import main

main()

"""The taxi TFX pipeline: configuration, definition, local runner and CLI."""

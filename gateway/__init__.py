"""The AI Admin process: settings, wiring, lifecycle, storage, CLI."""

__version__ = "0.1.0"

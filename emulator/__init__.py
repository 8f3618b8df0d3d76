"""The embedded AWS: moto's server plus the runtimes and knobs moto lacks (see ARCHITECTURE.md)."""

"""runplane: a serverless control plane for AI-agent runs."""

__version__ = "0.1.0"

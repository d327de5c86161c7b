"""Functions (tools) a run may call: their definitions, the standard library, and the targets."""

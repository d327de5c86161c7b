"""Lambda entry points. Each stays thin: parse, call the logic, shape the response."""

"""AWS adapters behind the interfaces in ``runplane.ports``."""

"""Business logic: no boto3, no HTTP; adapters come in through ``runplane.ports``."""

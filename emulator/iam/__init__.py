"""IAM as AWS applies it: temporary role credentials from the emulator's STS, and requests signed with them
authorized against the role's policies."""

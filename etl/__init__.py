"""`etl`: the operator CLI, against the emulator or a real AWS account alike."""

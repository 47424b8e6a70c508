"""The allocator's bookkeeping: ingress published ports and overlay addresses."""

"""Healthcare Tasks: imaging diagnosis."""

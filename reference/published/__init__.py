"""Published numbers that results are compared with, each module with its source."""

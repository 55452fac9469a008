"""Coverage-guided fuzz harnesses (atheris); see README.md."""

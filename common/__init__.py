"""Small shared utilities: atomic output writing, the suite's input error, and the rule-script runner."""
